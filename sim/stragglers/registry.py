"""Straggler kinds and :func:`apply_stragglers`, which turns a scenario's list
of stragglers into engine inputs (per-rank speeds and a topology graph).

Adding a kind is one module with ``apply(cfg, where, inputs, rng)`` plus one
entry in :data:`KINDS` (and in :data:`EPISODIC` if it comes and goes).
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import networkx as nx
import numpy as np

from workloads.trace import Trace

from . import episode, imbalance, jitter, slow_gpu, slow_link
from .base import StepInputs

KINDS: dict[str, Callable] = {
    "slow_gpu": slow_gpu.apply,
    "jitter": jitter.apply,
    "slow_node_episode": episode.apply,
    "slow_link": slow_link.apply,
    "input_imbalance": imbalance.apply,
}

#: kinds that are on only part of the time: kind -> probability(cfg, where)
EPISODIC: dict[str, Callable] = {"slow_node_episode": episode.probability}


def apply_stragglers(stragglers: Sequence, trace: Trace, graph: nx.DiGraph,
                     rng: np.random.Generator, *, active: Iterable[int] | None = None,
                     episodes_on: Iterable[int] = ()) -> tuple[list[float] | None, nx.DiGraph]:
    """Speeds per rank (None if all nominal) and the graph to simulate.

    ``stragglers``: :class:`sim.scenario.config.StragglerConfig` items.
    Straggler i draws from the i-th child of ``rng`` (``rng.spawn``), so
    leaving one out (``active``: the indices to apply; default all) does not
    change the draws of the others when the caller passes an equally seeded
    generator. Episodic kinds apply only when their index is in
    ``episodes_on``; they are validated either way. ``graph`` itself is never
    modified (a changed copy is returned).
    """
    keep = set(range(len(stragglers))) if active is None else set(active)
    on = set(episodes_on)
    children = rng.spawn(len(stragglers)) if len(stragglers) else []
    x = StepInputs.nominal(trace, graph)
    for i, (cfg, child) in enumerate(zip(stragglers, children)):
        where = f"stragglers[{i}]"
        if cfg.kind in EPISODIC and i not in on:
            KINDS[cfg.kind](cfg, where, StepInputs.nominal(trace, graph), child)
            EPISODIC[cfg.kind](cfg, where)
            continue
        if i in keep:
            KINDS[cfg.kind](cfg, where, x, child)
    return x.speeds_or_none(), x.graph
