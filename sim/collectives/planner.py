"""Planning a collective's flow phases on the network, and running them.

A planned phase (:func:`sim.collectives.layout.lay_out`) waits its latency,
then moves its bytes under max-min sharing with all other traffic.

The algorithm and protocol come from the request or, by default, from the
:class:`~sim.collectives.tuner.Tuner`, chosen once for all concurrent
instances (they run in lock step with one algorithm): per placement shape, and
on the merged instances when shapes disagree.
"""
from __future__ import annotations

from sim.collectives import pipeline
from sim.collectives.base import TopologyView
from sim.collectives.layout import lay_out, merge_instances
from sim.collectives.protocols import PROTOCOLS
from sim.collectives.tuner import Tuner
from sim.network.flows import FlowNetwork
from sim.network.alone import alone_duration_s


class CollectivePlanner:
    """Routed, cached flow phases of collectives: (routes, sizes, counts, delay_s) per phase.

    ``chunking`` defaults to the graph attributes ``collective_chunks`` and
    ``collective_active_chunks`` when set (e.g. from an imported system
    description), else to NCCL's chunk sizes.
    """

    def __init__(self, net: FlowNetwork, topo: TopologyView,
                 chunking: pipeline.Chunking | None = None):
        self.net = net
        self.topo = topo
        if chunking is None:
            attrs = topo.graph.graph
            chunking = pipeline.Chunking(attrs.get("collective_chunks"),
                                         attrs.get("collective_active_chunks"))
        self.chunking = chunking
        self.tuner = Tuner(net.router, topo, chunking)
        self._plans: dict = {}
        self._isolated: dict = {}

    def choice(self, op: str, nbytes: float, instances: list[list[int]],
               request: str | None = None) -> tuple[str, str]:
        """(algorithm, protocol) the collective runs with."""
        if len(instances) == 1:
            return self.tuner.choose(op, nbytes, instances[0], request)
        return self.tuner.choose_merged(op, nbytes, instances, request)

    def plan(self, op: str, nbytes: float, instances: list[list[int]],
             algorithm: str | None = None, key=None):
        key = key if key is not None else (op, nbytes, tuple(map(tuple, instances)), algorithm)
        hit = self._plans.get(key)
        if hit is not None:
            return hit
        if len(instances[0]) < 2:
            self._plans[key] = []
            return []
        algo, proto = self.choice(op, nbytes, instances, algorithm)
        phases = merge_instances(op, nbytes, instances, algo, self.topo)
        launch = self.tuner.launch(algo, proto, nbytes, instances[0])
        plan = [p[:4] for p in lay_out(self.net.router, self.topo, phases, PROTOCOLS[proto],
                                       self.chunking, launch)]
        self._plans[key] = plan
        return plan

    def isolated_time_s(self, op: str, nbytes: float, instances: list[list[int]],
                        algorithm: str | None = None, key=None) -> float:
        """Duration of the collective when no other traffic can share its links."""
        key = key if key is not None else (op, nbytes, tuple(map(tuple, instances)), algorithm)
        hit = self._isolated.get(key)
        if hit is None:
            cap = self.net.router.capacity
            hit = sum(delay + alone_duration_s(cap, r.ptr, r.flat, sizes, counts, r.share)
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
                   instances: list[list[int]], algorithm: str | None = None,
                   chunking: pipeline.Chunking | None = None):
    """SimPy process body for a one-off collective (no plan reuse across calls)."""
    yield from CollectivePlanner(net, topo, chunking).run(op, nbytes, instances, algorithm)
