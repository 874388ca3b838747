"""Simulating a scenario: resolved cluster + trace (given or generated) -> step
metrics, straggler attribution and, with faults, the run-level results."""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.compute import compute_model_for
from sim.scenario.cluster import ResolvedCluster, resolve_cluster
from sim.scenario.config import Scenario
from sim.scenario.workload import generate_workload
from sim.simulate import StepResult
from sim.stragglers import attribute, simulate_with_stragglers
from sim.stragglers.step import EpisodeMixture
from sim.summary import StepMetrics, WorkloadFacts
from topologies.errors import TopologyError
from workloads import trace as trace_format
from workloads.errors import InputError
from workloads.trace import Trace


@dataclass
class ScenarioRun:
    """Everything a scenario run produced (``result`` is the JSON contract)."""

    scenario: Scenario
    trace: Trace
    cluster: ResolvedCluster
    step: StepResult | EpisodeMixture
    metrics: StepMetrics
    result: dict
    timeline: list | None = None

    @property
    def shown_step(self) -> StepResult:
        """The simulated step whose spans stand for the run (Chrome trace)."""
        return self.step.shown if isinstance(self.step, EpisodeMixture) else self.step


def _trace_path(scn: Scenario, folder: Path) -> str:
    path = Path(scn.trace)
    return str(path if path.is_absolute() else folder / path)


def load_or_generate(scn: Scenario, folder: Path) -> tuple[Trace, WorkloadFacts, ResolvedCluster]:
    """The trace of ``scn``, what its metrics need, and the cluster it runs on."""
    if scn.trace is None:
        trace, facts = generate_workload(scn)
        return trace, facts, scn.job.cluster
    trace = trace_format.load(_trace_path(scn, folder))
    used = max(trace.gpu_of(r) for r in range(trace.world_size)) + 1
    return trace, WorkloadFacts.of_trace(trace), resolve_cluster(scn.cluster, used)


def run_scenario(scn: Scenario, folder: Path = Path("."), seed: int | None = None,
                 label: str | None = None, progress: bool | None = False) -> ScenarioRun:
    """Simulate one step of ``scn`` and, when faults are configured, the whole run.

    Input errors found on the way name ``label`` (the scenario file), or the
    trace file for a stuck or mismatched trace. ``progress``: a bar over the
    phases on stderr (None: only on a terminal).
    """
    if not isinstance(scn, Scenario):
        raise InputError("run_scenario takes a Scenario (from load_scenario, or "
                         "sim.scenario.load.parse_scenario(mapping, label) for a dict), got "
                         f"{type(scn).__name__}", field="scn", value=type(scn).__name__)
    try:
        gc.freeze()
        return _run(scn, folder, seed, progress)
    except TopologyError as e:
        raise InputError(e.message, file=e.file or label, field=e.field, value=e.value) \
            from None
    except InputError as e:
        raise (e.in_file(label) if label else e) from None
    finally:
        gc.unfreeze()


def _simulate_step(scn: Scenario, folder: Path, trace: Trace, cluster: ResolvedCluster,
                   compute, seed) -> StepResult | EpisodeMixture:
    try:
        return simulate_with_stragglers(trace, cluster.graph(), compute, scn.stragglers, seed,
                                        fold=scn.sim.fold, routing=cluster.routing)
    except InputError as e:
        # a stuck or mismatched trace: name the trace file
        raise (e.in_file(_trace_path(scn, folder)) if scn.trace else e) from None


def _sim_json(scn: Scenario, step, seed: int, t0: float) -> dict:
    shown = step.shown if isinstance(step, EpisodeMixture) else step
    return {"wall_s": time.perf_counter() - t0, "step_wall_s": step.wall_s,
            "events": step.events, "rank_classes": len(shown.classes),
            "flows": shown.network.flows, "network_solves": shown.network.solves,
            "fold": scn.sim.fold, "seed": seed}


def _run(scn: Scenario, folder: Path, seed: int | None, progress: bool | None) -> ScenarioRun:
    from sim.progress import progress as progress_bar
    t0 = time.perf_counter()
    seed = scn.sim.seed if seed is None else seed
    scn.check()
    phases = 2 + bool(scn.stragglers) + (scn.reliability is not None)
    bar = progress_bar(total=phases, desc="trace", unit="phase", enabled=progress)
    # the trace, and below the step's spans, live until the run ends and hold
    # no cycles to free: frozen, later collections do not scan them again
    # (run_scenario unfreezes them when the run returns); no collection while
    # the trace is built either (each would scan its young objects, ~0.1 s
    # on a 3,072-GPU pipeline)
    enabled = gc.isenabled()
    gc.disable()
    try:
        trace, facts, cluster = load_or_generate(scn, folder)
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
    bar.update()
    bar.set_description("step")
    compute = compute_model_for(cluster.gpu.name,
                                scn.training.dtype if scn.training is not None else "bf16",
                                scn.cluster.software)
    straggler_seed = [seed, 1]      # a stream of its own, apart from the run-level one
    step = _simulate_step(scn, folder, trace, cluster, compute, straggler_seed)
    gc.freeze()
    metrics = StepMetrics.of(trace, step, facts, cluster.gpu.peak_dense_flops)
    result = metrics.to_json()
    bar.update()
    if scn.stragglers:
        bar.set_description("straggler attribution")
        result["stragglers"] = attribute(scn, trace, cluster.graph(), compute,
                                         seed=straggler_seed, step=step,
                                         routing=cluster.routing).to_json()
        result["stragglers"]["episodes"] = (step.to_json() if isinstance(step, EpisodeMixture)
                                            else None)
        bar.update()
    timeline = None
    if scn.reliability is not None:
        from sim.scenario.reliability import run_reliability
        bar.set_description("run-level replicas")
        result["reliability"], timeline = run_reliability(
            scn, metrics, cluster, np.random.default_rng(seed), seed=seed, progress=progress)
        bar.update()
    bar.close()
    result["sim"] = _sim_json(scn, step, seed, t0)
    result["name"] = scn.name
    return ScenarioRun(scn, trace, cluster, step, metrics, result, timeline)
