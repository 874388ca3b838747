"""Where the generator gets per-micro-batch work items: the :class:`Costs`
protocol and its implementation on top of :mod:`workloads.models`.

The generator only needs this narrow view of a model, so tests (and users with
their own cost models) can hand it any object with these members.
"""
from __future__ import annotations

import inspect
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
    def optimizer_items(self, params_on_rank: float) -> list[Item]: ...
    def layer_params(self, layer: int, tp: int, ep: int) -> tuple[float, float]:
        """(dense, expert) parameters of ``layer`` held by one rank."""
    def embedding_params(self, tp: int) -> float: ...
    def head_params(self, tp: int, separate_stage: bool) -> float:
        """Output-side parameters on the last stage; ``separate_stage`` is True
        when the embedding lives on another stage (a tied output matrix is then
        a copy held by the last stage)."""
    def model_flops_per_step(self, tokens: int) -> float | None: ...


def _takes_layer(fn: Any) -> bool:
    try:
        return "layer" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class ModelCosts:
    """:class:`Costs` backed by :mod:`workloads.models` for a ``ModelSpec``.

    Models whose layers differ (MoE with leading dense layers) get per-layer
    items when the models package accepts a ``layer`` argument; results are
    cached per (function, layer kind, shape).
    """

    def __init__(self, spec: Any):
        import workloads.models as models
        self.spec = spec
        self._m = models
        self.name = str(getattr(spec, "name", "model"))
        self.layers = int(spec.layers)
        self.heads = int(spec.heads)
        self.hidden = int(spec.hidden)
        moe = getattr(spec, "moe", None)
        self.experts = int(moe.experts) if moe is not None else 0
        self._cache: dict[tuple, Any] = {}

    def _kind(self, layer: int) -> bool:
        f = getattr(self.spec, "is_moe_layer", None)
        return bool(f(layer)) if f is not None else False

    def _layer_call(self, fname: str, layer: int, shape: Shape) -> Any:
        key = (fname, self._kind(layer), shape)
        if key not in self._cache:
            fn = getattr(self._m, fname)
            self._cache[key] = (fn(self.spec, shape, layer=layer) if _takes_layer(fn)
                                else fn(self.spec, shape))
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

    def optimizer_items(self, params_on_rank: float) -> list[Item]:
        return self._m.optimizer_items(self.spec, params_on_rank)

    def layer_params(self, layer: int, tp: int, ep: int) -> tuple[float, float]:
        from workloads.models.params import layer_params, layer_params_split
        dense, expert = layer_params_split(self.spec, layer)
        on_rank = layer_params(self.spec, ep, tp=tp, layer=layer)
        expert_on_rank = expert / (ep * tp)
        return on_rank - expert_on_rank, expert_on_rank

    def embedding_params(self, tp: int) -> float:
        from workloads.models.params import embedding_params
        return embedding_params(self.spec) / tp

    def head_params(self, tp: int, separate_stage: bool) -> float:
        from workloads.models.params import head_params
        out = head_params(self.spec)
        if getattr(self.spec, "tied_embeddings", False) and separate_stage:
            out += self.spec.vocab * self.spec.hidden
        return out / tp

    def model_flops_per_step(self, tokens: int) -> float | None:
        fn = getattr(self._m, "model_flops_per_token", None) or getattr(
            self._m, "model_flops", None)
        if fn is None:
            return None
        try:
            return float(fn(self.spec)) * tokens
        except TypeError:
            return None
