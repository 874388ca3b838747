"""Planning and running a collective's flow phases on the network."""
from __future__ import annotations

import numpy as np

from sim.collectives.base import TopologyView
from sim.collectives.registry import choose
from sim.network.flows import FlowNetwork
from sim.network.isolated import isolated_duration_s


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


class CollectivePlanner:
    """Routed, cached flow phases of collectives: (routes, sizes, counts, delay_s) per phase.

    A phase waits ``steps`` times the longest path latency of its flows, then
    moves its bytes under max-min sharing with all other traffic.
    """

    def __init__(self, net: FlowNetwork, topo: TopologyView):
        self.net = net
        self.topo = topo
        self._plans: dict = {}
        self._isolated: dict = {}

    def plan(self, op: str, nbytes: float, instances: list[list[int]],
             algorithm: str | None = None, key=None):
        key = key if key is not None else (op, nbytes, tuple(map(tuple, instances)), algorithm)
        hit = self._plans.get(key)
        if hit is not None:
            return hit
        phases = []
        for flows, steps in collective_phases(op, nbytes, instances, self.topo, algorithm):
            routes = self.net.router.routes(tuple((a, b) for a, b, _ in flows))
            sizes = np.array([s for _, _, s in flows], dtype=float)
            delay = float(routes.latency.max()) * steps if len(routes) else 0.0
            phases.append((routes, sizes, np.ones(len(sizes)), delay))
        self._plans[key] = phases
        return phases

    def isolated_time_s(self, op: str, nbytes: float, instances: list[list[int]],
                        algorithm: str | None = None, key=None) -> float:
        """Duration of the collective when no other traffic can share its links."""
        key = key if key is not None else (op, nbytes, tuple(map(tuple, instances)), algorithm)
        hit = self._isolated.get(key)
        if hit is None:
            cap = self.net.router.capacity
            hit = sum(delay + isolated_duration_s(cap, r.ptr, r.flat, sizes, counts, r.share)
                      for r, sizes, counts, delay in self.plan(op, nbytes, instances,
                                                               algorithm, key))
            self._isolated[key] = hit
        return hit

    def run(self, op: str, nbytes: float, instances: list[list[int]],
            algorithm: str | None = None, key=None):
        """SimPy process body: run ``op`` on every member list of ``instances`` at once."""
        for routes, sizes, counts, delay in self.plan(op, nbytes, instances, algorithm, key):
            yield self.net.send_batch(routes, sizes, counts, delay)


def run_collective(net: FlowNetwork, topo: TopologyView, op: str, nbytes: float,
                   instances: list[list[int]], algorithm: str | None = None):
    """SimPy process body for a one-off collective (no plan reuse across calls)."""
    yield from CollectivePlanner(net, topo).run(op, nbytes, instances, algorithm)
