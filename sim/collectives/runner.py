"""Running a collective's flow phases on the network."""
from __future__ import annotations

from sim.collectives.base import TopologyView
from sim.collectives.registry import choose
from sim.network.flows import FlowNetwork


def collective_phases(op: str, nbytes: float, instances: list[list[int]],
                      topo: TopologyView, algorithm: str | None = None):
    """Per phase index, the flows of every instance (concurrent groups run in lock step)."""
    merged: list[tuple[list, int]] = []
    for gpus in instances:
        algo = choose(op, nbytes, gpus, topo, algorithm)
        for i, phase in enumerate(algo.phases(op, nbytes, gpus, topo)):
            if i == len(merged):
                merged.append(([], 0))
            flows, steps = merged[i]
            flows.extend(phase.flows)
            merged[i] = (flows, max(steps, phase.steps))
    return merged


def run_collective(net: FlowNetwork, topo: TopologyView, op: str, nbytes: float,
                   instances: list[list[int]], algorithm: str | None = None):
    """SimPy process body: run ``op`` on every member list of ``instances`` at once.

    Every phase waits ``steps`` times the longest path latency of its flows,
    then moves its bytes under max-min sharing with all other traffic.
    """
    for flows, steps in collective_phases(op, nbytes, instances, topo, algorithm):
        pairs = [(a, b) for a, b, _ in flows]
        sizes = [s for _, _, s in flows]
        yield net.transfer(pairs, sizes, latency="max", latency_scale=steps)
