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

import numpy as np

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


class _Arrivals:
    """Failure arrivals of one replica, drawn block by block up to the horizon,
    with a cursor: ``times``, ``source``, ``u_keep``, ``u_node`` per arrival."""

    def __init__(self, stream: FailureStream, horizon_s: float):
        self.stream = stream
        self.horizon_s = horizon_s
        self.times: list[float] = []
        self.source: list[int] = []
        self.u_keep: list[float] = []
        self.u_node: list[float] = []
        self.i = 0
        self._drawn_to_s = 0.0

    def _available(self) -> bool:
        """True if arrival ``i`` exists (drawing blocks as needed)."""
        while self.i >= len(self.times):
            if self._drawn_to_s >= self.horizon_s:
                return False
            blk = self.stream.next_block()
            self._drawn_to_s += self.stream.block_s
            self.times.extend(blk[0])
            self.source.extend(blk[1])
            self.u_keep.extend(blk[2])
            self.u_node.extend(blk[3])
        return True

    def next_strike(self, limit: float, job_fraction: float, scales) -> int:
        """Index of the next arrival before ``limit`` that hits a job running on
        ``job_fraction`` of its GPUs (-1 if none); skips the ones that miss it."""
        while self.i < len(self.times) or self._available():
            j = self.i
            if self.times[j] >= limit:
                return -1
            if job_fraction >= 1.0 or not scales[self.source[j]] or \
                    self.u_keep[j] < job_fraction:
                return j
            self.i = j + 1
        return -1

    def drop_before(self, limit: float) -> None:
        """Skip every arrival before ``limit`` (the job is not running)."""
        while (self.i < len(self.times) or self._available()) and self.times[self.i] < limit:
            self.i += 1


class Replica:
    """One replica's state machine (see the module docstring).

    State: the clock ``t``; progress ``W`` (full-job-equivalent training
    seconds) and ``Wt`` (wall training seconds); the last usable checkpoint
    ``ck`` and the last one on storage ``stored`` as (W, Wt); the job's shape
    (missing nodes, free spares, pending repairs, speed ``f``); waste by
    cause. :meth:`run` alternates :meth:`train` and :meth:`recover`.
    """

    def __init__(self, plan: Plan, stream: FailureStream, record: bool):
        c = plan.costs
        self.p, self.c = plan, c
        self.tau = max(c.interval_s, c.persist_s) if c.mode == "async" else c.interval_s
        self.cyc = self.tau + c.stall_s
        self.arrivals = _Arrivals(stream, plan.horizon_s)
        self.waste = dict.fromkeys(CATEGORIES, 0.0)
        self.by_source = [0] * len(plan.blast_node)
        self.spans: list | None = [] if record else None
        self.t = self.W = self.Wt = 0.0
        self.ck = (0.0, 0.0)
        self.stored = (0.0, 0.0)
        self.active, self.missing, self.free = plan.gpus, 0, plan.spare_nodes
        self.repairs: list[float] = []
        self.f, self.failures = 1.0, 0
        self.groups: dict[int, set] = {}
        self.mem_lost = False

    # -- helpers ---------------------------------------------------------------
    def record(self, name: str, category: str, start: float, duration: float) -> None:
        if self.spans is not None and len(self.spans) < MAX_SPANS:
            self.spans.append((name, category, start, duration))

    def next_strike(self, limit: float) -> int:
        return self.arrivals.next_strike(limit, self.active / self.p.gpus, self.p.scales)

    def spend(self, category: str, until: float) -> None:
        """Spend wall time up to ``until`` on ``category`` (recorded as one span)."""
        self.waste[category] += until - self.t
        if self.spans is not None:
            self.record(category.replace("_", " "), category, self.t, until - self.t)
        self.t = until

    def strike(self, j: int, now: float) -> None:
        """Count arrival j at ``now``; take its node out of service; note lost shards."""
        p, c, arr = self.p, self.c, self.arrivals
        arr.i = j + 1
        self.failures += 1
        src = arr.source[j]
        self.by_source[src] += 1
        if self.spans is not None:
            self.record("failure", "failure", now, 0.0)
        if not p.blast_node[src]:
            return
        self.missing += 1
        heapq.heappush(self.repairs, now + p.repair_s[src])
        if c.mode != "in-memory":
            return
        node = min(int(arr.u_node[j] * p.nodes), p.nodes - 1)
        hit = self.groups.setdefault(node // c.in_memory_copies, set())
        hit.add(node)
        if len(hit) >= c.in_memory_copies:
            self.mem_lost = True

    def collect_repairs(self, now: float) -> None:
        while self.repairs and self.repairs[0] <= now:
            heapq.heappop(self.repairs)
            self.free += 1

    # -- the run ---------------------------------------------------------------
    def run(self) -> dict:
        p = self.p
        while True:
            reason, j, t0, W0, Wt0, n = self.train()
            if reason in ("horizon", "target"):
                break
            reason, j, k, stop = self.usable_checkpoints(reason, j, t0, n)
            if stop:
                break
            self.roll_back(W0, Wt0, t0, n, k)
            if reason == "failure":
                self.strike(j, self.t)
            if self.recover(planned=reason != "failure"):
                break
        return dict(wall_s=self.t, useful_s=self.W, productive_s=self.Wt,
                    failures=self.failures,
                    reached=(p.target_w_s < math.inf and self.W >= p.target_w_s * (1 - 1e-12)),
                    by_source=self.by_source, spans=self.spans, **self.waste)

    def train(self):
        """Periodic train/checkpoint cycles from ``t`` to the next failure, the
        horizon, the target or a planned grow-back, advanced in closed form.
        Returns (reason, arrival index, t0, W0, Wt0, full cycles n)."""
        p, tau, cyc, a = self.p, self.tau, self.cyc, self.c.stall_s
        t0, W0, Wt0, f = self.t, self.W, self.Wt, self.f
        end, reason = p.horizon_s, "horizon"
        if p.target_w_s < math.inf:
            need = max(p.target_w_s - W0, 0.0) / f
            k = max(math.ceil(need / tau) - 1, 0)
            t_cross = t0 + k * cyc + (need - k * tau)
            if t_cross <= end:
                end, reason = t_cross, "target"
        n_regrow = 0
        if self.missing:
            self.collect_repairs(t0)
            t_rep = t0 if self.free else (self.repairs[0] if self.repairs else math.inf)
            if t_rep < math.inf:
                n_regrow = max(1, math.ceil((t_rep - t0) / cyc))
                if t0 + n_regrow * cyc < end:
                    end, reason = t0 + n_regrow * cyc, "regrow"
        j = self.next_strike(end)
        if j >= 0:
            end, reason = self.arrivals.times[j], "failure"
        if reason == "regrow":
            n, rem = n_regrow, 0.0
        else:
            n = int((end - t0) // cyc)
            rem = (end - t0) - n * cyc
        train = n * tau + min(rem, tau)
        self.W, self.Wt = W0 + f * train, Wt0 + train
        self.waste["elastic_slowdown"] += (1.0 - f) * train
        self.waste["checkpoint_stall"] += n * a + max(rem - tau, 0.0)
        if self.spans is not None:
            # two spans a cycle, and none once MAX_SPANS are kept
            for q in range(min(n, (MAX_SPANS - len(self.spans) + 1) // 2)):
                self.record("train", "training", t0 + q * cyc, tau)
                self.record("checkpoint", "checkpoint", t0 + q * cyc + tau, a)
            if rem > 0:
                self.record("train", "training", t0 + n * cyc, min(rem, tau))
                if rem > tau:
                    self.record("checkpoint", "checkpoint", t0 + n * cyc + tau, rem - tau)
        self.t = end
        return reason, j, t0, W0, Wt0, n

    def usable_checkpoints(self, reason: str, j: int, t0: float, n: int):
        """How many of the phase's n snapshots are usable at ``t`` (an async one
        still persisting is not; before a planned grow-back the job waits for it).
        Returns (reason, arrival index, usable snapshots k, stop the run)."""
        k = n
        c, cyc = self.c, self.cyc
        if c.mode == "async" and n and t0 + n * cyc + c.persist_s > self.t:
            if reason != "regrow":
                return reason, j, n - 1, False
            j = self.next_strike(t0 + n * cyc + c.persist_s)
            stop = self.arrivals.times[j] if j >= 0 else min(t0 + n * cyc + c.persist_s,
                                                             self.p.horizon_s)
            self.waste["checkpoint_stall"] += stop - self.t
            self.record("persist wait", "checkpoint", self.t, stop - self.t)
            self.t = stop
            if j < 0 and self.t >= self.p.horizon_s:
                return reason, j, k, True
            if j < 0:
                return "regrow-ready", j, k, False
            return "failure", j, n - 1, False
        return reason, j, k, False

    def roll_back(self, W0: float, Wt0: float, t0: float, n: int, k: int) -> None:
        """Lose the work since the last usable checkpoint (k snapshots in)."""
        c, f, tau = self.c, self.f, self.tau
        if k:
            self.ck = (W0 + f * k * tau, Wt0 + k * tau)
            if c.mode != "in-memory":
                self.stored = self.ck
        if c.mode == "in-memory" and n:
            m = (n // c.persist_every) * c.persist_every
            while m > 0 and t0 + m * self.cyc + c.persist_s > self.t:
                m -= c.persist_every
            if m > 0:
                self.stored = (W0 + f * m * tau, Wt0 + m * tau)
        self.waste["lost_work"] += self.W - self.ck[0]
        self.W, self.Wt = self.ck
        self.groups, self.mem_lost = {}, False

    def recover(self, planned: bool) -> bool:
        """Detection -> waiting for repair -> restart -> restore, started over
        by failures that may interrupt them. True when the horizon is reached."""
        while True:
            if not planned and self.detect():
                return True
            planned = False
            if self.wait_for_repair():
                return True
            if self.mem_lost and self.W > self.stored[0]:   # every copy of a shard is gone
                self.waste["lost_work"] += self.W - self.stored[0]
                self.W, self.Wt = self.ck = self.stored
            self.active = self.p.gpus - self.missing * self.p.gpus_per_lost_node
            self.f = self.p.speed(self.active)
            done, failed = self.restart_and_restore()
            if done or not failed:
                return done

    def detect(self) -> bool:
        """Failures arriving during detection join this recovery."""
        td = min(self.t + self.p.detection_s, self.p.horizon_s)
        while (j := self.next_strike(td)) >= 0:
            self.strike(j, self.arrivals.times[j])
        self.spend("detection", td)
        return self.t >= self.p.horizon_s

    def wait_for_repair(self) -> bool:
        """Replace missing nodes with spares; wait for repairs unless an elastic
        job can go on without them. True when the horizon is reached."""
        p = self.p
        while self.missing:
            self.collect_repairs(self.t)
            take = min(self.free, self.missing)
            self.free, self.missing = self.free - take, self.missing - take
            if not self.missing or (p.elastic and p.gpus - self.missing * p.gpus_per_lost_node
                                    >= p.min_gpus):
                break
            self.spend("waiting_for_repair", min(self.repairs[0], p.horizon_s))
            self.arrivals.drop_before(self.t)
            if self.t >= p.horizon_s:
                return True
        return False

    def restart_and_restore(self) -> tuple[bool, bool]:
        """(horizon reached, interrupted by a failure)."""
        p, c = self.p, self.c
        restore_s = (c.memory_restore_s if c.mode == "in-memory" and not self.mem_lost
                     else c.restore_s)
        for name, dur, can_fail in (("restart", p.restart_s, p.restart_can_fail),
                                    ("restore", restore_s, True)):
            stop = min(self.t + dur, p.horizon_s)
            j = self.next_strike(stop) if can_fail else -1
            if not can_fail:
                self.arrivals.drop_before(stop)
            if j >= 0:
                stop = self.arrivals.times[j]
            self.spend(name, stop)
            if j >= 0:
                self.strike(j, self.t)
                return False, True
            if self.t >= p.horizon_s:
                return True, False
        return False, False


def run_replica(p: Plan, stream: FailureStream, record: bool) -> dict:
    """Simulate one replica; returns totals (seconds) and, if ``record``, spans."""
    return Replica(p, stream, record).run()


def replica_streams(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """``n`` independent random streams, one per replica (``Generator.spawn``):
    replica r's draws do not depend on how many the replicas before it made,
    so replicas can run in any order or in parallel."""
    return rng.spawn(n)
