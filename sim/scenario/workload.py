"""From a scenario's model, parallelism, training and cluster keys to the job
(computed once, when the scenario is checked) and its generated trace.

:class:`Job` holds the model spec, the layout, the batch and the resolved
cluster; :func:`generate_workload` builds the trace and the facts the step
metrics need (:class:`WorkloadFacts`: tokens, model and hardware FLOPs per
step for MFU and HFU, memory per GPU). A layout whose peak memory exceeds the
GPU's HBM is an error, as the real job would fail.
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.scenario.cluster import ResolvedCluster, resolve_cluster
from sim.summary import WorkloadFacts
from workloads import models
from workloads.errors import InputError
from workloads.generate import Layout, ModelCosts, Training, generate, in_flight_microbatches, \
    layer_split
from workloads.generate.generator import check_job
from workloads.models.shape_check import DTYPES
from workloads.trace import Trace


@dataclass(frozen=True)
class Job:
    """A scenario's generated job: every default resolved, every cross-field check done."""

    spec: models.ModelSpec
    layout: Layout
    training: Training
    microbatches: int
    cluster: ResolvedCluster


def layout_of(scn) -> Layout:
    p = scn.parallelism
    dp, gpus = p.dp, scn.cluster.gpus
    per_replica = p.tp * p.pp * p.cp
    if dp is None:
        if gpus is not None and gpus % per_replica:
            raise InputError(f"cluster.gpus is not a multiple of tp*pp*cp = {per_replica}",
                             field="cluster.gpus", value=gpus)
        dp = 1 if gpus is None else gpus // per_replica
    elif gpus is not None and gpus != per_replica * dp:
        raise InputError(f"tp*pp*cp*dp = {per_replica * dp} GPUs but the cluster "
                         f"has {gpus}; set parallelism.dp=null to let dp follow the GPU "
                         "count", field="parallelism.dp", value=dp)
    return Layout(tp=p.tp, pp=p.pp, dp=dp, vpp=p.vpp, cp=p.cp, ep=p.ep,
                  sequence_parallel=p.sequence_parallel, zero=p.zero, schedule=p.schedule,
                  recompute=p.recompute, overlap_grad_reduce=p.overlap_grad_reduce,
                  overlap_param_gather=p.overlap_param_gather,
                  tp_comm_overlap=p.tp_comm_overlap, etp=p.etp,
                  moe_sync_free=p.moe_sync_free,
                  embedding_in_split=p.account_for_embedding_in_pipeline_split,
                  loss_in_split=p.account_for_loss_in_pipeline_split)


def training_of(scn, spec: models.ModelSpec) -> Training:
    t = scn.training
    return Training(global_batch=t.global_batch, micro_batch=t.micro_batch,
                    seq_len=t.seq_len or spec.seq_len, dtype_bytes=DTYPES[t.dtype],
                    flash_attention=t.flash_attention, precision=t.dtype,
                    optimizer_state_bytes=DTYPES[t.optimizer_dtype],
                    master_weight_bytes=DTYPES[t.optimizer_dtype],
                    fp8_params=t.fp8_params,
                    grad_dtype_bytes=DTYPES[t.grad_dtype] if t.grad_dtype else None)


def job_of(scn) -> Job:
    """The job of a model scenario (raises :class:`InputError` naming the field)."""
    from sim.compute import check_precision
    import topologies
    t = scn.training
    gpu = topologies.gpu_spec(scn.cluster.gpu)
    try:
        check_precision(gpu.name, t.dtype, gpu.extra.get("peak_flops_by_precision") or {})
    except InputError as e:
        raise InputError(e.message, field="training.dtype", value=t.dtype) from None
    spec = scn.model.spec()
    layout = layout_of(scn)
    training = training_of(scn, spec)
    from workloads.generate.ranks import parse_order
    try:
        parse_order(scn.parallelism.placement_order)
    except InputError as e:
        raise InputError(e.message, field="parallelism.placement_order", value=e.value) from None
    m = check_job(ModelCosts(spec), layout, training)
    return Job(spec, layout, training, m, resolve_cluster(scn.cluster, layout.world_size))


def stage_memory(spec, layout: Layout, training: Training, microbatches: int) -> dict:
    """Peak memory of the most loaded pipeline stage, bytes by kind."""
    shape = models.Shape(micro_batch=training.micro_batch, seq_len=training.seq_len,
                         tp=layout.tp, cp=layout.cp, ep=layout.ep,
                         sequence_parallel=layout.sequence_parallel,
                         dtype_bytes=training.dtype_bytes, recompute=layout.recompute,
                         flash_attention=training.flash_attention,
                         precision=training.precision, etp=layout.etp)
    chunks = layer_split(spec.layers, layout.pp * layout.vpp, layout.embedding_in_split,
                         layout.loss_in_split)
    worst = None
    for s in range(layout.pp):
        layers = [i for c in range(layout.vpp) for i in chunks[c * layout.pp + s]]
        role = ("only" if layout.pp == 1 else "first" if s == 0
                else "last" if s == layout.pp - 1 else "middle")
        flights = in_flight_microbatches(layout.schedule, layout.pp, microbatches, layout.vpp, s)
        mem = models.memory_bytes(spec, shape, layout.pp, layers, layout.dp, layout.zero,
                                  flights, stage=role,
                                  flash_attention=training.flash_attention,
                                  fp32_grads=training.grad_bytes == 4,
                                  state_bytes=training.optimizer_state_bytes,
                                  master_bytes=training.master_weight_bytes,
                                  fp8_params=training.fp8_params)
        mem["stage"] = s
        if worst is None or mem["total_bytes"] > worst["total_bytes"]:
            worst = mem
    return worst


def _check_fits(job: Job, mem: dict) -> None:
    hbm = job.cluster.gpu.hbm_bytes
    if mem["total_bytes"] <= hbm:
        return
    lo, tr = job.layout, job.training
    gb = {k: mem[f"{k}_bytes"] / 1e9 for k in ("weights", "gradients", "optimizer",
                                                "activations")}
    if gb["activations"] > gb["weights"] + gb["gradients"] + gb["optimizer"]:
        field, value = "training.seq_len", tr.seq_len      # activations dominate
        hint = "shorter sequences or micro-batches, more tp/cp/pp, or recompute"
    else:
        field, value = "parallelism", {"tp": lo.tp, "pp": lo.pp, "dp": lo.dp, "zero": lo.zero}
        hint = "more tp/pp, zero, or recompute"
    raise InputError(
        f"does not fit: stage {mem['stage']} needs {mem['total_bytes'] / 1e9:.1f} GB per GPU "
        f"(weights {gb['weights']:.1f}, gradients {gb['gradients']:.1f}, optimizer "
        f"{gb['optimizer']:.1f}, activations {gb['activations']:.1f}) but a "
        f"{job.cluster.gpu.name} has {hbm / 1e9:.0f} GB; try {hint}", field=field, value=value)


# The trace is a pure function of (model, layout, training, placement order)
# and is only read by the simulation, so the last one generated is kept:
# runs of the same job one after another (validation rows that differ only in
# cluster or measurement) generate it once. False: always generate afresh
# (the reference the memo is compared with).
TRACE_MEMO = True
_last_trace: list = []          # [(key, trace)], at most one entry


def trace_key(job, placement_order: str):
    """What the generated trace of ``job`` depends on (hashable)."""
    return (job.spec, job.layout, job.training, placement_order)


def _trace(spec, layout, training, placement_order: str) -> Trace:
    if not TRACE_MEMO:
        return generate(spec, layout, training, placement_order=placement_order)
    key = (spec, layout, training, placement_order)
    try:
        hash(key)
    except TypeError:
        return generate(spec, layout, training, placement_order=placement_order)
    if _last_trace and _last_trace[0][0] == key:
        return _last_trace[0][1]
    _last_trace.clear()             # free the previous trace before building the next
    trace = generate(spec, layout, training, placement_order=placement_order)
    _last_trace.append((key, trace))
    return trace


def generate_workload(scn) -> tuple[Trace, WorkloadFacts]:
    """The trace of ``scn``'s job and the facts its step metrics need."""
    job = scn.job
    spec, layout, training = job.spec, job.layout, job.training
    mem = stage_memory(spec, layout, training, job.microbatches)
    _check_fits(job, mem)
    trace = _trace(spec, layout, training, scn.parallelism.placement_order)
    tokens = training.global_batch * training.seq_len
    facts = WorkloadFacts(
        tokens_per_step=tokens,
        model_flops_per_step=models.model_flops_per_token(spec, training.seq_len) * tokens,
        # the other published convention: causal attention counts half the square
        model_flops_per_step_causal=models.model_flops_per_token(
            spec, training.seq_len, causal_attention_flop_fraction=0.5) * tokens,
        hardware_flops_per_step=models.hardware_flops_per_token(
            spec, training.seq_len, layout.recompute) * tokens,
        memory_gb_per_gpu=mem["total_bytes"] / 1e9,
        extra={"memory": {k: float(v) for k, v in mem.items() if k.endswith("_bytes")}
               | {"stage": mem["stage"]}, "layout": trace.meta["layout"],
               "microbatches": job.microbatches})
    return trace, facts
