"""Where the generator gets per-micro-batch work items: the :class:`Costs`
protocol and its implementation on top of :mod:`workloads.models`.

The generator only needs this narrow view of a model, so tests (and users with
their own cost models) can hand it any object with these members.
"""
from __future__ import annotations

from typing import Any, Protocol

from workloads.models.items import Item, Shape


class Costs(Protocol):
    """Per-rank work items of one model.

    Attributes: ``name``, ``layers``, ``heads``, ``hidden`` (ints) and
    ``experts`` (routed experts per MoE layer, 0 for a dense model).
    Item lists are for ONE micro-batch on ONE rank of the given shape; params
    are per rank (after tensor and expert splitting), in elements.
    """

    name: str
    layers: int
    heads: int
    hidden: int
    experts: int

    def layer_forward(self, layer: int, shape: Shape) -> list[Item]: ...
    def layer_backward(self, layer: int, shape: Shape) -> tuple[list[Item], list[Item]]: ...
    def layer_recompute(self, layer: int, shape: Shape) -> list[Item]: ...
    def embedding_forward(self, shape: Shape) -> list[Item]: ...
    def embedding_backward(self, shape: Shape) -> list[Item]: ...
    def head_forward(self, shape: Shape) -> list[Item]: ...
    def head_backward(self, shape: Shape) -> list[Item]: ...
    def optimizer_items(self, params_on_rank: float, dtype_bytes: int) -> list[Item]: ...
    def layer_params(self, layer: int, tp: int, ep: int) -> tuple[float, float]:
        """(dense, expert) parameters of ``layer`` held by one rank."""
    def embedding_params(self, tp: int) -> float: ...
    def head_params(self, tp: int, separate_stage: bool) -> float:
        """Output-side parameters on the last stage; ``separate_stage`` is True
        when the embedding lives on another stage (a tied output matrix is then
        a copy held by the last stage)."""
    def tied_output_params(self, tp: int) -> float:
        """Per-rank parameters the output layer shares with the input embedding
        (0 when they are not tied)."""
    def model_flops_per_step(self, tokens: int, seq_len: int) -> float | None:
        """Model FLOPs (no recomputation) of ``tokens`` tokens, or None."""


class ModelCosts:
    """:class:`Costs` backed by :mod:`workloads.models` for a ``ModelSpec``.

    Layers may differ (MoE models with leading dense layers): items are asked
    for per layer and cached per (function, dense or MoE layer, shape).
    Parameters per rank follow ``layer_params_on_rank``; the embedding
    (vocab-parallel) and the output layer are split by ``tp``.
    """

    def __init__(self, spec: Any):
        import workloads.models as models
        self.spec = spec
        self._m = models
        self.name = spec.name
        self.layers = int(spec.layers)
        self.heads = int(spec.heads)
        self.hidden = int(spec.hidden)
        self.experts = int(spec.moe.experts) if spec.moe is not None else 0
        self._cache: dict[tuple, Any] = {}

    def _layer_call(self, fname: str, layer: int, shape: Shape) -> Any:
        key = (fname, self.spec.is_moe_layer(layer), shape)
        if key not in self._cache:
            self._cache[key] = getattr(self._m, fname)(self.spec, shape, layer=layer)
        return self._cache[key]

    def layer_forward(self, layer: int, shape: Shape) -> list[Item]:
        return self._layer_call("layer_forward", layer, shape)

    def layer_backward(self, layer: int, shape: Shape) -> tuple[list[Item], list[Item]]:
        return self._layer_call("layer_backward", layer, shape)

    def layer_recompute(self, layer: int, shape: Shape) -> list[Item]:
        return self._layer_call("layer_recompute", layer, shape)

    def embedding_forward(self, shape: Shape) -> list[Item]:
        return self._m.embedding_forward(self.spec, shape)

    def embedding_backward(self, shape: Shape) -> list[Item]:
        return self._m.embedding_backward(self.spec, shape)

    def head_forward(self, shape: Shape) -> list[Item]:
        return self._m.head_forward(self.spec, shape)

    def head_backward(self, shape: Shape) -> list[Item]:
        return self._m.head_backward(self.spec, shape)

    def optimizer_items(self, params_on_rank: float, dtype_bytes: int) -> list[Item]:
        return self._m.optimizer_items(self.spec, params_on_rank, dtype_bytes=dtype_bytes)

    def layer_params(self, layer: int, tp: int, ep: int,
                     etp: int | None = None) -> tuple[float, float]:
        return self._m.layer_params_on_rank(self.spec, ep, tp=tp, layer=layer, etp=etp)

    def weight_cast_items(self, params: float, precision: str) -> list[Item]:
        """Per-step quantisation of ``params`` layer weights (low precision)."""
        from workloads.models.ends import weight_cast_items
        return weight_cast_items(params, precision)

    def embedding_params(self, tp: int) -> float:
        return self._m.embedding_params(self.spec) / tp

    def head_params(self, tp: int, separate_stage: bool) -> float:
        out = self._m.head_params(self.spec) / tp
        return out + (self.tied_output_params(tp) if separate_stage else 0.0)

    def tied_output_params(self, tp: int) -> float:
        return self.spec.vocab * self.spec.hidden / tp if self.spec.tied_embeddings else 0.0

    def model_flops_per_step(self, tokens: int, seq_len: int) -> float | None:
        return self._m.model_flops_per_token(self.spec, seq_len) * tokens
