"""The tuner: predicts every (algorithm, protocol) of a collective and picks the fastest.

As NCCL's tuner does, it predicts each candidate's time from a latency term
and a bandwidth term, here on the actual placement: the phases the algorithm
builds on the member GPUs are routed on the topology, every phase's latency is
what the planner will charge (:mod:`sim.collectives.layout`), and its
bandwidth term is the busiest link's load divided by its capacity. On an idle
network that is the max-min time whenever the flows of a phase are balanced,
which is how collectives are built; it costs one routing and one sum per
candidate instead of a simulation.
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.collectives import pipeline
from sim.collectives.base import TopologyView
from sim.collectives.channels import Launch, launch_on
from sim.collectives.layout import busiest_link_s, lay_out, merge_instances
from sim.collectives.protocols import PROTOCOLS
from sim.collectives.registry import pairs
from sim.network.routing import Router
from workloads.errors import InputError


#: Placement shapes of concurrent instances told apart with arrays
#: (:meth:`TopologyView.distinct_shapes`); False: shape by shape, the reference.
SHAPE_ARRAYS = True


@dataclass(frozen=True)
class Candidate:
    """One way to run a collective and its predicted time (seconds)."""

    algorithm: str
    protocol: str
    time_s: float
    latency_s: float
    bandwidth_s: float


class Tuner:
    """Predicts and ranks the candidates of collectives on one topology."""

    def __init__(self, router: Router, topo: TopologyView,
                 chunking: pipeline.Chunking = pipeline.DEFAULT):
        self.router = router
        self.topo = topo
        self.chunking = chunking
        self._choice: dict = {}

    def predict(self, op: str, nbytes: float, gpus: list[int], algorithm, protocol: str
                ) -> Candidate:
        """Predicted idle-network time of ``algorithm`` (object) with ``protocol`` (name)."""
        return self.predict_phases(algorithm.phases(op, nbytes, gpus, self.topo),
                                   algorithm.name, protocol,
                                   self.launch(algorithm.name, protocol, nbytes, gpus))

    def launch(self, algorithm: str, protocol: str, nbytes: float, gpus: list[int]) -> Launch:
        """Channels and threads NCCL runs the collective on ``gpus`` with."""
        return launch_on(self.topo.graph.graph, algorithm, protocol, nbytes, len(gpus),
                         len(self.topo.by_host(gpus)))

    def predict_phases(self, phases, algorithm: str, protocol: str,
                       launch: Launch | None = None) -> Candidate:
        """Predicted idle-network time of ``phases`` run with ``protocol``."""
        lat = bw = 0.0
        for routes, sizes, _, delay, _ in lay_out(self.router, self.topo, phases,
                                                  PROTOCOLS[protocol], self.chunking, launch):
            lat += delay
            bw += busiest_link_s(self.router, routes, sizes)
        return Candidate(algorithm, protocol, lat + bw, lat, bw)

    def candidates(self, op: str, nbytes: float, gpus: list[int],
                   request: str | None = None) -> list[Candidate]:
        """Every allowed candidate, fastest first; candidates whose flows the
        topology cannot route (e.g. a tree's reverse edges on a one-way ring)
        are left out."""
        cands, unroutable = [], None
        for a, p in pairs(op, gpus, self.topo, request):
            try:
                cands.append(self.predict(op, nbytes, gpus, a, p))
            except InputError as e:
                unroutable = e
        if not cands:
            raise unroutable
        return sorted(cands, key=lambda c: c.time_s)

    def choose(self, op: str, nbytes: float, gpus: list[int],
               request: str | None = None) -> tuple[str, str]:
        """(algorithm, protocol) with the least predicted time."""
        key = (op, nbytes, tuple(gpus), request)
        hit = self._choice.get(key)
        if hit is None:
            best = self.candidates(op, nbytes, gpus, request)[0]
            hit = self._choice[key] = (best.algorithm, best.protocol)
        return hit

    def choose_merged(self, op: str, nbytes: float, instances: list[list[int]],
                      request: str | None = None) -> tuple[str, str]:
        """(algorithm, protocol) for concurrent ``instances`` run in lock step.

        Instances of one placement shape (:meth:`TopologyView.shape`) have the
        same best candidate, so with one shape the first instance decides. With
        several, every shape picks its fastest candidate among those all
        shapes can run, each pick is predicted on all instances merged
        (:func:`sim.collectives.layout.merge_instances`) and the fastest wins.
        """
        at = self.topo.distinct_shapes(instances) if SHAPE_ARRAYS else None
        if at is None:
            by_shape: dict = {}
            for gpus in instances:
                by_shape.setdefault(self.topo.shape(gpus), gpus)
            firsts = list(by_shape.values())
        else:
            firsts = [instances[i] for i in at]
        if len(firsts) == 1:
            return self.choose(op, nbytes, instances[0], request)
        key = (op, nbytes, tuple(map(tuple, instances)), request)
        hit = self._choice.get(key)
        if hit is None:
            ranked = [self.candidates(op, nbytes, g, request) for g in firsts]
            common = set.intersection(*({(c.algorithm, c.protocol) for c in r} for r in ranked))
            if not common:
                raise InputError(f"no algorithm can run {op} on every concurrent group "
                                 "(their placements differ)", field="algorithm", value=request)
            picks = sorted({next((c.algorithm, c.protocol) for c in r
                                 if (c.algorithm, c.protocol) in common) for r in ranked})
            hit = self._choice[key] = min(picks, key=lambda ap: self.predict_phases(
                merge_instances(op, nbytes, instances, ap[0], self.topo), *ap,
                self.launch(*ap, nbytes, instances[0])).time_s)
        return hit
