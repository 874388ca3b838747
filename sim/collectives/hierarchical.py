"""Hierarchical all-reduce: intra-host reduce-scatter, inter-host all-reduce, intra-host all-gather.

Each GPU of a host reduces 1/k of the buffer inside the host (k GPUs per
host), the k shards are all-reduced across hosts by k parallel rings (one per
local index, i.e. one per rail), and the result is all-gathered inside the
host. The three phases run one after the other. Needs the same number of
members on every host.
"""
from __future__ import annotations

from sim.collectives.base import CollectiveAlgorithm, Phase, ring_flows, ring_hops, ring_volume


class Hierarchical(CollectiveAlgorithm):
    name = "hierarchical"
    ops = ("all_reduce",)

    def supports(self, op, gpus, topo):
        return super().supports(op, gpus, topo) and topo.uniform_hosts(gpus) is not None

    def phases(self, op, nbytes, gpus, topo):
        hosts = topo.uniform_hosts(gpus)
        k, n_hosts = len(hosts[0]), len(hosts)
        phases = []
        if k > 1:
            vol, steps = ring_volume("reduce_scatter", nbytes, k)
            phases.append(Phase(tuple(f for h in hosts for f in ring_flows(h, vol)), steps,
                                hops=ring_hops(hosts[0])))
        if n_hosts > 1:
            vol, steps = ring_volume("all_reduce", nbytes / k, n_hosts)
            rails = [[h[j] for h in hosts] for j in range(k)]
            phases.append(Phase(tuple(f for r in rails for f in ring_flows(r, vol)), steps,
                                hops=ring_hops(rails[0])))
        if k > 1:
            vol, steps = ring_volume("all_gather", nbytes, k)
            phases.append(Phase(tuple(f for h in hosts for f in ring_flows(h, vol)), steps,
                                hops=ring_hops(hosts[0])))
        return phases
