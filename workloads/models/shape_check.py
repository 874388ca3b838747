"""Validation of a per-rank :class:`~workloads.models.items.Shape` against a model.

Raised errors name the scenario field a user would change
(``parallelism.tp``, ``training.micro_batch``, ...).
"""
from __future__ import annotations

from workloads.errors import InputError
from workloads.models.items import Shape
from workloads.models.spec import ModelSpec

RECOMPUTE = ("none", "selective", "full")
DTYPE_BYTES = (1, 2, 4)


DTYPES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 2, "mxfp8": 2, "nvfp4": 2}
PRECISIONS = ("bf16", "fp16", "fp8", "mxfp8", "nvfp4")


def dtype_bytes(name: str) -> int:
    """Bytes per activation / weight element of a training dtype name. Low
    precisions (fp8, mxfp8, nvfp4) keep bf16 weights and activations and run
    only the GEMMs in low precision (``Shape.precision``), as Transformer
    Engine does."""
    if name not in DTYPES:
        raise InputError(f"expected one of {', '.join(DTYPES)}", field="training.dtype",
                         value=name)
    return DTYPES[name]


def _positive_int(v: object, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise InputError("expected a positive integer", field=field, value=v)
    return v


def check_shape(spec: ModelSpec, shape: Shape) -> None:
    """Raise :class:`InputError` unless ``shape`` can run ``spec``.

    Tensor parallelism must divide the query heads, key/value heads, FFN
    widths and expert widths (Megatron-LM's requirement); context parallelism
    must divide the sequence; expert parallelism must divide the routed
    experts (and needs an MoE model).
    """
    _positive_int(shape.micro_batch, "training.micro_batch")
    _positive_int(shape.seq_len, "model.seq_len")
    tp = _positive_int(shape.tp, "parallelism.tp")
    cp = _positive_int(shape.cp, "parallelism.cp")
    ep = _positive_int(shape.ep, "parallelism.ep")
    if shape.recompute not in RECOMPUTE:
        raise InputError(f"expected one of {', '.join(RECOMPUTE)}",
                         field="parallelism.recompute", value=shape.recompute)
    if shape.dtype_bytes not in DTYPE_BYTES:
        raise InputError("expected 1 (fp8), 2 (bf16/fp16) or 4 (fp32) bytes",
                         field="training.dtype", value=shape.dtype_bytes)
    if shape.precision not in PRECISIONS:
        raise InputError(f"expected one of {', '.join(PRECISIONS)}", field="training.dtype",
                         value=shape.precision)
    if not isinstance(shape.sequence_parallel, bool):
        raise InputError("expected true or false", field="parallelism.sequence_parallel",
                         value=shape.sequence_parallel)
    if shape.seq_len % cp:
        raise InputError(f"context parallelism must divide seq_len ({shape.seq_len})",
                         field="parallelism.cp", value=cp)
    widths = {"heads": spec.heads, "ffn_hidden": spec.ffn_hidden}
    if spec.mla is None:
        widths["kv_heads"] = spec.kv_heads
    if spec.moe is not None:
        widths["moe.expert_ffn_hidden"] = spec.moe.expert_ffn_hidden
        if spec.moe.shared_experts:
            widths["moe.shared_ffn_hidden"] = spec.moe.shared_ffn_hidden
    for what, n in widths.items():
        if n % tp:
            raise InputError(f"tensor parallelism must divide model {what} ({n})",
                             field="parallelism.tp", value=tp)
    if shape.etp is not None:
        etp = _positive_int(shape.etp, "parallelism.etp")
        if spec.moe is None:
            raise InputError(f"expert tensor parallelism needs an MoE model ({spec.name} is "
                             "dense)", field="parallelism.etp", value=etp)
        if spec.moe.expert_ffn_hidden % etp:
            raise InputError(f"expert tensor parallelism must divide the expert width "
                             f"({spec.moe.expert_ffn_hidden})", field="parallelism.etp",
                             value=etp)
        if tp > 1 and not shape.sequence_parallel:
            raise InputError("MoE parallel folding with tp > 1 needs sequence parallelism "
                             "(as in Megatron-Core)", field="parallelism.sequence_parallel",
                             value=False)
    if ep > 1:
        if spec.moe is None:
            raise InputError(f"expert parallelism needs an MoE model ({spec.name} is dense)",
                             field="parallelism.ep", value=ep)
        if spec.moe.experts % ep:
            raise InputError(f"expert parallelism must divide the experts "
                             f"({spec.moe.experts})", field="parallelism.ep", value=ep)


def check_causal_fraction(f: float) -> float:
    """Validate the fraction of the full ``s x s`` attention square computed."""
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < f <= 1.0:
        raise InputError("expected a number in (0, 1]",
                         field="causal_attention_flop_fraction", value=f)
    return float(f)
