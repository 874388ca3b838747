"""The scenario's ``model`` key as a schema: a preset name, a preset with
overrides, or an inline architecture — validated into a :class:`ModelSpec`.

``{preset: NAME, **overrides}`` merges the overrides into the preset, nested
sections key by key, so ``--set model.moe.imbalance=2`` on a MoE preset keeps
the preset's experts. Defaults of an inline model follow the Megatron GPT
layout (see :mod:`workloads.models.spec`). Errors are
:class:`~workloads.errors.InputError` naming the field (``model.moe.top_k``).
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError, model_validator

from workloads.errors import InputError
from workloads.models.spec import (ACTIVATIONS, NORMS, POSITIONS, MLASpec, ModelSpec, MoESpec,
                                   preset_table)
from workloads.schema import (Float, Section, at_most, field_error, one_of, pydantic_error,
                              suggest)

Count = Annotated[int, Field(ge=1)]
Count0 = Annotated[int, Field(ge=0)]
Layers = Annotated[int, Field(ge=1), at_most(10_000, "the generator builds every layer's ops; "
                                             "published models have at most a few hundred")]


class MoEConfig(Section):
    """``model.moe``: routed experts, top-k, shared experts, dense layers, imbalance."""

    experts: Count
    top_k: Count
    expert_ffn_hidden: Count | None = Field(None, description="default: ffn_hidden")
    shared_experts: Count0 = 0
    shared_ffn_hidden: Count | None = Field(None, description="default: expert_ffn_hidden")
    first_dense_layers: Count0 = 0
    layer_freq: Count = 1
    imbalance: Float = Field(1.0, ge=1.0, description="busiest expert-parallel rank's routed "
                             "tokens / mean (1: balanced)")
    capacity_factor: Float | None = Field(None, gt=0, description="tokens per expert / mean "
                                          "before dropping (None: dropless)")

    @model_validator(mode="after")
    def _top_k(self):
        if self.top_k > self.experts:
            raise field_error("top_k", self.top_k,
                              f"top_k exceeds the number of experts ({self.experts})")
        return self

    def spec(self, ffn_hidden: int) -> MoESpec:
        expert = self.expert_ffn_hidden or ffn_hidden
        return MoESpec(experts=self.experts, top_k=self.top_k, expert_ffn_hidden=expert,
                       shared_experts=self.shared_experts,
                       shared_ffn_hidden=self.shared_ffn_hidden or expert,
                       first_dense_layers=self.first_dense_layers, layer_freq=self.layer_freq,
                       imbalance=float(self.imbalance),
                       capacity_factor=None if self.capacity_factor is None
                       else float(self.capacity_factor))


class MLAConfig(Section):
    """``model.mla``: multi-head latent attention (DeepSeek-V2/V3)."""

    q_lora_rank: Count0 = 0
    kv_lora_rank: Count
    qk_nope_head_dim: Count
    qk_rope_head_dim: Count0 = 0
    v_head_dim: Count

    def spec(self) -> MLASpec:
        return MLASpec(**self.model_dump())


class ModelConfig(Section):
    """``model``: ``NAME``, ``{preset: NAME, ...overrides}`` or an inline architecture."""

    preset: str | None = Field(None, description="model preset the other keys override")
    name: str | None = None
    source: str | None = Field(None, description="where the figures come from (free text)")
    layers: Layers
    hidden: Count
    heads: Count
    kv_heads: Count | None = Field(None, description="default: heads (no GQA)")
    head_dim: Count | None = Field(None, description="default: hidden / heads")
    ffn_hidden: Count | None = Field(None, description="default: 4 * hidden")
    vocab: Count = 51200
    seq_len: Count = 2048
    activation: Annotated[str, one_of(lambda: ACTIVATIONS, "activation")] = "gelu"
    norm: Annotated[str, one_of(lambda: NORMS, "norm")] = "layernorm"
    tied_embeddings: bool = True
    position: Annotated[str, one_of(lambda: POSITIONS, "position")] = "learned"
    bias: bool = True
    dropout: bool = True
    moe: MoEConfig | None = None
    mla: MLAConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _merge_preset(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"preset": data}
        if not isinstance(data, dict) or data.get("preset") is None:
            return data
        table = preset_table()
        name = data["preset"]
        if name not in table:
            raise field_error("preset", name, "unknown model preset"
                              + suggest(name, sorted(table)) + f" (known: {', '.join(sorted(table))})")
        merged = {k: dict(v) if isinstance(v, dict) else v for k, v in table[name].items()}
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return merged

    @model_validator(mode="after")
    def _heads(self):
        if self.head_dim is None and self.hidden % self.heads:
            raise field_error("hidden", self.hidden, f"hidden is not divisible by heads "
                              f"({self.heads}); give head_dim")
        if self.kv_heads is not None and self.heads % self.kv_heads:
            raise field_error("kv_heads", self.kv_heads,
                              f"heads ({self.heads}) must be a multiple of kv_heads")
        return self

    def spec(self) -> ModelSpec:
        """The validated architecture."""
        ffn = self.ffn_hidden or 4 * self.hidden
        return ModelSpec(
            name=self.name or self.preset or "custom", layers=self.layers, hidden=self.hidden,
            heads=self.heads, kv_heads=self.kv_heads or self.heads,
            head_dim=self.head_dim or self.hidden // self.heads, ffn_hidden=ffn,
            vocab=self.vocab, seq_len=self.seq_len, activation=self.activation, norm=self.norm,
            tied_embeddings=self.tied_embeddings, position=self.position, bias=self.bias,
            dropout=self.dropout, moe=self.moe.spec(ffn) if self.moe else None,
            mla=self.mla.spec() if self.mla else None)


def parse_model(value: Any, *, file: str | None = None, where: str = "model") -> ModelConfig:
    """Validate the ``model`` key (raises :class:`InputError` naming ``where.field``)."""
    if not isinstance(value, (str, dict)):
        raise InputError("expected a preset name or a mapping", file=file, field=where,
                         value=value)
    try:
        return ModelConfig.model_validate(value)
    except ValidationError as e:
        raise pydantic_error(e, file, prefix=where) from None


def get_model(name_or_dict: str | dict | ModelSpec | ModelConfig, *, file: str | None = None,
              where: str = "model") -> ModelSpec:
    """A :class:`ModelSpec` from a preset name, ``{preset: NAME, **overrides}``,
    an inline dict, a :class:`ModelConfig`, or a spec (returned as is)."""
    if isinstance(name_or_dict, ModelSpec):
        return name_or_dict
    if isinstance(name_or_dict, ModelConfig):
        return name_or_dict.spec()
    return parse_model(name_or_dict, file=file, where=where).spec()
