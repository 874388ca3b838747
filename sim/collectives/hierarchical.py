"""Hierarchical all-reduce: intra-host reduce-scatter, inter-host all-reduce, intra-host all-gather.

Each GPU of a host reduces 1/k of the buffer inside the host (k GPUs per
host), the k shards are all-reduced across hosts by k parallel rings (one per
local index, i.e. one per rail), and the result is all-gathered inside the
host. Needs the same number of members on every host.
"""
from __future__ import annotations

from sim.collectives.base import CollectiveAlgorithm, Phase, ring_volume


def _ring_flows(order: list[int], per_link: float) -> list[tuple[int, int, float]]:
    n = len(order)
    return [(order[i], order[(i + 1) % n], per_link) for i in range(n)] if n > 1 else []


class Hierarchical(CollectiveAlgorithm):
    name = "hierarchical"
    ops = ("all_reduce",)

    def supports(self, op, gpus, topo):
        hosts = topo.by_host(gpus)
        return op in self.ops and len({len(h) for h in hosts}) == 1

    def phases(self, op, nbytes, gpus, topo):
        hosts = [sorted(h, key=topo.local_of) for h in topo.by_host(gpus)]
        k, n_hosts = len(hosts[0]), len(hosts)
        phases = []
        if k > 1:
            vol, steps = ring_volume("reduce_scatter", nbytes, k)
            phases.append(Phase(tuple(f for h in hosts for f in _ring_flows(h, vol)), steps))
        if n_hosts > 1:
            vol, steps = ring_volume("all_reduce", nbytes / k, n_hosts)
            rails = [[h[j] for h in hosts] for j in range(k)]
            phases.append(Phase(tuple(f for r in rails for f in _ring_flows(r, vol)), steps))
        if k > 1:
            vol, steps = ring_volume("all_gather", nbytes, k)
            phases.append(Phase(tuple(f for h in hosts for f in _ring_flows(h, vol)), steps))
        return phases
