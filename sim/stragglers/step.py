"""One step with stragglers: apply them, simulate, and mix transient episodes.

Without episodic stragglers this is one simulation. With n episodes
(``slow_node_episode``, on a share p_i of the time, independent of each
other) it simulates all 2^n on/off states with non-zero probability and
reports the expected step time

    E[T] = sum over states s of  prod_i (p_i if on else 1 - p_i) * T_s

as the step time, in an :class:`EpisodeMixture` of its own: every state's
:class:`~sim.simulate.StepResult` is kept as simulated, the breakdown is the
probability-weighted mean of the states' (so it sums to E[T]), and the spans
and rank classes shown (Chrome trace) are those of the most probable state.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from sim.compute import ComputeModel
from sim.simulate import StepResult, simulate_trace
from sim.summary import breakdown
from topologies.digraph import DiGraph
from workloads.errors import InputError
from workloads.trace import Trace

from .registry import apply_stragglers

MAX_EPISODES = 6        # 2^6 = 64 simulated steps

#: the parts of a step's critical-rank breakdown that add up to the step time
BREAKDOWN = ("compute_s", "exposed_comm_s", "bubble_s", "comm_s", "sync_wait_s")


@dataclass(frozen=True)
class EpisodeState:
    """One on/off combination of the episodes: its probability and its step."""

    probability: float
    slow: list[int]             # indices of the stragglers that are on
    step: StepResult


@dataclass(frozen=True)
class EpisodeMixture:
    """A step whose time is the expectation over episode states.

    ``step_time_s`` = sum of p_s T_s; :meth:`breakdown` is the same mixture of
    the states' breakdowns, so its parts add up to ``step_time_s``;
    ``shown`` (the most probable state) provides the spans and rank classes.
    """

    states: list[EpisodeState]

    @property
    def shown(self) -> StepResult:
        return max(self.states, key=lambda s: s.probability).step

    @property
    def step_time_s(self) -> float:
        return sum(s.probability * s.step.makespan_s for s in self.states)

    @property
    def events(self) -> int:
        return sum(s.step.events for s in self.states)

    @property
    def wall_s(self) -> float:
        return sum(s.step.wall_s for s in self.states)

    def breakdown(self) -> dict:
        parts = [(s.probability, breakdown(s.step)) for s in self.states]
        out = {k: sum(p * b[k] for p, b in parts) for k in BREAKDOWN}
        out["critical_ranks"] = breakdown(self.shown)["critical_ranks"]
        return out

    def to_json(self) -> dict:
        shown = max(self.states, key=lambda s: s.probability)
        return {"expected_step_time_s": self.step_time_s,
                "shown_state_probability": shown.probability,
                "states": [{"slow": [f"stragglers[{i}]" for i in s.slow],
                            "probability": s.probability, "step_time_s": s.step.makespan_s}
                           for s in self.states]}


def simulate_with_stragglers(trace: Trace, graph: DiGraph, compute: ComputeModel,
                             stragglers: Sequence, seed, *, fold: bool = True,
                             active: Iterable[int] | None = None,
                             routing: str | None = None) -> StepResult | EpisodeMixture:
    """Simulate a step of ``trace`` on ``graph`` with ``stragglers`` (all, or ``active``).

    ``seed``: anything :func:`numpy.random.default_rng` accepts; every state is
    simulated with a fresh generator from it, so random draws (jitter, chosen
    replicas) are the same in every state and in every what-if variant.
    ``routing``: the fabric's routing mode (default: spray).
    """
    keep = set(range(len(stragglers))) if active is None else set(active)
    if not stragglers:
        return simulate_trace(trace, graph, compute, fold=fold, routing=routing)
    try:
        np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise InputError("must be a non-negative integer", field="sim.seed",
                         value=seed) from None
    episodes = [i for i, s in enumerate(stragglers) if s.episodic and i in keep]
    if len(episodes) > MAX_EPISODES:
        raise InputError(f"at most {MAX_EPISODES} episodic stragglers (every on/off "
                         "combination is simulated)", field="stragglers", value=len(episodes))
    probs = [stragglers[i].probability() for i in episodes]
    states = []
    for on in itertools.product((False, True), repeat=len(episodes)):
        p = math.prod(q if o else 1.0 - q for q, o in zip(probs, on))
        if p == 0.0:
            continue
        slow = [i for i, o in zip(episodes, on) if o]
        speeds, g = apply_stragglers(stragglers, trace, graph, np.random.default_rng(seed),
                                     active=keep, episodes_on=slow)
        states.append(EpisodeState(p, slow, simulate_trace(trace, g, compute, fold=fold,
                                                           speeds=speeds, routing=routing)))
    if len(states) == 1:
        return states[0].step
    return EpisodeMixture(states)
