"""One Monte Carlo replica of a training run over wall-clock time.

The job alternates between training phases and recoveries. A training phase
starts right after a restore (or at time 0) and is periodic: ``interval_s``
of training, then ``stall_s`` of checkpointing, again and again, so it is
advanced in closed form up to the next failure, the horizon, the target or a
planned grow-back; only failures cost Python work, never checkpoints.

Recovery after a failure: detection -> (waiting for repair) -> restart ->
restore -> training. Failures arriving during detection join the same
recovery (they are counted and take their nodes out of service); during a
restart they start the recovery over if ``restart_can_fail``, otherwise they
are dropped; during a restore they always start it over; while waiting for
repair the job is not running and arrivals are dropped.

Progress is kept in full-job-equivalent training seconds ``W`` (an elastic
job running at speed f < 1 gains f per second) and in wall training seconds
``Wt``. Usable checkpoints, per mode:

* sync: a checkpoint is usable when its stall ends.
* async: snapshot k ends at s_k and is usable from s_k + persist_s. If
  persisting takes longer than the interval the next snapshot waits (training
  goes on), so the cycle is max(interval, persist) + stall.
* in-memory: usable in peers' memory when its stall ends; every
  ``persist_every``-th one of a training phase is also usable on storage
  persist_s later. A shard is lost when all ``in_memory_copies`` nodes of its
  group fail within one recovery; then the job restores from storage.
  Job-level failures (software) keep the copies (a node-local agent holds them).

Wasted job-seconds by cause add up with ``W`` to the wall time exactly.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable

from .costs import CheckpointCosts
from .failures import FailureStream

CATEGORIES = ("lost_work", "detection", "waiting_for_repair", "restart", "restore",
              "checkpoint_stall", "elastic_slowdown")
MAX_SPANS = 200_000


@dataclass(frozen=True)
class Plan:
    """Everything a replica needs, resolved and in seconds.

    ``speed(active_gpus)``: throughput of the shrunk job relative to the full
    job; ``gpus_per_lost_node``: GPUs an elastic job gives up per missing node;
    ``min_gpus``: the smallest job that can still train.
    """

    gpus: int
    nodes: int
    horizon_s: float
    target_w_s: float
    costs: CheckpointCosts
    detection_s: float
    restart_s: float
    restart_can_fail: bool
    blast_node: tuple[bool, ...]
    repair_s: tuple[float, ...]
    scales: tuple[bool, ...]
    spare_nodes: int
    elastic: bool
    gpus_per_lost_node: int
    min_gpus: int
    speed: Callable[[int], float]


def run_replica(p: Plan, stream: FailureStream, record: bool) -> dict:
    """Simulate one replica; returns totals (seconds) and, if ``record``, spans."""
    c = p.costs
    tau = max(c.interval_s, c.persist_s) if c.mode == "async" else c.interval_s
    a, P, pe, mode = c.stall_s, c.persist_s, c.persist_every, c.mode
    cyc = tau + a
    H, gpus = p.horizon_s, p.gpus
    ft, fs, fu, fv = [], [], [], []
    st = dict(i=0, t_end=0.0)
    waste = dict.fromkeys(CATEGORIES, 0.0)
    by_src = [0] * len(p.blast_node)
    spans = [] if record else None

    def rec(name, cat, start, dur):
        if spans is not None and len(spans) < MAX_SPANS:
            spans.append((name, cat, start, dur))

    def refill():
        while st["i"] >= len(ft):
            if st["t_end"] >= H:
                return False
            blk = stream.next_block()
            st["t_end"] += stream.block_s
            ft.extend(blk[0]); fs.extend(blk[1]); fu.extend(blk[2]); fv.extend(blk[3])
        return True

    def next_strike(limit, active):
        """Index of the next arrival before ``limit`` that hits a job of ``active`` GPUs."""
        frac = active / gpus
        while st["i"] < len(ft) or refill():
            j = st["i"]
            if ft[j] >= limit:
                return -1
            if frac >= 1.0 or not p.scales[fs[j]] or fu[j] < frac:
                return j
            st["i"] = j + 1
        return -1

    def drop_before(limit):
        while (st["i"] < len(ft) or refill()) and ft[st["i"]] < limit:
            st["i"] += 1

    t = W = Wt = ckW = ckWt = stW = stWt = 0.0
    active, missing, free, repairs = gpus, 0, p.spare_nodes, []
    f, n_fail, groups, mem_lost = 1.0, 0, {}, False

    def strike(j, now):
        """Count arrival j at ``now``; take its node out of service. True if shards were lost."""
        nonlocal n_fail, missing
        st["i"] = j + 1
        n_fail += 1
        src = fs[j]
        by_src[src] += 1
        rec("failure", "failure", now, 0.0)
        if not p.blast_node[src]:
            return False
        missing += 1
        heapq.heappush(repairs, now + p.repair_s[src])
        if mode != "in-memory":
            return False
        node = min(int(fv[j] * p.nodes), p.nodes - 1)
        hit = groups.setdefault(node // c.in_memory_copies, set())
        hit.add(node)
        return len(hit) >= c.in_memory_copies

    done = False
    while not done:
        # ---- training phase: periodic train/checkpoint cycles from t ----
        t0, W0, Wt0 = t, W, Wt
        end, reason = H, "horizon"
        if p.target_w_s < math.inf:
            need = max(p.target_w_s - W0, 0.0) / f
            k = max(math.ceil(need / tau) - 1, 0)
            t_cross = t0 + k * cyc + (need - k * tau)
            if t_cross <= end:
                end, reason = t_cross, "target"
        n_regrow = 0
        if missing:
            while repairs and repairs[0] <= t0:
                heapq.heappop(repairs)
                free += 1
            t_rep = t0 if free else (repairs[0] if repairs else math.inf)
            if t_rep < math.inf:
                n_regrow = max(1, math.ceil((t_rep - t0) / cyc))
                if t0 + n_regrow * cyc < end:
                    end, reason = t0 + n_regrow * cyc, "regrow"
        j = next_strike(end, active)
        if j >= 0:
            end, reason = ft[j], "failure"
        if reason == "regrow":
            n, rem = n_regrow, 0.0
        else:
            n = int((end - t0) // cyc)
            rem = (end - t0) - n * cyc
        train = n * tau + min(rem, tau)
        W, Wt = W0 + f * train, Wt0 + train
        waste["elastic_slowdown"] += (1.0 - f) * train
        waste["checkpoint_stall"] += n * a + max(rem - tau, 0.0)
        if spans is not None:
            for q in range(min(n, MAX_SPANS)):
                rec("train", "training", t0 + q * cyc, tau)
                rec("checkpoint", "checkpoint", t0 + q * cyc + tau, a)
            if rem > 0:
                rec("train", "training", t0 + n * cyc, min(rem, tau))
                if rem > tau:
                    rec("checkpoint", "checkpoint", t0 + n * cyc + tau, rem - tau)
        t = end
        if reason in ("horizon", "target"):
            break
        # usable checkpoints at time t, n snapshots into this phase
        k = n
        if mode == "async" and n and t0 + n * cyc + P > t:
            if reason == "regrow":      # wait for the persist before stopping
                j = next_strike(t0 + n * cyc + P, active)
                stop = ft[j] if j >= 0 else min(t0 + n * cyc + P, H)
                waste["checkpoint_stall"] += stop - t
                rec("persist wait", "checkpoint", t, stop - t)
                t = stop
                if j < 0 and t >= H:
                    break
                if j < 0:
                    reason = "regrow-ready"
                else:
                    reason, k = "failure", n - 1
            else:
                k = n - 1
        if k:
            ckW, ckWt = W0 + f * k * tau, Wt0 + k * tau
            if mode != "in-memory":
                stW, stWt = ckW, ckWt
        if mode == "in-memory" and n:
            m = (n // pe) * pe
            while m > 0 and t0 + m * cyc + P > t:
                m -= pe
            if m > 0:
                stW, stWt = W0 + f * m * tau, Wt0 + m * tau
        waste["lost_work"] += W - ckW
        W, Wt = ckW, ckWt
        groups, mem_lost = {}, False
        planned = reason != "failure"
        if not planned:
            mem_lost = strike(j, t)
        # ---- recovery: detection, repair wait, restart, restore ----
        while True:
            if not planned:
                td = min(t + p.detection_s, H)
                while (j := next_strike(td, active)) >= 0:
                    mem_lost = strike(j, ft[j]) or mem_lost
                waste["detection"] += td - t
                rec("detection", "detection", t, td - t)
                t = td
                if t >= H:
                    done = True
                    break
            planned = False
            while missing:
                while repairs and repairs[0] <= t:
                    heapq.heappop(repairs)
                    free += 1
                take = min(free, missing)
                free, missing = free - take, missing - take
                if not missing or (p.elastic and gpus - missing * p.gpus_per_lost_node
                                   >= p.min_gpus):
                    break
                tw = min(repairs[0], H)
                waste["waiting_for_repair"] += tw - t
                rec("waiting for repair", "waiting_for_repair", t, tw - t)
                t = tw
                drop_before(t)
                if t >= H:
                    done = True
                    break
            if done:
                break
            if mem_lost and W > stW:     # every copy of a shard is gone: use storage
                waste["lost_work"] += W - stW
                W, Wt = ckW, ckWt = stW, stWt
            active = gpus - missing * p.gpus_per_lost_node
            f = p.speed(active)
            stages = (("restart", p.restart_s, p.restart_can_fail),
                      ("restore", c.memory_restore_s if mode == "in-memory" and not mem_lost
                       else c.restore_s, True))
            failed = False
            for name, dur, can_fail in stages:
                stop = min(t + dur, H)
                j = next_strike(stop, active) if can_fail else -1
                if not can_fail:
                    drop_before(stop)
                if j >= 0:
                    stop = ft[j]
                waste[name] += stop - t
                rec(name, name, t, stop - t)
                t = stop
                if j >= 0:
                    mem_lost = strike(j, t) or mem_lost
                    failed = True
                    break
                if t >= H:
                    done = True
                    break
            if done or not failed:
                break
    return dict(wall_s=t, useful_s=W, productive_s=Wt, failures=n_fail,
                reached=(p.target_w_s < math.inf and W >= p.target_w_s * (1 - 1e-12)),
                by_source=by_src, spans=spans, **{k: v for k, v in waste.items()})
