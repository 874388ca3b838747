"""One-call simulation of a trace on a topology: the step-level engine's front door."""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import simpy

from sim.collectives import TopologyView
from sim.compute import ComputeModel
from sim.engine.classes import RankClass, rank_classes
from sim.engine.executor import Executor
from sim.engine.plan import Span, SpanLog
from sim.engine.metrics import RankTimes, rank_times
from sim.network.flows import FlowNetwork, NetworkStats
from sim.network.routing import Router
from workloads.errors import InputError
from workloads.trace import Trace

if TYPE_CHECKING:
    import networkx as nx


@dataclass
class StepResult:
    """What one simulated step produced. ``spans`` hold every timed op
    (built on first use from the run's :class:`~sim.engine.plan.SpanLog`)."""

    makespan_s: float
    classes: list[RankClass]
    span_log: SpanLog
    ranks: list[RankTimes]
    network: NetworkStats
    events: int
    wall_s: float
    extra: dict = field(default_factory=dict)

    @property
    def spans(self) -> list[Span]:
        return self.span_log.spans()

    @property
    def step_time_s(self) -> float:
        return self.makespan_s

    def slowest(self) -> RankTimes:
        return max(self.ranks, key=lambda r: (r.compute_s, -r.idle_s))


def simulate_trace(trace: Trace, graph: nx.DiGraph, compute: ComputeModel, *,
                   fold: bool = True, speeds: list[float] | None = None,
                   router: Router | None = None, routing: str | None = None,
                   alone_fast_path: bool = True, private_fast_path: bool = True,
                   run_ahead: bool = True, fuse: bool = True,
                   p2p_fast_path: bool = True) -> StepResult:
    """Replay ``trace`` on ``graph``; ``speeds[r]`` scales rank r's compute speed.

    ``routing``: ``spray`` or ``ecmp`` (see :class:`~sim.network.routing.Router`).
    ``alone_fast_path=False`` sends every transfer through the shared max-min
    solve (see :mod:`sim.network.flows`), the slower reference path.
    ``private_fast_path=False`` puts the collectives of private families (see
    :mod:`sim.engine.private_families`) on the network too instead of timing
    them in closed form, again a slower reference. ``run_ahead=False`` makes
    every fixed-length op an event of its own instead of timing it ahead of the
    clock (see :mod:`sim.engine.executor`), the reference for the replay.
    ``fuse=False`` steps every op of a template instance one by one instead of
    timing whole blocks at once (see :mod:`sim.engine.plan`), the reference
    for fused stepping. ``p2p_fast_path=False`` puts private sends (see
    :mod:`sim.engine.private_sends`) on the network too instead of timing them
    in closed form.
    """
    n_gpus = graph.graph.get("num_gpus", sum(1 for _, d in graph.nodes(data=True)
                                             if d.get("kind") == "gpu"))
    ranks = range(trace.world_size)     # max over gpu_of of every rank, in C
    used = max(ranks if trace.placement is None
               else map(trace.placement.__getitem__, ranks)) + 1
    if used > n_gpus:
        raise InputError(f"trace places ranks on {used} GPUs but the cluster has {n_gpus}",
                         field="cluster.gpus", value=n_gpus)
    if speeds is not None and len(speeds) != trace.world_size:
        raise InputError("one speed per rank needed", field="speeds", value=len(speeds))
    t0 = time.perf_counter()
    # the trace, the graph and the spans are long-lived and acyclic: keep the
    # cyclic collector from re-scanning them on every generation-2 pass
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _simulate(trace, graph, compute, fold, speeds, router or Router(graph, routing),
                         alone_fast_path, private_fast_path, run_ahead, fuse, p2p_fast_path,
                         t0)
    finally:
        if enabled:
            gc.enable()


def _simulate(trace, graph, compute, fold, speeds, router: Router, alone_fast_path,
              private_fast_path, run_ahead, fuse, p2p_fast_path, t0: float) -> StepResult:
    env = simpy.Environment()
    classes = rank_classes(trace, speeds, fold=fold)
    net = FlowNetwork(env, router, alone_fast_path=alone_fast_path)
    ex = Executor(env, trace, classes, net, TopologyView(graph), compute,
                  private_fast_path=private_fast_path, run_ahead=run_ahead, fuse=fuse,
                  p2p_fast_path=p2p_fast_path)
    counter = _count_events(env)
    log = ex.run()
    makespan = log.makespan_s
    wall = time.perf_counter() - t0
    return StepResult(makespan, classes, log, rank_times(log, classes, makespan),
                      net.stats, counter[0], wall)


def _count_events(env: simpy.Environment) -> list[int]:
    """Wrap ``env.step`` to count processed events (returns a live counter)."""
    counter = [0]
    step = env.step

    def counted_step():
        counter[0] += 1
        step()

    env.step = counted_step
    return counter
