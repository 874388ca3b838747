"""Routed phases of one algorithm and protocol: sizes on the wire and latencies.

A laid-out phase waits its latency (``steps`` times the mean latency of its
hops plus the protocol's per-step overhead, once per wave of chunks; the
protocol's base latency on the first phase), then moves its bytes. Bytes are
the algorithm's flow volumes divided by the protocol's bandwidth efficiency
and multiplied by the pipeline fill (:mod:`sim.collectives.pipeline`), and
stretched where the channels and threads NCCL launches at this size cannot
push a GPU's bytes as fast as its links take them
(:mod:`sim.collectives.channels`).
"""
from __future__ import annotations

from itertools import chain

import numpy as np

from sim.collectives import pipeline
from sim.collectives.base import Phase, TopologyView
from sim.collectives.channels import Launch
from sim.collectives.protocols import Protocol
from sim.collectives.registry import ALGORITHMS
from sim.collectives.ring import Ring, merged_member_order_rings
from sim.network.routing import Router


#: Rings in member order merged with arrays (:func:`merged_member_order_rings`);
#: False merges instance by instance, the reference.
MERGE_ARRAYS = True


def merge_instances(op: str, nbytes: float, instances: list[list[int]], algorithm: str,
                    topo: TopologyView) -> list[Phase]:
    """Per phase index, the flows of every instance (concurrent groups run in lock step)."""
    algo = ALGORITHMS[algorithm]
    if MERGE_ARRAYS and type(algo) is Ring:
        merged = merged_member_order_rings(op, nbytes, instances, topo)
        if merged is not None:
            return merged
    firsts: list[Phase] = []
    flows: list[list] = []      # per phase: the flows of every instance, in order
    rest: list[list] = []       # per phase: the other instances' phases
    for gpus in instances:
        for i, ph in enumerate(algo.phases(op, nbytes, gpus, topo)):
            if i == len(firsts):
                firsts.append(ph)
                flows.append(list(ph.flows))
                rest.append([])
            else:
                flows[i].extend(ph.flows)
                rest[i].append(ph)
    merged = []
    for m, fl, others in zip(firsts, flows, rest):
        if not others:
            merged.append(m)
            continue
        merged.append(Phase(tuple(fl), max(m.steps, *(p.steps for p in others)), m.hops,
                            max(m.depth, *(p.depth for p in others)),
                            max(m.setup_s, *(p.setup_s for p in others)),
                            tuple(p.hops for p in others)))
    return merged


def phase_delay_s(router: Router, topo: TopologyView, phase: Phase, proto: Protocol,
                  flow_latency: np.ndarray) -> float:
    """Latency of one wave of a phase: its steps at the mean latency of its hops
    (of the slowest instance's hops, for instances merged in lock step)."""
    if phase.steps == 0:
        return 0.0
    if phase.hops:
        return max(phase.steps * m for m in _mean_hop_latencies_s(
            router, topo, [h for h in (phase.hops,) + phase.more_hops if h], proto))
    slowest = float(flow_latency.max()) if len(flow_latency) else 0.0
    return phase.steps * (slowest + proto.inter_step_s)


def _mean_hop_latencies_s(router: Router, topo: TopologyView, lists, proto: Protocol) -> list:
    """Mean latency plus step overhead of the hops of each list (routed together)."""
    flat = tuple(p for hops in lists for p in hops)
    hosts = topo.host_array()
    pairs = np.fromiter(chain.from_iterable(flat), np.int64, 2 * len(flat)).reshape(len(flat), 2)
    intra = hosts[pairs[:, 0]] == hosts[pairs[:, 1]]
    over = np.where(intra, proto.step_overhead_s(True), proto.step_overhead_s(False))
    total = router.routes(flat).latency + over
    sizes = {len(h) for h in lists}
    if len(sizes) == 1:             # lists of one length: row means (the same sums)
        return np.mean(total.reshape(len(lists), sizes.pop()), axis=1).tolist()
    ends = np.cumsum([len(h) for h in lists])
    return [float(np.mean(total[e - len(h):e])) for h, e in zip(lists, ends.tolist())]


def busiest_link_s(router: Router, routes, sizes: np.ndarray) -> float:
    """Idle-network time of flows ``sizes`` on ``routes``: the busiest link's
    load over its capacity."""
    if not len(sizes):
        return 0.0
    # loads of the links in use only (each summed in the same order as over all links)
    used = routes.unique_links
    per_link = np.repeat(sizes, np.diff(routes.ptr)) * routes.share
    load = np.bincount(routes.local_links(), weights=per_link, minlength=len(used))
    return float((load / router.capacity[used]).max())


def channel_stretch(router: Router, ph: Phase, routes, sizes: np.ndarray,
                    gpu_bw_bytes_per_s: float | None) -> float:
    """How much longer than its links allow a phase takes because no GPU
    pushes more than ``gpu_bw_bytes_per_s`` (its channels' threads) — 1 if
    the links are the limit."""
    if gpu_bw_bytes_per_s is None or not len(sizes):
        return 1.0
    _, src = np.unique(np.array([a for a, _, _ in ph.flows]), return_inverse=True)
    busiest_gpu = float(np.bincount(src, weights=sizes).max())
    links = busiest_link_s(router, routes, sizes)
    return max(1.0, busiest_gpu / gpu_bw_bytes_per_s / links) if links > 0 else 1.0


def lay_out(router: Router, topo: TopologyView, phases: list[Phase], proto: Protocol,
            chunking: pipeline.Chunking, launch: Launch | None = None):
    """Routed phases: (routes, sizes, counts, delay_s, wire factor) each.

    ``launch``: the channels and threads the collective runs with, and the
    data rate they bound each GPU's sends to.
    """
    gpu_bw = None
    if launch is not None and launch.gpu_bw_bytes_per_s is not None:
        gpu_bw = launch.gpu_bw_bytes_per_s / proto.bw_efficiency     # on the wire
    out = []
    for i, ph in enumerate(phases):
        routes = router.routes(tuple((a, b) for a, b, _ in ph.flows))
        raw = np.array([s for _, _, s in ph.flows], dtype=float)
        per_flow = float(raw.max()) if len(raw) else 0.0
        chunks = pipeline.chunk_count(per_flow, ph.depth, proto, chunking)
        factor = pipeline.fill_factor(ph.depth, chunks) / proto.bw_efficiency
        factor *= channel_stretch(router, ph, routes, raw * factor, gpu_bw)
        delay = pipeline.waves(chunks, chunking) * phase_delay_s(router, topo, ph, proto,
                                                                 routes.latency)
        delay += ph.setup_s
        if i == 0:
            delay += proto.base_latency_s
        out.append((routes, raw * factor, np.ones(len(raw)), delay, factor))
    return out
