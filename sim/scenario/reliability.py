"""A scenario's run-level part: from the simulated step to goodput over days.

:func:`run_reliability` reads the scenario keys ``faults``, ``checkpoint`` and
``run`` (validated by :mod:`sim.reliability.config`), fills in what the step
simulation and the model know, and calls :func:`sim.reliability.simulate_run`:

* ``step_time_s`` is the simulated step time (stragglers included);
* ``tokens_per_step`` is the trace's ``meta.tokens_per_step`` (global batch x
  sequence length for generated traces). A trace that does not say counts
  one "token" per step, so ``tokens_trained`` then counts steps;
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

The job's GPU count is the trace's world size, rounded up to whole nodes.
"""
from __future__ import annotations

import math

import numpy as np

import topologies
from sim.reliability import (CheckpointConfig, FaultConfig, RunConfig, parse_section,
                             simulate_run)
from sim.scenario.config import Scenario
from workloads import models
from workloads.errors import InputError
from workloads.trace import Trace

#: fp32 master weights + Adam first and second moments, bytes per parameter
OPTIMIZER_STATE_BYTES_PER_PARAM = 12.0
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1}
TIMELINE_TRACK = "run timeline (replica 0)"


def checkpoint_bytes(scn: Scenario) -> float | None:
    """Bytes of a full checkpoint of ``scn``'s model (None for a bare trace)."""
    if scn.model is None:
        return None
    spec = models.get_model(scn.model)
    dtype = DTYPE_BYTES[scn.training.dtype] if scn.training is not None else 2
    return models.param_count(spec) * (dtype + OPTIMIZER_STATE_BYTES_PER_PARAM)


def _gpus_per_node(scn: Scenario, gpus: int) -> int:
    gpn = scn.cluster.gpus_per_node or topologies.node_spec(
        topologies.gpu_spec(scn.cluster.gpu).node).gpus_per_node
    return min(gpn, gpus)


def _checkpoint_section(scn: Scenario) -> tuple[dict, str]:
    data = dict(scn.checkpoint or {})
    if data.get("size_bytes") is not None:
        return data, "scenario"
    if data.get("stall_s") is not None:
        return data, "none (costs given directly)"
    size = checkpoint_bytes(scn)
    if size is None:
        return data, "none"
    missing = [k for k in ("save_bytes_per_s", "load_bytes_per_s") if data.get(k) is None]
    if missing:
        raise InputError(f"the checkpoint size comes from the model ({size / 1e12:.3g} TB); "
                         f"give {' and '.join(missing)} (or stall_s)",
                         field=f"checkpoint.{missing[0]}", value=None)
    data["size_bytes"] = size
    return data, "model: params x (dtype + 12) bytes"


def _tokens_per_step(trace: Trace) -> tuple[float, str]:
    tokens = trace.meta.get("tokens_per_step")
    if tokens:
        return float(tokens), "trace"
    return 1.0, "unknown: one per step (tokens count steps)"


def shrunk_step_time(scn: Scenario, seed: int | None = None):
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
            from sim.scenario.runner import run_scenario
            mb = t.micro_batch
            batch = dp * mb * math.ceil(t.global_batch / (dp * mb))
            shrunk = scn.model_copy(deep=True, update={"faults": None})
            shrunk.parallelism.dp = dp
            shrunk.cluster.gpus = dp * per_replica
            shrunk.training.global_batch = batch
            res = run_scenario(shrunk, seed=seed).result
            cache[dp] = float(res["step_time_s"]) * t.global_batch / batch
        return cache[dp]
    step_time_s.cache = cache
    return step_time_s


def run_reliability(scn: Scenario, trace: Trace, step_result: dict,
                    rng: np.random.Generator, seed: int | None = None,
                    progress: bool | None = False) -> tuple[dict, list]:
    """The ``reliability`` object of ``run --json`` and replica 0's timeline.

    ``step_result``: the step part of the JSON result (``step_time_s``,
    ``gpus``). The timeline holds ``(name, category, start_s, dur_s)`` spans.
    """
    faults = parse_section(FaultConfig, scn.faults, key="faults")
    step_for_gpus = None
    if faults.elastic:
        step_for_gpus = shrunk_step_time(scn, seed)
        if step_for_gpus is not None and faults.elastic_unit_gpus is None:
            p = scn.parallelism
            faults = faults.model_copy(update={"elastic_unit_gpus": p.tp * p.pp * p.cp})
    ckpt_data, size_source = _checkpoint_section(scn)
    checkpoint = parse_section(CheckpointConfig, ckpt_data, key="checkpoint")
    target = scn.training.tokens if scn.training is not None else None
    run_data = dict(scn.run or {})
    if run_data.get("days") is None and run_data.get("tokens") is None and target is not None:
        run_data["tokens"] = target
    run = parse_section(RunConfig, run_data, key="run")
    tokens_per_step, tokens_source = _tokens_per_step(trace)
    gpus = int(step_result["gpus"])
    gpn = _gpus_per_node(scn, gpus)
    job_gpus = math.ceil(gpus / gpn) * gpn
    step_time_s = float(step_result["step_time_s"])
    result = simulate_run(step_time_s, tokens_per_step, job_gpus, gpn, faults, checkpoint,
                          run, rng,
                          target_tokens=None if run.tokens is not None else target,
                          step_time_for_gpus=step_for_gpus, progress=progress)
    out = result.to_json()
    out.update({"step_time_s": step_time_s, "tokens_per_step": tokens_per_step,
                "tokens_per_step_source": tokens_source, "job_gpus": job_gpus,
                "gpus_per_node": gpn, "checkpoint_size_bytes": checkpoint.size_bytes,
                "checkpoint_size_source": size_source,
                "elastic_scaling": (None if not faults.elastic else "linear"
                                    if step_for_gpus is None else "re-simulated"),
                "elastic_step_times_s": (
                    {str(dp * scn.parallelism.tp * scn.parallelism.pp * scn.parallelism.cp): v
                     for dp, v in sorted(step_for_gpus.cache.items())}
                    if step_for_gpus is not None else None)})
    return out, result.timeline


def timeline_events(timeline: list, pid: int) -> list[dict]:
    """Chrome trace events (microseconds) of a run timeline on process ``pid``.

    Spans (training, checkpoints, detection, waiting for repair, restarts,
    restores) become complete events ("X") on thread 0; failures, which
    take no time, become instant events ("i") on thread 1.
    """
    events = [
        {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": TIMELINE_TRACK}},
        {"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}},
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": 0, "args": {"name": "job"}},
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": 1, "args": {"name": "failures"}},
    ]
    for name, cat, start_s, dur_s in timeline:
        if dur_s > 0:
            events.append({"ph": "X", "name": name, "cat": cat, "pid": pid, "tid": 0,
                           "ts": round(start_s * 1e6, 3), "dur": round(dur_s * 1e6, 3)})
        elif cat == "failure":
            events.append({"ph": "i", "s": "t", "name": name, "cat": cat, "pid": pid,
                           "tid": 1, "ts": round(start_s * 1e6, 3)})
    return events
