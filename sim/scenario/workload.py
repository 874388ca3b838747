"""From a scenario's model, parallelism and training keys to a generated trace.

Adds what the step metrics need to the trace's ``meta``: tokens, model and
hardware FLOPs per step (MFU and HFU), and memory per GPU. A layout whose
peak memory exceeds the GPU's HBM is an error, as the real job would fail.
"""
from __future__ import annotations

import topologies
from sim.scenario.config import Scenario
from workloads import models
from workloads.errors import InputError
from workloads.generate import Layout, Training, generate, in_flight_microbatches, layer_split
from workloads.trace import Trace

# Low precisions keep bf16 weights and activations; only the layer GEMMs run
# in them (Transformer Engine recipes, see workloads.models.builder).
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp8": 2, "mxfp8": 2, "nvfp4": 2, "fp32": 4}
# Adam state per element: moments and the optimizer's copy of the weights
OPTIMIZER_STATE_BYTES = {"fp32": 4, "bf16": 2}


def layout_of(scn: Scenario) -> Layout:
    p = scn.parallelism
    dp = p.dp
    if dp is None:
        gpus = scn.cluster.gpus
        if gpus is None:
            dp = 1
        else:
            per_replica = p.tp * p.pp * p.cp
            if gpus % per_replica:
                raise InputError(f"cluster.gpus is not a multiple of tp*pp*cp = {per_replica}",
                                 field="cluster.gpus", value=gpus)
            dp = gpus // per_replica
    elif scn.cluster.gpus is not None and scn.cluster.gpus != p.tp * p.pp * p.cp * dp:
        raise InputError(f"tp*pp*cp*dp = {p.tp * p.pp * p.cp * dp} GPUs but the cluster "
                         f"has {scn.cluster.gpus}; set parallelism.dp=null to let dp follow "
                         "the GPU count", field="parallelism.dp", value=dp)
    return Layout(tp=p.tp, pp=p.pp, dp=dp, vpp=p.vpp, cp=p.cp, ep=p.ep,
                  sequence_parallel=p.sequence_parallel, zero=p.zero, schedule=p.schedule,
                  recompute=p.recompute, overlap_grad_reduce=p.overlap_grad_reduce,
                  overlap_param_gather=p.overlap_param_gather,
                  tp_comm_overlap=p.tp_comm_overlap, etp=p.etp)


def training_of(scn: Scenario, spec) -> Training:
    t = scn.training
    return Training(global_batch=t.global_batch, micro_batch=t.micro_batch,
                    seq_len=t.seq_len or spec.seq_len, dtype_bytes=DTYPE_BYTES[t.dtype],
                    flash_attention=t.flash_attention, precision=t.dtype,
                    optimizer_state_bytes=OPTIMIZER_STATE_BYTES[t.optimizer_dtype],
                    master_weight_bytes=OPTIMIZER_STATE_BYTES[t.optimizer_dtype],
                    grad_dtype_bytes=DTYPE_BYTES[t.grad_dtype] if t.grad_dtype else None)


def stage_memory(spec, layout: Layout, training: Training, microbatches: int) -> dict:
    """Peak memory of the most loaded pipeline stage, bytes by kind."""
    shape = models.Shape(micro_batch=training.micro_batch, seq_len=training.seq_len,
                         tp=layout.tp, cp=layout.cp, ep=layout.ep,
                         sequence_parallel=layout.sequence_parallel,
                         dtype_bytes=training.dtype_bytes, recompute=layout.recompute,
                         flash_attention=training.flash_attention,
                         precision=training.precision, etp=layout.etp)
    chunks = layer_split(spec.layers, layout.pp * layout.vpp)
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
                                  master_bytes=training.master_weight_bytes)
        mem["stage"] = s
        if worst is None or mem["total_bytes"] > worst["total_bytes"]:
            worst = mem
    return worst


def generate_trace(scn: Scenario) -> Trace:
    from sim.compute import check_precision
    gpu = topologies.gpu_spec(scn.cluster.gpu)
    check_precision(scn.cluster.gpu, scn.training.dtype,
                    gpu.extra.get("peak_flops_by_precision") or {})
    spec = models.get_model(scn.model)
    layout = layout_of(scn)
    training = training_of(scn, spec)
    trace = generate(spec, layout, training, placement_order=scn.parallelism.placement_order)
    m = trace.meta["microbatches"]
    tokens = trace.meta["tokens_per_step"]
    trace.meta["model_flops_per_step"] = models.model_flops_per_token(
        spec, training.seq_len) * tokens
    # the other published convention: causal attention counts half the square
    trace.meta["model_flops_per_step_causal"] = models.model_flops_per_token(
        spec, training.seq_len, causal_attention_flop_fraction=0.5) * tokens
    trace.meta["hardware_flops_per_step"] = models.hardware_flops_per_token(
        spec, training.seq_len, layout.recompute) * tokens
    mem = stage_memory(spec, layout, training, m)
    hbm = topologies.gpu_spec(scn.cluster.gpu).hbm_bytes
    trace.meta["memory_gb_per_gpu"] = mem["total_bytes"] / 1e9
    trace.meta["memory"] = {k: float(v) for k, v in mem.items()
                            if k.endswith("_bytes")} | {"stage": mem["stage"]}
    if mem["total_bytes"] > hbm:
        raise InputError(
            f"does not fit: stage {mem['stage']} needs {mem['total_bytes'] / 1e9:.1f} GB per GPU "
            f"(weights {mem['weights_bytes'] / 1e9:.1f}, gradients "
            f"{mem['gradients_bytes'] / 1e9:.1f}, optimizer {mem['optimizer_bytes'] / 1e9:.1f}, "
            f"activations {mem['activations_bytes'] / 1e9:.1f}) but a {scn.cluster.gpu} has "
            f"{hbm / 1e9:.0f} GB; try more tp/pp, zero, or recompute", field="parallelism",
            value={"tp": layout.tp, "pp": layout.pp, "dp": layout.dp, "zero": layout.zero})
    return trace
