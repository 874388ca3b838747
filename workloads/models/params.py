"""Parameter counts: per layer, per rank, whole model, and active per token.

Counts follow the matrices of :mod:`workloads.models.linears` plus biases,
norms and embeddings. For the Megatron GPT layout a layer holds
``12 h^2 + 13 h`` parameters and the model
``12 l h^2 (1 + 13/(12 h) + (V + s)/(12 l h))`` (Narayanan et al., SC'21,
sec. 5.1) — tested against that closed form.
"""
from __future__ import annotations

from workloads.errors import InputError
from workloads.models.linears import (Linear, attention_linears, mlp_linears, norm_params,
                                      router_linear)
from workloads.models.spec import ModelSpec


def representative_layer(spec: ModelSpec) -> int:
    """The layer index used when none is given: the first MoE layer, else 0."""
    for i in range(spec.layers):
        if spec.is_moe_layer(i):
            return i
    return 0


def layer_index(spec: ModelSpec, layer: int | None) -> int:
    if layer is None:
        return representative_layer(spec)
    if not 0 <= layer < spec.layers:
        raise InputError(f"layer index out of range (model has {spec.layers})",
                         field="layer", value=layer)
    return layer


def dense_linears(spec: ModelSpec, layer: int | None = None) -> list[Linear]:
    """Every matrix of a layer that each token uses (all but the routed experts)."""
    i = layer_index(spec, layer)
    out = attention_linears(spec)
    if spec.is_moe_layer(i):
        m = spec.moe
        out.append(router_linear(spec))
        for _ in range(m.shared_experts):
            out += mlp_linears(spec, m.shared_ffn_hidden, "shared_")
    else:
        out += mlp_linears(spec, spec.ffn_hidden)
    return out


def _layer_norm_params(spec: ModelSpec) -> int:
    n = 2 * norm_params(spec, spec.hidden)
    if spec.mla is not None:
        n += norm_params(spec, spec.mla.kv_lora_rank)
        if spec.mla.q_lora_rank:
            n += norm_params(spec, spec.mla.q_lora_rank)
    return n


def expert_params(spec: ModelSpec) -> int:
    """Parameters of ONE routed expert."""
    return sum(l.weights for l in mlp_linears(spec, spec.moe.expert_ffn_hidden))


def layer_params_split(spec: ModelSpec, layer: int | None = None) -> tuple[float, float]:
    """(dense, expert) parameters of one whole layer (no parallel splitting).

    "expert" is the routed experts (sharded by expert parallelism); "dense" is
    everything else: attention, norms, dense MLP or router + shared experts.
    """
    i = layer_index(spec, layer)
    dense = sum(l.weights for l in dense_linears(spec, i)) + _layer_norm_params(spec)
    expert = spec.moe.experts * expert_params(spec) if spec.is_moe_layer(i) else 0
    return float(dense), float(expert)


def layer_params_on_rank(spec: ModelSpec, ep: int = 1, *, tp: int = 1,
                         layer: int | None = None, etp: int | None = None) -> tuple[float, float]:
    """(dense, expert) parameters of one layer held by one rank of a
    ``tp`` x ``ep`` layout.

    Column/row-parallel matrices are split by ``tp`` (row-parallel biases,
    replicated matrices and norms are not); routed experts are split by
    ``ep`` and, inside each expert, by ``etp`` (expert tensor parallelism;
    None = tp, the layout without MoE parallel folding).
    """
    i = layer_index(spec, layer)
    dense = sum(l.weights_on_rank(tp) for l in dense_linears(spec, i))
    dense += _layer_norm_params(spec)
    expert = 0.0
    if spec.is_moe_layer(i):
        per_expert = sum(l.weights_on_rank(tp if etp is None else etp)
                         for l in mlp_linears(spec, spec.moe.expert_ffn_hidden))
        expert = spec.moe.experts / ep * per_expert
    return float(dense), expert


def layer_params(spec: ModelSpec, ep: int = 1, *, tp: int = 1,
                 layer: int | None = None) -> float:
    """Parameters of one layer held by one rank (see :func:`layer_params_on_rank`);
    ``layer_params(spec)`` is the whole layer."""
    return sum(layer_params_on_rank(spec, ep, tp=tp, layer=layer))


def embedding_params(spec: ModelSpec) -> float:
    """Input word embedding ``V h`` plus learned positions ``s h`` (if any)."""
    pos = spec.seq_len * spec.hidden if spec.position == "learned" else 0
    return float(spec.vocab * spec.hidden + pos)


def head_params(spec: ModelSpec) -> float:
    """Final norm plus the output projection (0 extra when tied to the input)."""
    out = 0 if spec.tied_embeddings else spec.vocab * spec.hidden
    return float(norm_params(spec, spec.hidden) + out)


def param_count(spec: ModelSpec) -> float:
    """All parameters of the model (tied embeddings counted once)."""
    layers = sum(sum(layer_params_split(spec, i)) for i in range(spec.layers))
    return layers + embedding_params(spec) + head_params(spec)


def active_param_count(spec: ModelSpec) -> float:
    """Parameters one token touches: routed experts counted ``top_k / experts``."""
    total = embedding_params(spec) + head_params(spec)
    for i in range(spec.layers):
        dense, expert = layer_params_split(spec, i)
        if expert:
            expert *= spec.moe.top_k / spec.moe.experts
        total += dense + expert
    return total


def gemm_params_per_token(spec: ModelSpec) -> float:
    """Weights of the matrices one token is multiplied by, biases and norms
    excluded, output projection included (tied or not), input lookup excluded.

    Forward GEMM FLOPs per token are exactly twice this.
    """
    total = float(spec.vocab * spec.hidden)
    for i in range(spec.layers):
        total += sum(l.k * l.n for l in dense_linears(spec, i))
        if spec.is_moe_layer(i):
            per_expert = sum(l.k * l.n for l in mlp_linears(spec, spec.moe.expert_ffn_hidden))
            total += spec.moe.top_k * per_expert
    return total
