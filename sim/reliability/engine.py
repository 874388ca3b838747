"""Run-level Monte Carlo: failures, checkpoints, recovery and goodput over days.

:func:`simulate_run` takes the step time predicted by the step-level engine
and simulates ``run.replicas`` independent replicas of the run over wall-clock
time (see :mod:`sim.reliability.replica` for the state machine and
:mod:`sim.reliability.result` for the measures).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from workloads.errors import InputError

from .config import CheckpointConfig, FaultConfig, RunConfig
from .costs import resolve_costs, restart_time_s
from .failures import FailureStream, resolve_sources
from .replica import CATEGORIES, Plan, replica_streams, run_replica
from .result import RunResult

# Without a wall-clock horizon, stop a run that has not reached its target
# after this many times its failure-free training time.
MAX_SLOWDOWN = 1000.0


def _positive(value, field: str, integer: bool = False):
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(
        value, (int, float, np.integer, np.floating))
    if not ok or isinstance(value, bool) or not value > 0 or not math.isfinite(value):
        kind = "a positive integer" if integer else "a positive finite number"
        raise InputError(f"must be {kind}", field=field, value=value)


def _speed_fn(gpus: int, step_time_s: float,
              step_time_for_gpus: Callable[[int], float] | None) -> Callable[[int], float]:
    """Throughput of a job shrunk to ``active`` GPUs relative to the full job.

    With ``step_time_for_gpus`` (same global batch, fewer data-parallel
    replicas): step_time_s / step_time_for_gpus(active). Without it: linear
    scaling, active / gpus.
    """
    cache: dict[int, float] = {gpus: 1.0}

    def speed(active: int) -> float:
        if active not in cache:
            if step_time_for_gpus is None:
                cache[active] = active / gpus
            else:
                st = float(step_time_for_gpus(active))
                _positive(st, f"step_time_for_gpus({active})")
                cache[active] = min(step_time_s / st, 1.0)
        return cache[active]
    return speed


def simulate_run(step_time_s: float, tokens_per_step: float, gpus: int, gpus_per_node: int,
                 faults: FaultConfig, checkpoint: CheckpointConfig, run: RunConfig,
                 rng: np.random.Generator, *, target_tokens: float | None = None,
                 step_time_for_gpus: Callable[[int], float] | None = None,
                 progress: bool | None = False) -> RunResult:
    """Simulate ``run.replicas`` replicas of a training run; deterministic in ``rng``.

    ``step_time_s``: seconds per step of the full job; ``tokens_per_step``:
    global batch in tokens; ``target_tokens`` (or ``run.tokens``): stop when
    trained, and report the time to train (extrapolated from the goodput if
    the ``run.days`` horizon ends first). ``step_time_for_gpus``: step time of
    the job shrunk to a GPU count (elastic mode). ``progress``: a bar over the
    replicas on stderr (None: only on a terminal).
    """
    _positive(step_time_s, "step_time_s")
    _positive(tokens_per_step, "tokens_per_step")
    _positive(gpus, "cluster.gpus", integer=True)
    _positive(gpus_per_node, "cluster.gpus_per_node", integer=True)
    if gpus % gpus_per_node:
        raise InputError(f"must be a multiple of gpus_per_node ({gpus_per_node})",
                         field="cluster.gpus", value=gpus)
    unit = faults.elastic_unit_gpus or gpus_per_node
    if gpus % unit:
        raise InputError(f"must divide the job's GPU count ({gpus})",
                         field="faults.elastic_unit_gpus", value=unit)
    target = target_tokens if target_tokens is not None else run.tokens
    if target is not None:
        _positive(target, "run.tokens")
    nodes = gpus // gpus_per_node
    sources = resolve_sources(faults, gpus, gpus_per_node)
    rate = sum(s.rate_per_s for s in sources)
    mtbf_s = 1.0 / rate if rate > 0 else math.inf
    costs = resolve_costs(checkpoint, nodes, mtbf_s, step_time_s)
    tokens_per_s = tokens_per_step / step_time_s
    target_w = target / tokens_per_s if target is not None else math.inf
    horizon = run.days * 86400.0 if run.days is not None else MAX_SLOWDOWN * target_w
    plan = Plan(
        gpus=gpus, nodes=nodes, horizon_s=horizon, target_w_s=target_w, costs=costs,
        detection_s=faults.detection_s,
        restart_s=restart_time_s(faults.restart_s, faults.restart_s_per_node, nodes),
        restart_can_fail=faults.restart_can_fail,
        blast_node=tuple(s.blast == "node" for s in sources),
        repair_s=tuple(s.repair_s if s.repair_s is not None else math.inf for s in sources),
        scales=tuple(s.scales_with_job for s in sources),
        spare_nodes=faults.spares.nodes if faults.spares else 0,
        elastic=faults.elastic,
        gpus_per_lost_node=math.ceil(gpus_per_node / unit) * unit,
        min_gpus=unit, speed=_speed_fn(gpus, step_time_s, step_time_for_gpus))
    block_s = horizon if run.days is not None else max(2.0 * target_w, 86400.0)
    keys = ("wall_s", "useful_s", "productive_s", "failures") + CATEGORIES
    acc = {k: np.empty(run.replicas) for k in keys}
    ttt = np.full(run.replicas, math.nan)
    by_cause = np.zeros(len(sources))
    timeline = []
    from sim.progress import progress as progress_bar
    streams = replica_streams(rng, run.replicas)
    for r in progress_bar(range(run.replicas), desc="replicas", unit="replica",
                          enabled=progress):
        out = run_replica(plan, FailureStream(sources, streams[r], block_s), record=(r == 0))
        for k in keys:
            acc[k][r] = out[k]
        by_cause += out["by_source"]
        if r == 0:
            timeline = out["spans"]
        if target is not None:
            if out["reached"]:
                ttt[r] = out["wall_s"]
            elif out["useful_s"] > 0:
                ttt[r] = out["wall_s"] * target_w / out["useful_s"]
            else:
                ttt[r] = math.inf
    acc["time_to_train_s"] = ttt
    return RunResult(
        per_replica=acc, gpus=gpus, tokens_per_s=tokens_per_s,
        checkpoint_interval_s=costs.interval_s, checkpoint_stall_s=costs.stall_s,
        restore_s=costs.restore_after_failure_s, mtbf_s=mtbf_s, target_tokens=target,
        checkpoint_mode=costs.mode, checkpoint_persist_s=costs.persist_s,
        storage_restore_s=costs.restore_s, interval_floor_s=costs.interval_floor_s,
        restart_s=plan.restart_s, detection_s=faults.detection_s,
        horizon_days=run.days, rate_scale=faults.rate_scale,
        failures_by_cause={s.name: float(n) / run.replicas for s, n in zip(sources, by_cause)},
        timeline=timeline)
