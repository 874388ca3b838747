"""Running a scenario: cluster + trace (given or generated) -> step metrics (+ reliability)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import topologies
from sim.compute import compute_model_for
from sim.network.routing import ROUTING
from sim.scenario.config import Scenario
from sim.simulate import StepResult
from sim.summary import step_summary  # noqa: F401  (part of this module's API)
from sim.stragglers import attribute, simulate_with_stragglers
from workloads import trace as trace_format
from workloads.errors import InputError
from workloads.trace import Trace


@dataclass
class ScenarioRun:
    """Everything a scenario run produced (``result`` is the JSON contract)."""

    scenario: Scenario
    trace: Trace
    step: StepResult
    result: dict
    timeline: list | None = None


def _cluster(scn: Scenario, needed_gpus: int):
    c = scn.cluster
    gpus = c.gpus or needed_gpus
    if gpus < needed_gpus:
        raise InputError(f"the layout needs {needed_gpus} GPUs", field="cluster.gpus", value=gpus)
    gpn = c.gpus_per_node or topologies.node_spec(topologies.gpu_spec(c.gpu).node).gpus_per_node
    gpus = -(-gpus // gpn) * gpn if gpus > gpn else gpus
    fabric = c.fabric
    routing = None
    if isinstance(fabric, dict) and "routing" in fabric:
        fabric = dict(fabric)
        routing = fabric.pop("routing")
        if routing not in ROUTING:
            raise InputError(f"unknown routing (known: {', '.join(ROUTING)})",
                             field="cluster.fabric.routing", value=routing)
    graph = topologies.build_cluster(c.gpu, gpus, gpus_per_node=min(gpn, gpus),
                                     fabric=fabric or None)
    if routing is not None:
        graph.graph["routing"] = routing
    return graph


def _trace_path(scn: Scenario, folder: Path) -> str:
    path = Path(scn.trace)
    return str(path if path.is_absolute() else folder / path)


def load_or_generate(scn: Scenario, folder: Path) -> Trace:
    if scn.trace is not None:
        return trace_format.load(_trace_path(scn, folder))
    from sim.scenario.workload import generate_trace
    return generate_trace(scn)


def run_scenario(scn: Scenario, folder: Path = Path("."), seed: int | None = None,
                 progress: bool | None = False) -> ScenarioRun:
    """Simulate one step of ``scn`` and, when faults are configured, the whole run.

    ``progress``: a bar over the phases on stderr (None: only on a terminal).
    """
    from sim.progress import progress as progress_bar
    if not isinstance(scn, Scenario):
        raise InputError("run_scenario takes a Scenario (from load_scenario, or "
                         "sim.scenario.load.validate(mapping, label) for a dict), got "
                         f"{type(scn).__name__}", field="scn", value=type(scn).__name__)
    t0 = time.perf_counter()
    seed = scn.sim.seed if seed is None else seed
    phases = 2 + bool(scn.stragglers) + (scn.faults is not None)
    bar = progress_bar(total=phases, desc="trace", unit="phase", enabled=progress)
    trace = load_or_generate(scn, folder)
    bar.update()
    bar.set_description("step")
    used = max(trace.gpu_of(r) for r in range(trace.world_size)) + 1
    graph = _cluster(scn, used)
    gspec = topologies.gpu_spec(scn.cluster.gpu)
    compute = compute_model_for(scn.cluster.gpu,
                                scn.training.dtype if scn.training is not None else "bf16")
    straggler_seed = [seed, 1]      # a stream of its own, apart from the run-level one
    try:
        step = simulate_with_stragglers(trace, graph, compute, scn.stragglers, straggler_seed,
                                        fold=scn.sim.fold)
    except InputError as e:
        # a stuck or mismatched trace: name the trace file
        raise (e.in_file(_trace_path(scn, folder)) if scn.trace else e) from None
    result = step_summary(trace, step, gspec.peak_dense_flops)
    bar.update()
    if scn.stragglers:
        bar.set_description("straggler attribution")
        result["stragglers"] = attribute(scn, trace, graph, compute, seed=straggler_seed,
                                         step=step).to_json()
        result["stragglers"]["episodes"] = step.extra.get("episodes")
        bar.update()
    timeline = None
    if scn.faults is not None:
        from sim.scenario.reliability import run_reliability
        bar.set_description("run-level replicas")
        rel, timeline = run_reliability(scn, trace, result, np.random.default_rng(seed),
                                        seed=seed, progress=progress)
        result["reliability"] = rel
        bar.update()
    bar.close()
    result["sim"] = {"wall_s": time.perf_counter() - t0, "step_wall_s": step.wall_s,
                     "events": step.events, "rank_classes": len(step.classes),
                     "flows": step.network.flows, "network_solves": step.network.solves,
                     "fold": scn.sim.fold, "seed": seed}
    result["name"] = scn.name
    return ScenarioRun(scn, trace, step, result, timeline)
