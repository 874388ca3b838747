"""Straggler kinds, the schema of the scenario's ``stragglers`` list, and
:func:`apply_stragglers`, which turns the list into engine inputs (per-rank
speeds and a topology graph).

Adding a kind is one :class:`~sim.stragglers.base.Straggler` subclass (its
fields are its scenario keys) plus one entry in :data:`KINDS`.
"""
from __future__ import annotations

from typing import Annotated, Any, Iterable, Sequence, Union

import numpy as np
from pydantic import BeforeValidator, Discriminator, Tag, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from topologies.digraph import DiGraph
from workloads.schema import choice_error, pydantic_error
from workloads.trace import Trace

from .base import StepInputs, Straggler
from .episode import SlowNodeEpisode
from .imbalance import InputImbalance
from .jitter import Jitter
from .slow_gpu import SlowGpu
from .slow_link import SlowLink

KINDS: dict[str, type[Straggler]] = {
    "slow_gpu": SlowGpu,
    "jitter": Jitter,
    "slow_node_episode": SlowNodeEpisode,
    "slow_link": SlowLink,
    "input_imbalance": InputImbalance,
}


def _tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return f"kind={kind}"


#: one straggler: the class its ``kind`` names (tags ``kind=...`` are left out of field paths)
StragglerConfig = Annotated[Union[tuple(Annotated[cls, Tag(f"kind={name}")]
                                        for name, cls in KINDS.items())], Discriminator(_tag)]


def _check_kinds(items: Any) -> Any:
    """Before validation of a ``stragglers`` list: every ``kind`` is a registered one."""
    if not isinstance(items, list):
        return items
    for i, item in enumerate(items):
        if isinstance(item, Straggler):
            continue
        if not isinstance(item, dict):
            raise PydanticCustomError("invalid", "expected a mapping with a kind",
                                      {"sub": f"[{i}]", "value": item})
        kind = item.get("kind")
        if kind not in KINDS:
            err = choice_error(kind, KINDS, "straggler kind")
            raise PydanticCustomError(err.type, err.message_template,
                                      {**(err.context or {}), "sub": f"[{i}].kind",
                                       "value": kind})
    return items


#: the scenario's ``stragglers`` list
StragglerList = Annotated[list[StragglerConfig], BeforeValidator(_check_kinds)]

_LIST = TypeAdapter(StragglerList)


def parse_stragglers(items: Any, file: str | None = None) -> list[Straggler]:
    """Validate a ``stragglers`` list (errors name ``stragglers[i].field``)."""
    try:
        return _LIST.validate_python(items)
    except ValidationError as e:
        raise pydantic_error(e, file, prefix="stragglers") from None


def apply_stragglers(stragglers: Sequence[Straggler], trace: Trace, graph: DiGraph,
                     rng: np.random.Generator, *, active: Iterable[int] | None = None,
                     episodes_on: Iterable[int] = ()) -> tuple[list[float] | None, DiGraph]:
    """Speeds per rank (None if all nominal) and the graph to simulate.

    Straggler i draws from the i-th child of ``rng`` (``rng.spawn``), so
    leaving one out (``active``: the indices to apply; default all) does not
    change the draws of the others when the caller passes an equally seeded
    generator. Episodic kinds apply only when their index is in
    ``episodes_on``; they are checked against the job either way. ``graph``
    itself is never modified (a changed copy is returned).
    """
    keep = set(range(len(stragglers))) if active is None else set(active)
    on = set(episodes_on)
    children = rng.spawn(len(stragglers)) if len(stragglers) else []
    x = StepInputs.nominal(trace, graph)
    for i, (cfg, child) in enumerate(zip(stragglers, children)):
        where = f"stragglers[{i}]"
        if cfg.episodic and i not in on:
            cfg.apply(where, StepInputs.nominal(trace, graph), child)
            continue
        if i in keep:
            cfg.apply(where, x, child)
    return x.speeds_or_none(), x.graph
