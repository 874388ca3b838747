"""GPU memory per rank: weights, gradients, optimizer states, activations, workspace.

Model states (Rajbhandari et al., "ZeRO", SC'20, sec. 3.1 and Fig. 1): mixed-
precision Adam keeps 2-byte weights, 2-byte gradients and ``K = 12`` bytes of
fp32 master weights, momentum and variance per parameter — ``16 Psi`` bytes.
We keep the paper's 2-byte gradients by default; ``fp32_grads=True`` models
Megatron-LM's fp32 gradient accumulation buffer (4 bytes). ZeRO stage 1
shards the optimizer states over the data-parallel ranks, stage 2 also the
gradients, stage 3 also the weights. Dense parameters are sharded over the
``dp * cp`` ranks that hold replicas of them; routed-expert parameters over
``dp * cp / ep`` (expert parallelism is carved out of data parallelism, as in
Megatron-core and DeepSpeed-MoE).

Activations (Korthikanti et al. 2022, sec. 4, Table 2): per layer and micro-
batch, with ``s`` tokens, ``b`` sequences, hidden ``h``, ``a`` heads, 2-byte
values and dropout, ``s b h (34 + 5 a s / h)`` bytes without parallelism;
``s b h (10 + 24/t + 5 a s/(h t))`` with tensor parallelism ``t``;
``s b h / t (34 + 5 a s / h)`` with sequence parallelism; selective
recomputation drops the ``5 a s / h`` term; full recomputation keeps only
the layer input, ``2 s b h`` (``/ t`` with sequence parallelism, since the
stored input is sharded). :func:`activation_bytes_per_layer` computes the
same terms from the model's actual widths (GQA, SwiGLU, MoE, dtype, dropout),
so it reproduces those equations exactly for the GPT layout; with
``flash_attention=True`` the ``s^2`` term is replaced by FlashAttention's fp32
log-sum-exp (Dao et al. 2022).

Low precision (``Shape.precision`` fp8, mxfp8, nvfp4; Transformer Engine as
Megatron-Core runs it): weights stay in bf16 (plus the fp32 master copy in
the optimizer) and each layer GEMM weight also keeps its quantised copies,
row-wise and column-wise (``2 q`` bytes per parameter, ``q`` from
``builder.GEMM_INPUT_BYTES``), cached for the whole step; gradients and
optimizer states are unchanged. With ``fp8_params`` (Megatron-Core
``--fp8-param-gather``, set by every Megatron-Bridge FP8 and MXFP8 recipe
except blockwise FP8: ``bf16_with_fp8_delayed_scaling_mixed``,
``bf16_with_fp8_current_scaling_mixed``, ``bf16_with_mxfp8_mixed`` in
``megatron/bridge/training/mixed_precision.py``; NVFP4 is left out) the layer GEMM weights live
only as their quantised copies — Transformer Engine's primary FP8 weights —
and the fp32 master copy in the optimizer: ``2 q`` bytes per parameter
instead of ``d + 2 q``. A GEMM saves its quantised input for the
weight gradient, so the two norm outputs and the FC2 (and expert FC2) inputs
are kept at ``q`` bytes; the attention output is kept twice (bf16 by the
attention kernel, ``q`` by the projection), and everything else in bf16.

Optimizer state: ``optimizer_state_bytes`` per moment (4 = fp32 Adam; 2 for
bf16 moments) and ``master_bytes`` per master weight (4 = fp32; 2 when
only the low 16 bits of the fp32 master are stored next to the bf16 weight
— Apex ``DistributedFusedAdam(store_param_remainders=True)`` as NeMo uses it,
and Megatron-Core's precision-aware optimizer — or a bf16 optimizer state).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from workloads.errors import InputError
from workloads.models.builder import GEMM_INPUT_BYTES
from workloads.models.items import Shape
from workloads.models.linears import attention_core_dims
from workloads.models.params import (embedding_params, head_params, layer_index,
                                     layer_params_on_rank, representative_layer)
from workloads.models.shape_check import check_shape
from workloads.models.spec import ModelSpec

OPTIMIZERS = ("adam", "sgd")
STAGES = ("only", "first", "middle", "last")
DEFAULT_WORKSPACE_BYTES = 2.0e9   # CUDA context, cuBLAS/NCCL buffers, allocator slack (assumed)
#: precisions whose weights can be kept as primary FP8 tensors (``fp8_params``)
FP8_PARAM_PRECISIONS = ("fp8", "mxfp8")


def _count(v: object, field: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise InputError(f"expected an integer >= {minimum}", field=field, value=v)
    return v


def optimizer_bytes_per_param(optimizer: str = "adam", master_weights: bool = True, *,
                              state_bytes: float = 4.0, master_bytes: float = 4.0) -> float:
    """Optimizer state per parameter: Adam m, v (+ master) = 12 / 8 bytes in
    fp32; SGD momentum (+ master) = 8 / 4 bytes. ``state_bytes`` per moment
    element, ``master_bytes`` per master weight (see the module doc)."""
    if optimizer not in OPTIMIZERS:
        raise InputError(f"expected one of {', '.join(OPTIMIZERS)}", field="optimizer",
                         value=optimizer)
    for name, v in (("optimizer_state_bytes", state_bytes), ("master_bytes", master_bytes)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise InputError("expected a positive number of bytes", field=name, value=v)
    moments = (2.0 if optimizer == "adam" else 1.0) * state_bytes
    return moments + (master_bytes if master_weights else 0.0)


def model_state_bytes(params: float, shards: int, zero_stage: int, *, dtype_bytes: int = 2,
                      optimizer: str = "adam", master_weights: bool = True,
                      fp32_grads: bool = False, state_bytes: float = 4.0,
                      master_bytes: float = 4.0) -> tuple[float, float, float]:
    """(weights, gradients, optimizer states) in bytes for ``params`` parameters
    replicated over ``shards`` data-parallel ranks under ZeRO ``zero_stage``."""
    _count(shards, "parallelism.dp")
    if zero_stage not in (0, 1, 2, 3):
        raise InputError("expected 0, 1, 2 or 3", field="parallelism.zero", value=zero_stage)
    w = params * dtype_bytes
    g = params * (4.0 if fp32_grads else dtype_bytes)
    o = params * optimizer_bytes_per_param(optimizer, master_weights, state_bytes=state_bytes,
                                           master_bytes=master_bytes)
    return (w / shards if zero_stage >= 3 else w,
            g / shards if zero_stage >= 2 else g,
            o / shards if zero_stage >= 1 else o)


def activation_bytes_per_layer(spec: ModelSpec, shape: Shape, *, flash_attention: bool = True,
                               layer: int | None = None) -> float:
    """Activations one layer keeps for the backward, per micro-batch, on one rank."""
    check_shape(spec, shape)
    i = layer_index(spec, layer)
    tp, d = shape.tp, float(shape.dtype_bytes)
    q = GEMM_INPUT_BYTES.get(shape.precision, d)    # a GEMM input as the GEMM saves it
    T = shape.micro_batch * shape.seq_len / shape.cp
    h = spec.hidden
    rep_div = tp if shape.sequence_parallel else 1
    if shape.recompute == "full":
        return d * T * h / rep_div
    mask = 1.0 if spec.dropout else 0.0
    # Replicated across tp unless sequence-parallel: two norm inputs, two norm
    # outputs (attention and MLP inputs), two dropout masks after the blocks.
    replicated = T * h * (2 * d + 2 * q + 2 * mask)
    heads, dqk, dv = attention_core_dims(spec)
    kv = heads if spec.mla is not None else spec.kv_heads
    # Sharded by tp: Q, K (QK^T inputs), V, attention output (proj input; in
    # low precision kept by the attention kernel and, quantised, by proj).
    sharded = d * T * (heads * dqk + kv * dqk + kv * dv + heads * dv)
    if q != d:
        sharded += q * T * heads * dv
    if spec.mla is not None:    # the latents, replicated like the down-projections
        m = spec.mla
        replicated += d * T * (m.q_lora_rank + m.kv_lora_rank + m.qk_rope_head_dim)
    if not flash_attention and shape.recompute == "none":
        # softmax output, dropout mask and dropout output: 5 a s^2 b for fp16
        per_score = d + (mask + d if spec.dropout else 0.0)
        sharded += per_score * T * heads * shape.seq_len
    elif flash_attention:
        sharded += 4.0 * T * heads          # fp32 log-sum-exp per query and head
    mult = 2.0 if spec.activation == "swiglu" else 1.0
    if spec.is_moe_layer(i) and shape.etp is not None:
        # MoE parallel folding: this rank's own tokens (its sequence shard),
        # gathered over etp, routed top_k ways, through experts split etp ways
        moe, etp = spec.moe, shape.etp
        own = T / tp if shape.sequence_parallel else T
        routed = own * etp * moe.top_k * (moe.load if shape.ep > 1 else 1.0)
        f = moe.expert_ffn_hidden / etp
        local = 4.0 * own * moe.experts + d * own * moe.top_k * h
        local += q * routed * h + routed * f * (d * mult + q)
        if moe.shared_experts:
            sharded += T * moe.shared_experts * moe.shared_ffn_hidden * (d * mult + q)
        return replicated / rep_div + sharded / tp + local
    if spec.is_moe_layer(i):
        moe = spec.moe
        routed = T * moe.top_k * (moe.load if shape.ep > 1 else 1.0)
        f = moe.expert_ffn_hidden
        replicated += 4.0 * T * moe.experts                     # fp32 router logits
        sharded += q * routed * h + routed * f * (d * mult + q)  # fc1 in, act in, fc2 in
        replicated += d * T * moe.top_k * h                     # expert outputs to combine
        if moe.shared_experts:
            sharded += T * moe.shared_experts * moe.shared_ffn_hidden * (d * mult + q)
    else:
        sharded += T * spec.ffn_hidden * (d * mult + q)        # activation input, fc2 input
    return replicated / rep_div + sharded / tp


def memory_bytes(spec: ModelSpec, shape: Shape, pp: int, stage_layers: int | Sequence[int],
                 dp: int, zero_stage: int, in_flight_microbatches: float,
                 optimizer: str = "adam", master_weights: bool = True, *,
                 fp32_grads: bool = False, flash_attention: bool = True,
                 stage: str | None = None,
                 workspace_bytes: float = DEFAULT_WORKSPACE_BYTES,
                 state_bytes: float = 4.0, master_bytes: float = 4.0,
                 fp8_params: bool = False) -> dict[str, float]:
    """Bytes one GPU holds at its peak, by kind.

    ``stage_layers`` is a count (that many copies of the representative layer,
    the first MoE layer for MoE models — the larger kind) or the exact layer
    indices of this pipeline stage. ``stage`` ("only", "first", "middle",
    "last"; default "only" when ``pp == 1`` else "first") decides whether the
    embedding (first, only) and the output layer (last, only; with tied
    embeddings and ``pp > 1`` the last stage holds its own copy as in
    Megatron-LM) live here. ``in_flight_microbatches`` is the number of
    micro-batches whose activations the schedule keeps at once (1F1B: up to
    ``pp`` on the first stage; fractional for the interleaved schedule, whose
    model chunks each hold ``1/vpp`` of the stage). With full recomputation one layer's complete
    activations are live during its backward; the last stage also holds one
    micro-batch's logits (working dtype) and fp32 softmax.

    Returns ``params_on_rank`` (a count) and ``weights_bytes``,
    ``gradients_bytes``, ``optimizer_bytes``, ``activations_bytes``,
    ``workspace_bytes``, ``total_bytes``.
    """
    check_shape(spec, shape)
    pp = _count(pp, "parallelism.pp")
    dp = _count(dp, "parallelism.dp")
    flights = in_flight_microbatches
    if isinstance(flights, bool) or not isinstance(flights, (int, float)) or not flights > 0:
        raise InputError("expected a positive number", field="in_flight_microbatches",
                         value=flights)
    stage = stage if stage is not None else ("only" if pp == 1 else "first")
    if stage not in STAGES:
        raise InputError(f"expected one of {', '.join(STAGES)}", field="stage", value=stage)
    if isinstance(stage_layers, int) and not isinstance(stage_layers, bool):
        layers = [representative_layer(spec)] * _count(stage_layers, "stage_layers", 0)
    else:
        layers = [layer_index(spec, i) for i in stage_layers]
    tp, ep = shape.tp, shape.ep
    replicas = dp * shape.cp
    if shape.etp is None:
        if replicas % ep:
            raise InputError(f"expert parallelism must divide dp * cp ({replicas})",
                             field="parallelism.ep", value=ep)
        expert_replicas = replicas // ep
    else:       # MoE parallel folding: ep x etp x edp = tp x cp x dp
        if (tp * replicas) % (ep * shape.etp):
            raise InputError(f"ep * etp must divide tp * cp * dp ({tp * replicas})",
                             field="parallelism.ep", value=ep)
        expert_replicas = tp * replicas // (ep * shape.etp)
    dense = expert = 0.0
    for i in layers:
        d_i, e_i = layer_params_on_rank(spec, ep, tp=tp, layer=i, etp=shape.etp)
        dense += d_i
        expert += e_i
    if stage in ("first", "only"):
        dense += embedding_params(spec) / tp
    if stage in ("last", "only"):
        dense += head_params(spec) / tp
        if spec.tied_embeddings and stage == "last":
            dense += spec.vocab * spec.hidden / tp
    kw = {"dtype_bytes": shape.dtype_bytes, "optimizer": optimizer,
          "master_weights": master_weights, "fp32_grads": fp32_grads,
          "state_bytes": state_bytes, "master_bytes": master_bytes}
    dw, dg, do = model_state_bytes(dense, replicas, zero_stage, **kw)
    ew, eg, eo = model_state_bytes(expert, expert_replicas, zero_stage, **kw)
    q = GEMM_INPUT_BYTES.get(shape.precision)
    if q is not None:       # row- and column-wise quantised copies of the layer weights
        layer_dense = dense - (embedding_params(spec) / tp if stage in ("first", "only") else 0)
        if stage in ("last", "only"):
            layer_dense -= head_params(spec) / tp
            if spec.tied_embeddings and stage == "last":
                layer_dense -= spec.vocab * spec.hidden / tp
        # primary FP8 weights: no high-precision copy of the layer weights
        per_param = 2 * q - (shape.dtype_bytes if fp8_params and shape.precision
                             in FP8_PARAM_PRECISIONS else 0)
        dw += per_param * layer_dense / (replicas if zero_stage >= 3 else 1)
        ew += per_param * expert / (expert_replicas if zero_stage >= 3 else 1)
    per_layer = [activation_bytes_per_layer(spec, shape, flash_attention=flash_attention,
                                            layer=i) for i in layers]
    acts = flights * sum(per_layer)
    if shape.recompute == "full" and layers:
        full = dataclasses.replace(shape, recompute="none")
        acts += max(activation_bytes_per_layer(spec, full, flash_attention=flash_attention,
                                               layer=i) for i in set(layers))
    if stage in ("last", "only"):
        T = shape.micro_batch * shape.seq_len / shape.cp
        acts += T * spec.vocab / tp * (shape.dtype_bytes + 4.0)
    out = {"params_on_rank": dense + expert, "weights_bytes": dw + ew,
           "gradients_bytes": dg + eg, "optimizer_bytes": do + eo,
           "activations_bytes": acts, "workspace_bytes": float(workspace_bytes)}
    out["total_bytes"] = sum(v for k, v in out.items() if k != "params_on_rank")
    return out
