"""Transformer model shapes: :class:`ModelSpec` and its MoE / MLA parts.

A spec is pure data (sizes are counts, not bytes). :func:`get_model` builds one
from a preset name (``presets.yaml``) or from an inline dict with the scenario
keys of the design (``layers, hidden, heads, kv_heads, ffn_hidden, vocab,
seq_len, moe: {experts, top_k}``); every bad key or value raises
:class:`~workloads.errors.InputError` naming the field.

Defaults for inline dicts follow the Megatron GPT layout (Narayanan et al.,
SC'21): ``kv_heads = heads``, ``head_dim = hidden / heads``,
``ffn_hidden = 4 * hidden``, GELU, LayerNorm, biases, learned position
embeddings, tied input/output embeddings, dropout, vocab 51200, seq_len 2048.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

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


# ---------------------------------------------------------------------------
# Building specs from dicts
# ---------------------------------------------------------------------------

def _int(d: dict, key: str, where: str, file: str | None, default: Any = ...,
         minimum: int = 1) -> int:
    if key not in d:
        if default is ...:
            raise InputError("missing required key", file=file, field=f"{where}.{key}")
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != int(v) \
            or v < minimum:
        raise InputError(f"expected an integer >= {minimum}", file=file,
                         field=f"{where}.{key}", value=v)
    return int(v)


def _choice(d: dict, key: str, options: tuple, where: str, file: str | None,
            default: Any) -> Any:
    v = d.get(key, default)
    if v not in options:
        raise InputError(f"expected one of {', '.join(map(str, options))}", file=file,
                         field=f"{where}.{key}", value=v)
    return v


def _check_keys(d: Any, known: set[str], where: str, file: str | None) -> None:
    if not isinstance(d, dict):
        raise InputError("expected a mapping", file=file, field=where, value=d)
    unknown = sorted(set(d) - known)
    if unknown:
        raise InputError(f"unknown key (known: {', '.join(sorted(known))})", file=file,
                         field=f"{where}.{unknown[0]}", value=d[unknown[0]])


_MOE_KEYS = {f.name for f in fields(MoESpec)}
_MLA_KEYS = {f.name for f in fields(MLASpec)}
_MODEL_KEYS = {f.name for f in fields(ModelSpec)} | {"preset", "source"}


def _moe_from_dict(d: Any, ffn: int, where: str, file: str | None) -> MoESpec:
    _check_keys(d, _MOE_KEYS, where, file)
    experts = _int(d, "experts", where, file)
    top_k = _int(d, "top_k", where, file)
    if top_k > experts:
        raise InputError(f"top_k exceeds the number of experts ({experts})", file=file,
                         field=f"{where}.top_k", value=top_k)
    expert_ffn = _int(d, "expert_ffn_hidden", where, file, ffn)
    imbalance = d.get("imbalance", 1.0)
    if isinstance(imbalance, bool) or not isinstance(imbalance, (int, float)) \
            or not 1.0 <= imbalance < float("inf"):
        raise InputError("expected a number >= 1 (busiest rank / mean tokens)", file=file,
                         field=f"{where}.imbalance", value=imbalance)
    cf = d.get("capacity_factor")
    if cf is not None and (isinstance(cf, bool) or not isinstance(cf, (int, float))
                           or not 0.0 < cf < float("inf")):
        raise InputError("expected a positive number (tokens per expert / mean) or null "
                         "(dropless)", file=file, field=f"{where}.capacity_factor", value=cf)
    return MoESpec(
        experts=experts, top_k=top_k, expert_ffn_hidden=expert_ffn,
        shared_experts=_int(d, "shared_experts", where, file, 0, minimum=0),
        shared_ffn_hidden=_int(d, "shared_ffn_hidden", where, file, expert_ffn),
        first_dense_layers=_int(d, "first_dense_layers", where, file, 0, minimum=0),
        layer_freq=_int(d, "layer_freq", where, file, 1),
        imbalance=float(imbalance),
        capacity_factor=None if cf is None else float(cf))


def _mla_from_dict(d: Any, where: str, file: str | None) -> MLASpec:
    _check_keys(d, _MLA_KEYS, where, file)
    return MLASpec(q_lora_rank=_int(d, "q_lora_rank", where, file, 0, minimum=0),
                   kv_lora_rank=_int(d, "kv_lora_rank", where, file),
                   qk_nope_head_dim=_int(d, "qk_nope_head_dim", where, file),
                   qk_rope_head_dim=_int(d, "qk_rope_head_dim", where, file, 0, minimum=0),
                   v_head_dim=_int(d, "v_head_dim", where, file))


def _bool(d: dict, key: str, where: str, file: str | None, default: bool) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise InputError("expected true or false", file=file, field=f"{where}.{key}",
                         value=v)
    return v


def spec_from_dict(d: Any, *, where: str = "model", file: str | None = None,
                   name: str = "custom") -> ModelSpec:
    """Validate an inline model dict (no ``preset`` key) into a :class:`ModelSpec`."""
    _check_keys(d, _MODEL_KEYS - {"preset"}, where, file)
    layers = _int(d, "layers", where, file)
    hidden = _int(d, "hidden", where, file)
    heads = _int(d, "heads", where, file)
    if "head_dim" not in d and hidden % heads:
        raise InputError(f"hidden is not divisible by heads ({heads}); give head_dim",
                         file=file, field=f"{where}.hidden", value=hidden)
    head_dim = _int(d, "head_dim", where, file, hidden // heads)
    kv_heads = _int(d, "kv_heads", where, file, heads)
    if heads % kv_heads:
        raise InputError(f"heads ({heads}) must be a multiple of kv_heads", file=file,
                         field=f"{where}.kv_heads", value=kv_heads)
    ffn = _int(d, "ffn_hidden", where, file, 4 * hidden)
    moe = d.get("moe")
    mla = d.get("mla")
    return ModelSpec(
        name=str(d.get("name", name)), layers=layers, hidden=hidden, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, ffn_hidden=ffn,
        vocab=_int(d, "vocab", where, file, 51200),
        seq_len=_int(d, "seq_len", where, file, 2048),
        activation=_choice(d, "activation", ACTIVATIONS, where, file, "gelu"),
        norm=_choice(d, "norm", NORMS, where, file, "layernorm"),
        tied_embeddings=_bool(d, "tied_embeddings", where, file, True),
        position=_choice(d, "position", POSITIONS, where, file, "learned"),
        bias=_bool(d, "bias", where, file, True),
        dropout=_bool(d, "dropout", where, file, True),
        moe=None if moe is None else _moe_from_dict(moe, ffn, f"{where}.moe", file),
        mla=None if mla is None else _mla_from_dict(mla, f"{where}.mla", file))


@functools.lru_cache(maxsize=1)
def _preset_table() -> dict[str, dict]:
    data = yaml.safe_load(PRESETS_FILE.read_text())
    return data["models"]


def preset_names() -> list[str]:
    """Names of the model presets in ``presets.yaml``."""
    return sorted(_preset_table())


def get_model(name_or_dict: str | dict | ModelSpec, *, file: str | None = None,
              where: str = "model") -> ModelSpec:
    """A :class:`ModelSpec` from a preset name, ``{preset: NAME, **overrides}``,
    an inline dict, or a spec (returned as is)."""
    if isinstance(name_or_dict, ModelSpec):
        return name_or_dict
    table = _preset_table()
    if isinstance(name_or_dict, str):
        name_or_dict = {"preset": name_or_dict}
    if not isinstance(name_or_dict, dict):
        raise InputError("expected a preset name or a mapping", file=file, field=where,
                         value=name_or_dict)
    d = dict(name_or_dict)
    if "preset" in d:
        _check_keys(d, _MODEL_KEYS, where, file)
        name = d.pop("preset")
        if name not in table:
            raise InputError(f"unknown model preset (known: {', '.join(sorted(table))})",
                             file=file, field=f"{where}.preset", value=name)
        merged = dict(table[name])
        merged.update(d)
        return spec_from_dict(merged, where=where, file=file, name=str(name))
    return spec_from_dict(d, where=where, file=file)
