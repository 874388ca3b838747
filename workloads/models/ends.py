"""The ends of the network (embedding, final norm + logits + loss) and the optimizer step.

Tensor parallelism follows Megatron-LM's vocabulary-parallel layers (Shoeybi
et al. 2019): each rank holds ``V / tp`` rows of the embedding and of the
output projection. The embedding lookup is followed by an all-reduce of
``T h d`` bytes (a reduce-scatter with sequence parallelism). The loss is a
vocabulary-parallel cross-entropy whose three reductions over the tp group
(row max, sum of exponentials, target logit; fp32, ``T`` values each) are
given as one all-reduce of ``3 T * 4`` bytes. Logits are materialised in the
working dtype and the softmax in fp32.
"""
from __future__ import annotations

from workloads.errors import InputError
from workloads.models.builder import (CAST_FLOPS_PER_ELEM, GEMM_INPUT_BYTES,
                                      NORM_BWD_FLOPS_PER_ELEM, NORM_FLOPS_PER_ELEM)
from workloads.models.items import CommItem, ComputeItem, Item, Shape
from workloads.models.linears import norm_params
from workloads.models.shape_check import check_shape
from workloads.models.spec import ModelSpec

LOSS_FLOPS_PER_LOGIT = 5.0        # max, subtract, exp, sum, scale
ADAM_FLOPS_PER_PARAM = 12.0       # two moment updates, bias corrections, sqrt, divide, step


def _tokens(shape: Shape) -> tuple[float, float, float]:
    """(local tokens T, rows seen by norms, bytes per element)."""
    T = shape.micro_batch * shape.seq_len / shape.cp
    rows = T / shape.tp if shape.sequence_parallel else T
    return T, rows, float(shape.dtype_bytes)


def embedding_forward(spec: ModelSpec, shape: Shape) -> list[Item]:
    """Word (and learned position) embedding lookup, then its tp reduction."""
    check_shape(spec, shape)
    T, rows, d = _tokens(shape)
    h = spec.hidden
    tables = 2.0 if spec.position == "learned" else 1.0   # word rows (+ position rows)
    out: list[Item] = [ComputeItem("embed", 0.0, (tables * T * h + rows * h) * d, "embedding")]
    if shape.tp > 1:
        kind = "reduce_scatter" if shape.sequence_parallel else "all_reduce"
        out.append(CommItem("emb_" + ("rs" if shape.sequence_parallel else "ar"), kind, "tp",
                            T * h * d))
    return out


def embedding_backward(spec: ModelSpec, shape: Shape) -> list[Item]:
    """Gradient of the lookup: a scatter-add of ``T`` rows into the table."""
    check_shape(spec, shape)
    T, rows, d = _tokens(shape)
    h = spec.hidden
    out: list[Item] = []
    if shape.tp > 1 and shape.sequence_parallel:
        out.append(CommItem("emb_rs_b", "all_gather", "tp", T * h * d))
    tables = 2.0 if spec.position == "learned" else 1.0
    out.append(ComputeItem("embed_b", T * h * tables, (T * h + 2 * tables * T * h) * d,
                           "embedding"))
    return out


def _logits_shape(spec: ModelSpec, shape: Shape) -> tuple[float, float, float, float]:
    T, rows, d = _tokens(shape)
    v = spec.vocab / shape.tp
    flops = 2.0 * T * spec.hidden * v
    nbytes = (T * spec.hidden + spec.hidden * v + T * v) * d
    return T, v, flops, nbytes


def head_forward(spec: ModelSpec, shape: Shape) -> list[Item]:
    """Final norm, logits GEMM (``2 T h V / tp`` FLOPs) and cross-entropy loss."""
    check_shape(spec, shape)
    T, rows, d = _tokens(shape)
    h = spec.hidden
    _, v, flops, nbytes = _logits_shape(spec, shape)
    out: list[Item] = [ComputeItem("final_norm", NORM_FLOPS_PER_ELEM * rows * h,
                                   (2 * rows * h + norm_params(spec, h)) * d, "norm")]
    if shape.tp > 1 and shape.sequence_parallel:
        out.append(CommItem("sp_ag_head", "all_gather", "tp", T * h * d))
    out.append(ComputeItem("logits", flops, nbytes, "gemm"))
    out.append(ComputeItem("loss", LOSS_FLOPS_PER_LOGIT * T * v, T * v * (d + 4.0), "loss"))
    if shape.tp > 1:
        out.append(CommItem("loss_ar", "all_reduce", "tp", 3 * T * 4.0))
    return out


def head_backward(spec: ModelSpec, shape: Shape) -> list[Item]:
    """Loss gradient, logits input- and weight-gradient GEMMs (2x the forward
    GEMM), the tp reduction of the input gradient, final-norm backward."""
    check_shape(spec, shape)
    T, rows, d = _tokens(shape)
    h = spec.hidden
    _, v, flops, nbytes = _logits_shape(spec, shape)
    out: list[Item] = [ComputeItem("loss_b", 2.0 * T * v, T * v * (4.0 + d), "loss")]
    sp = shape.tp > 1 and shape.sequence_parallel
    if sp:
        out.append(CommItem("sp_ag_head_w", "all_gather", "tp", T * h * d, "logits_dgrad"))
    out.append(ComputeItem("logits_dgrad", flops, nbytes, "gemm"))
    if shape.tp > 1:
        out.append(CommItem("sp_ag_head_b" if sp else "head_ar_b",
                            "reduce_scatter" if sp else "all_reduce", "tp", T * h * d))
    out.append(ComputeItem("logits_wgrad", flops, nbytes, "gemm"))
    out.append(ComputeItem("final_norm_b", NORM_BWD_FLOPS_PER_ELEM * rows * h,
                           (3 * rows * h + 2 * norm_params(spec, h)) * d, "norm"))
    return out


def optimizer_items(spec: ModelSpec, params_on_rank: float, *, dtype_bytes: int = 2,
                    master_weights: bool = True) -> list[Item]:
    """One Adam step over ``params_on_rank`` parameters (memory-bound).

    Per parameter it reads the gradient, the fp32 moments (8 bytes) and the
    fp32 master weight (4, if kept) and writes the moments, the master weight
    and the working-precision weight: with master weights and 2-byte params
    that is ``2 + 12 + 12 + 2 = 28`` bytes per parameter.
    """
    if isinstance(params_on_rank, bool) or not isinstance(params_on_rank, (int, float)) \
            or params_on_rank < 0:
        raise InputError("expected a non-negative parameter count", field="params_on_rank",
                         value=params_on_rank)
    state = 12.0 if master_weights else 8.0
    read = dtype_bytes + state + (0.0 if master_weights else dtype_bytes)
    write = state + dtype_bytes
    return [ComputeItem("adam", ADAM_FLOPS_PER_PARAM * params_on_rank,
                        (read + write) * params_on_rank, "optimizer")]


def weight_cast_items(params: float, precision: str, dtype_bytes: int = 2) -> list[Item]:
    """Quantising ``params`` layer weights once per step for low-precision
    GEMMs: read each bf16 weight, write its row- and column-wise copies
    (Transformer Engine caches them over the micro-batches of a step)."""
    q = GEMM_INPUT_BYTES.get(precision)
    if q is None or params <= 0:
        return []
    return [ComputeItem("cast_weights", CAST_FLOPS_PER_ELEM * params,
                        params * (dtype_bytes + 2 * q), "elementwise")]
