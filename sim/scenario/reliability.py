"""A scenario's run-level part: from the simulated step to goodput over days.

:func:`run_inputs` completes the scenario keys ``faults``, ``checkpoint`` and
``run`` (validated by :mod:`sim.reliability.config`) with what the model and
the training keys know — when the scenario is checked, before anything is
simulated; :func:`run_reliability` adds what the step simulation knows and
calls :func:`sim.reliability.simulate_run`:

* ``step_time_s`` is the simulated step time (stragglers included);
* ``tokens_per_step`` is the workload's (global batch x sequence length for
  generated traces, ``meta.tokens_per_step`` of a trace file). A trace that
  does not say counts one "token" per step, so ``tokens_trained`` then counts
  steps;
* the target of the time to train is ``run.tokens`` or else
  ``training.tokens``;
* the checkpoint size, when the scenario gives neither ``size_bytes`` nor
  ``stall_s``, comes from the model: every parameter's weight in the
  training dtype plus the fp32 master copy and the two fp32 Adam moments,

      size_bytes = params x (dtype_bytes + 4 + 4 + 4)     (14 bytes in bf16),

  the model states of mixed-precision Adam training (Rajbhandari et al.,
  "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models",
  SC 2020, section 3.1) without the gradients, which are not saved. ZeRO
  sharding splits these bytes over ranks but does not change their total.
  (Megatron-LM's 1T model, 1.0e12 parameters, writes 13.8 TB: 13.8 bytes per
  parameter; Narayanan et al., SC 2021.);
* an elastic job (``faults.elastic``) loses whole data-parallel replicas:
  ``faults.elastic_unit_gpus`` defaults to tp x pp x cp GPUs for a generated
  workload. Its step time on fewer replicas is re-simulated (the same layout
  with the smaller dp, cached per size): the same global batch B over dp'
  replicas of micro-batch b runs ceil(B / (dp' b)) micro-batches per replica,
  so the shrunk step trains B' = dp' b ceil(B / (dp' b)) >= B sequences and
  its time is scaled by B / B' to the global batch of the full job. A bare
  trace cannot be re-shaped; its shrunk job trains at g / G of the full
  job's throughput (linear scaling).

The job's GPU count is the trace's world size, rounded up to whole nodes of
the resolved cluster.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.reliability import CheckpointConfig, FaultConfig, RunConfig, simulate_run
from sim.scenario.cluster import ResolvedCluster
from sim.summary import StepMetrics
from workloads import models
from workloads.errors import InputError
from workloads.models.shape_check import DTYPES

#: fp32 master weights + Adam first and second moments, bytes per parameter
OPTIMIZER_STATE_BYTES_PER_PARAM = 12.0


@dataclass(frozen=True)
class RunInputs:
    """The run-level sections of a scenario, complete."""

    faults: FaultConfig
    checkpoint: CheckpointConfig
    run: RunConfig
    checkpoint_size_source: str
    target_tokens: float | None       # time to train beyond a ``run.days`` horizon


def checkpoint_bytes(scn) -> float | None:
    """Bytes of a full checkpoint of ``scn``'s model (None for a bare trace)."""
    if scn.model is None:
        return None
    dtype = DTYPES[scn.training.dtype] if scn.training is not None else 2
    return models.param_count(scn.model.spec()) * (dtype + OPTIMIZER_STATE_BYTES_PER_PARAM)


def _checkpoint(scn) -> tuple[CheckpointConfig, str]:
    given = scn.checkpoint
    data = {} if given is None else given.model_dump(exclude_unset=True)
    source = "scenario"
    if data.get("size_bytes") is None:
        source = "none (costs given directly)" if data.get("stall_s") is not None else "none"
        size = None if data.get("stall_s") is not None else checkpoint_bytes(scn)
        if size is not None:
            missing = [k for k in ("save_bytes_per_s", "load_bytes_per_s")
                       if data.get(k) is None]
            if missing:
                raise InputError(f"the checkpoint size comes from the model "
                                 f"({size / 1e12:.3g} TB); give {' and '.join(missing)} "
                                 "(or stall_s)", field=f"checkpoint.{missing[0]}", value=None)
            data["size_bytes"] = size
            source = "model: params x (dtype + 12) bytes"
    return _complete(CheckpointConfig, data, "checkpoint"), source


def _complete(model, data: dict, key: str):
    from sim.reliability import parse_section
    return parse_section(model, data, key=key)


def run_inputs(scn) -> RunInputs | None:
    """The complete run-level inputs of ``scn`` (None without ``faults``).

    ``checkpoint`` and ``run`` are checked whether or not ``faults`` is given.
    """
    if scn.faults is None and scn.checkpoint is None and scn.run is None:
        return None
    checkpoint, source = _checkpoint(scn)
    target = scn.training.tokens if scn.training is not None else None
    data = {} if scn.run is None else scn.run.model_dump(exclude_unset=True)
    if data.get("days") is None and data.get("tokens") is None and target is not None:
        data["tokens"] = target
    run = _complete(RunConfig, data, "run")
    if scn.faults is None:
        return None
    return RunInputs(scn.faults, checkpoint, run, source,
                     None if run.tokens is not None else target)


def _shrunk(scn, dp: int, batch: int):
    """``scn`` on ``dp`` data-parallel replicas with global batch ``batch``, no faults."""
    from sim.scenario.config import Scenario
    p = scn.parallelism
    data = scn.model_dump()
    data.update(faults=None, checkpoint=None, run=None)
    data["parallelism"]["dp"] = dp
    data["cluster"]["gpus"] = dp * p.tp * p.pp * p.cp
    data["training"]["global_batch"] = batch
    return Scenario.model_validate(data).check()


def shrunk_step_time(scn, seed: int | None = None):
    """A cached ``step_time_s(active_gpus)`` of ``scn`` on fewer data-parallel
    replicas (see the module docstring), or None for a bare trace."""
    if scn.model is None or scn.training is None:
        return None
    p, t = scn.parallelism, scn.training
    per_replica = p.tp * p.pp * p.cp
    cache: dict[int, float] = {}

    def step_time_s(active: int) -> float:
        dp = active // per_replica
        if dp < 1:
            raise InputError(f"an elastic job needs at least one replica of {per_replica} "
                             "GPUs", field="faults.elastic_unit_gpus", value=active)
        if dp not in cache:
            from sim.scenario.execute import run_scenario
            mb = t.micro_batch
            batch = dp * mb * math.ceil(t.global_batch / (dp * mb))
            res = run_scenario(_shrunk(scn, dp, batch), seed=seed)
            cache[dp] = res.metrics.step_time_s * t.global_batch / batch
        return cache[dp]
    step_time_s.cache = cache
    return step_time_s


def run_reliability(scn, step: StepMetrics, cluster: ResolvedCluster,
                    rng: np.random.Generator, seed: int | None = None,
                    progress: bool | None = False) -> tuple[dict, list]:
    """The ``reliability`` object of ``run --json`` and replica 0's timeline.

    The timeline holds ``(name, category, start_s, dur_s)`` spans. ``progress``:
    a bar over the replicas on stderr (None: only on a terminal).
    """
    inputs = scn.reliability
    faults, checkpoint = inputs.faults, inputs.checkpoint
    step_for_gpus = None
    if faults.elastic:
        step_for_gpus = shrunk_step_time(scn, seed)
        if step_for_gpus is not None and faults.elastic_unit_gpus is None:
            p = scn.parallelism
            faults = faults.model_copy(update={"elastic_unit_gpus": p.tp * p.pp * p.cp})
    if step.tokens_per_step:
        tokens_per_step, tokens_source = float(step.tokens_per_step), "trace"
    else:
        tokens_per_step, tokens_source = 1.0, "unknown: one per step (tokens count steps)"
    job_gpus, gpn = cluster.job_shape(step.gpus)
    result = simulate_run(step.step_time_s, tokens_per_step, job_gpus, gpn, faults, checkpoint,
                          inputs.run, rng, target_tokens=inputs.target_tokens,
                          step_time_for_gpus=step_for_gpus, progress=progress)
    out = result.to_json()
    out.update({"step_time_s": step.step_time_s, "tokens_per_step": tokens_per_step,
                "tokens_per_step_source": tokens_source, "job_gpus": job_gpus,
                "gpus_per_node": gpn, "checkpoint_size_bytes": checkpoint.size_bytes,
                "checkpoint_size_source": inputs.checkpoint_size_source,
                "elastic_scaling": (None if not faults.elastic else "linear"
                                    if step_for_gpus is None else "re-simulated"),
                "elastic_step_times_s": (
                    {str(dp * scn.parallelism.tp * scn.parallelism.pp * scn.parallelism.cp): v
                     for dp, v in sorted(step_for_gpus.cache.items())}
                    if step_for_gpus is not None else None)})
    return out, result.timeline
