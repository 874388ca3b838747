"""Training FLOPs per token: model FLOPs (for MFU) and hardware FLOPs (for HFU).

Exact formula, per token of a sequence of ``s`` tokens, counting a multiply-
add as 2 FLOPs and the backward as twice the forward (Narayanan et al., SC'21,
sec. 5.1)::

    model = 3 * (2 G + L_attn * 2 s a (d_qk + d_v) f)

* ``G`` = :func:`~workloads.models.params.gemm_params_per_token`: the weights
  of every matrix a token meets — all layer matrices (routed experts only
  ``top_k`` of them, plus router and shared experts) and the ``V h`` output
  projection; biases, norms and the input lookup are excluded;
* ``2 s a (d_qk + d_v) f`` = the attention core per token and layer (QK^T and
  AV over ``s`` keys, ``a`` heads, per-head query/key and value widths),
  ``f`` = ``causal_attention_flop_fraction`` (1.0: full square, as Megatron's
  formulas count it);
* ``L_attn`` = number of layers.

For the GPT layout (``G = 12 l h^2 + V h``, ``d_qk = d_v = h / a``) this is
``72 l h^2 + 12 l s h + 6 V h``, i.e. Narayanan et al.'s
``72 B s l h^2 (1 + s/(6h)) + 6 B s h V`` per iteration divided by ``B s``.

Hardware FLOPs add what recomputation re-runs: "full" one more forward of
every layer (``2 (G - V h) + L_attn * 2 s a (d_qk + d_v) f``; the output layer
is not recomputed), giving Narayanan et al.'s
``96 B s l h^2 (1 + s/(6h) + V/(16 l h))`` for GPT; "selective" one more
attention core per layer (Korthikanti et al. 2022, sec. 5).
"""
from __future__ import annotations

from workloads.errors import InputError
from workloads.models.linears import attention_core_dims
from workloads.models.params import gemm_params_per_token
from workloads.models.shape_check import RECOMPUTE, check_causal_fraction
from workloads.models.spec import ModelSpec


def _seq(spec: ModelSpec, seq_len: int | None) -> int:
    s = spec.seq_len if seq_len is None else seq_len
    if isinstance(s, bool) or not isinstance(s, int) or s < 1:
        raise InputError("expected a positive integer", field="model.seq_len", value=s)
    return s


def attention_flops_per_token(spec: ModelSpec, seq_len: int | None = None, *,
                              causal_attention_flop_fraction: float = 1.0) -> float:
    """Forward attention-core FLOPs per token summed over all layers."""
    s = _seq(spec, seq_len)
    f = check_causal_fraction(causal_attention_flop_fraction)
    heads, dqk, dv = attention_core_dims(spec)
    return spec.layers * 2.0 * s * heads * (dqk + dv) * f


def forward_flops_per_token(spec: ModelSpec, seq_len: int | None = None, *,
                            causal_attention_flop_fraction: float = 1.0) -> float:
    """Forward FLOPs per token: ``2 G`` + attention cores."""
    return 2.0 * gemm_params_per_token(spec) + attention_flops_per_token(
        spec, seq_len, causal_attention_flop_fraction=causal_attention_flop_fraction)


def model_flops_per_token(spec: ModelSpec, seq_len: int | None = None, *,
                          causal_attention_flop_fraction: float = 1.0) -> float:
    """Training FLOPs per token without recomputation: 3x the forward."""
    return 3.0 * forward_flops_per_token(
        spec, seq_len, causal_attention_flop_fraction=causal_attention_flop_fraction)


def hardware_flops_per_token(spec: ModelSpec, seq_len: int | None = None,
                             recompute: str = "none", *,
                             causal_attention_flop_fraction: float = 1.0) -> float:
    """Training FLOPs per token the GPUs execute, recomputation included."""
    if recompute not in RECOMPUTE:
        raise InputError(f"expected one of {', '.join(RECOMPUTE)}",
                         field="parallelism.recompute", value=recompute)
    kw = {"causal_attention_flop_fraction": causal_attention_flop_fraction}
    total = model_flops_per_token(spec, seq_len, **kw)
    attn = attention_flops_per_token(spec, seq_len, **kw)
    if recompute == "full":
        total += 2.0 * (gemm_params_per_token(spec) - spec.vocab * spec.hidden) + attn
    elif recompute == "selective":
        total += attn
    return total
