"""Transformer model shapes: :class:`ModelSpec` and its MoE / MLA parts.

A spec is pure data (sizes are counts, not bytes).
:func:`workloads.models.config.get_model` builds one from a preset name
(``presets.yaml``) or from an inline dict with the scenario keys of the design
(``layers, hidden, heads, kv_heads, ffn_hidden, vocab, seq_len, moe: {experts,
top_k}``); every bad key or value raises :class:`~workloads.errors.InputError`
naming the field.

Defaults for inline dicts follow the Megatron GPT layout (Narayanan et al.,
SC'21): ``kv_heads = heads``, ``head_dim = hidden / heads``,
``ffn_hidden = 4 * hidden``, GELU, LayerNorm, biases, learned position
embeddings, tied input/output embeddings, dropout, vocab 51200, seq_len 2048.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
import yaml

from workloads.errors import InputError

PRESETS_FILE = Path(__file__).with_name("presets.yaml")

ACTIVATIONS = ("gelu", "swiglu")
NORMS = ("layernorm", "rmsnorm")
POSITIONS = ("learned", "rope")


def _validate_fields(obj: object, where: str, positive: tuple[str, ...],
                     non_negative: tuple[str, ...] = ()) -> None:
    """Constructor checks shared by the spec dataclasses."""
    for name in positive + non_negative:
        v = getattr(obj, name)
        low = 1 if name in positive else 0
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise InputError(f"expected an integer >= {low}", field=f"{where}.{name}", value=v)


@dataclass(frozen=True)
class MoESpec:
    """Mixture-of-experts feed-forward layers.

    ``experts`` routed experts of hidden size ``expert_ffn_hidden``, each token
    goes to ``top_k`` of them; ``shared_experts`` always-on experts of size
    ``shared_ffn_hidden``. Layers ``i < first_dense_layers`` are dense; after
    them every ``layer_freq``-th layer is MoE (``(i - first_dense_layers) %
    layer_freq == 0``). ``imbalance`` (>= 1) is the ratio of the busiest expert-
    parallel rank's routed tokens to the mean (1.0 = perfectly balanced).
    ``capacity_factor`` (None = dropless): each expert takes at most that many
    times its mean share of tokens and drops the rest (GShard, Lepikhin et al.
    2020; Megatron-Core ``moe_expert_capacity_factor`` with token dropping), so
    the busiest rank processes ``min(imbalance, capacity_factor)`` times the
    mean (:attr:`load`).
    """

    experts: int
    top_k: int
    expert_ffn_hidden: int
    shared_experts: int = 0
    shared_ffn_hidden: int = 0
    first_dense_layers: int = 0
    layer_freq: int = 1
    imbalance: float = 1.0
    capacity_factor: float | None = None

    @property
    def load(self) -> float:
        """Routed rows of the busiest expert-parallel rank over the mean."""
        if self.capacity_factor is None:
            return self.imbalance
        return min(self.imbalance, self.capacity_factor)

    def __post_init__(self):
        _validate_fields(self, "model.moe", ("experts", "top_k", "expert_ffn_hidden",
                                             "shared_ffn_hidden", "layer_freq"),
                         ("shared_experts", "first_dense_layers"))
        if self.top_k > self.experts:
            raise InputError(f"top_k exceeds the number of experts ({self.experts})",
                             field="model.moe.top_k", value=self.top_k)
        if not 1.0 <= self.imbalance < float("inf"):
            raise InputError("expected a number >= 1 (busiest rank / mean tokens)",
                             field="model.moe.imbalance", value=self.imbalance)


@dataclass(frozen=True)
class MLASpec:
    """Multi-head latent attention (DeepSeek-V2/V3; DeepSeek-AI 2024, sec. 2.1.1).

    Queries go through a rank-``q_lora_rank`` bottleneck (0 = a plain
    projection), keys/values through a shared rank-``kv_lora_rank`` latent plus
    a ``qk_rope_head_dim`` rotary key shared by all heads. Per head the
    query/key dimension is ``qk_nope_head_dim + qk_rope_head_dim`` and the
    value dimension ``v_head_dim``.
    """

    q_lora_rank: int
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int

    def __post_init__(self):
        _validate_fields(self, "model.mla", ("kv_lora_rank", "qk_nope_head_dim", "v_head_dim"),
                         ("q_lora_rank", "qk_rope_head_dim"))

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer.

    ``head_dim`` is the per-head query/key/value size (GQA: ``kv_heads`` key/
    value heads shared by ``heads`` query heads); ``seq_len`` is the context
    length the preset was trained with (tokens).
    """

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_hidden: int
    vocab: int
    seq_len: int
    activation: str = "gelu"
    norm: str = "layernorm"
    tied_embeddings: bool = True
    position: str = "learned"
    bias: bool = True
    dropout: bool = True
    moe: MoESpec | None = None
    mla: MLASpec | None = None

    def __post_init__(self):
        _validate_fields(self, "model", ("layers", "hidden", "heads", "kv_heads", "head_dim",
                                         "ffn_hidden", "vocab", "seq_len"))
        for name, options in (("activation", ACTIVATIONS), ("norm", NORMS),
                              ("position", POSITIONS)):
            if getattr(self, name) not in options:
                raise InputError(f"expected one of {', '.join(options)}",
                                 field=f"model.{name}", value=getattr(self, name))
        if self.heads % self.kv_heads:
            raise InputError(f"heads ({self.heads}) must be a multiple of kv_heads",
                             field="model.kv_heads", value=self.kv_heads)

    def is_moe_layer(self, layer: int) -> bool:
        """True when layer ``layer`` (0-based) has a mixture-of-experts MLP."""
        m = self.moe
        if m is None or layer < m.first_dense_layers:
            return False
        return (layer - m.first_dense_layers) % m.layer_freq == 0

    @property
    def moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.layers))

    @property
    def attn_dim(self) -> int:
        """Width of the concatenated attention heads (queries), = a * head_dim."""
        return self.heads * self.head_dim


@functools.lru_cache(maxsize=1)
def preset_table() -> dict[str, dict]:
    """The model presets of ``presets.yaml``: name -> the keys of an inline model."""
    return yaml.safe_load(PRESETS_FILE.read_text())["models"]


def preset_names() -> list[str]:
    """Names of the model presets in ``presets.yaml``."""
    return sorted(preset_table())
