"""The weight matrices of one transformer layer, as (in, out, tensor-parallel split).

One list feeds both the parameter count and the per-op FLOPs, so the two can
never disagree. Tensor-parallel splits follow Megatron-LM (Shoeybi et al.
2019): "col" matrices split their output dimension by ``tp`` (QKV, FC1),
"row" matrices split their input dimension (attention output projection,
FC2), "rep" matrices are replicated on every tensor-parallel rank (the MoE
router; the small MLA down-projections, as in DeepSeek's and Megatron-core's
MLA implementations).
"""
from __future__ import annotations

from dataclasses import dataclass

from workloads.models.spec import ModelSpec


@dataclass(frozen=True, slots=True)
class Linear:
    """A ``k x n`` weight (``k`` inputs, ``n`` outputs) applied to every token.

    ``split`` is "col", "row" or "rep" (see module doc); ``bias`` says whether
    it carries an ``n``-vector bias.
    """

    name: str
    k: int
    n: int
    split: str
    bias: bool = False

    @property
    def weights(self) -> int:
        return self.k * self.n + (self.n if self.bias else 0)

    def weights_on_rank(self, tp: int) -> float:
        """Parameters of this matrix held by one of ``tp`` ranks."""
        w = float(self.k * self.n)
        b = float(self.n) if self.bias else 0.0
        if self.split == "col":
            return (w + b) / tp
        if self.split == "row":
            return w / tp + b          # a row-parallel bias is added after the reduce
        return w + b

    def local(self, tp: int) -> tuple[float, float]:
        """(k, n) of the slice one of ``tp`` ranks multiplies by."""
        if self.split == "col":
            return float(self.k), self.n / tp
        if self.split == "row":
            return self.k / tp, float(self.n)
        return float(self.k), float(self.n)


def attention_linears(spec: ModelSpec) -> list[Linear]:
    """The attention block's matrices in execution order."""
    h, b = spec.hidden, spec.bias
    a = spec.heads
    m = spec.mla
    if m is None:
        qkv = (a + 2 * spec.kv_heads) * spec.head_dim
        return [Linear("qkv", h, qkv, "col", b), Linear("proj", a * spec.head_dim, h, "row", b)]
    out = []
    if m.q_lora_rank:
        out += [Linear("q_down", h, m.q_lora_rank, "rep", b),
                Linear("q_up", m.q_lora_rank, a * m.qk_head_dim, "col", b)]
    else:
        out.append(Linear("q", h, a * m.qk_head_dim, "col", b))
    out += [Linear("kv_down", h, m.kv_lora_rank + m.qk_rope_head_dim, "rep", b),
            Linear("kv_up", m.kv_lora_rank, a * (m.qk_nope_head_dim + m.v_head_dim), "col", b),
            Linear("proj", a * m.v_head_dim, h, "row", b)]
    return out


def mlp_linears(spec: ModelSpec, ffn: int, prefix: str = "") -> list[Linear]:
    """FC1 (gate and up fused for SwiGLU) and FC2 of an MLP of width ``ffn``."""
    width = 2 * ffn if spec.activation == "swiglu" else ffn
    return [Linear(prefix + "fc1", spec.hidden, width, "col", spec.bias),
            Linear(prefix + "fc2", ffn, spec.hidden, "row", spec.bias)]


def router_linear(spec: ModelSpec) -> Linear:
    """The MoE gate: hidden -> one logit per routed expert (no bias)."""
    return Linear("router", spec.hidden, spec.moe.experts, "rep", False)


def norm_params(spec: ModelSpec, width: int) -> int:
    """Parameters of one norm over ``width`` features (LayerNorm: scale and shift)."""
    return 2 * width if spec.norm == "layernorm" else width


def attention_core_dims(spec: ModelSpec) -> tuple[int, int, int]:
    """(query heads, query/key dim per head, value dim per head)."""
    if spec.mla is not None:
        return spec.heads, spec.mla.qk_head_dim, spec.mla.v_head_dim
    return spec.heads, spec.head_dim, spec.head_dim
