"""One step with stragglers: apply them, simulate, and mix transient episodes.

Without episodic stragglers this is one simulation. With n episodes
(``slow_node_episode``, on a share p_i of the time, independent of each
other) it simulates all 2^n on/off states with non-zero probability and
reports the expected step time

    E[T] = sum over states s of  prod_i (p_i if on else 1 - p_i) * T_s

as the step time. The returned result's spans and per-rank-class times are
those of the most probable state (so with episodes, ``compute + exposed
communication + idle`` sums to that state's makespan, not to E[T]);
``extra["episodes"]`` lists every state.
"""
from __future__ import annotations

import itertools
import math
from typing import Iterable, Sequence

import networkx as nx
import numpy as np

from sim.compute import ComputeModel
from sim.simulate import StepResult, simulate_trace
from workloads.errors import InputError
from workloads.trace import Trace

from .registry import EPISODIC, apply_stragglers

MAX_EPISODES = 6        # 2^6 = 64 simulated steps


def simulate_with_stragglers(trace: Trace, graph: nx.DiGraph, compute: ComputeModel,
                             stragglers: Sequence, seed, *, fold: bool = True,
                             active: Iterable[int] | None = None) -> StepResult:
    """Simulate a step of ``trace`` on ``graph`` with ``stragglers`` (all, or ``active``).

    ``seed``: anything :func:`numpy.random.default_rng` accepts; every state is
    simulated with a fresh generator from it, so random draws (jitter, chosen
    replicas) are the same in every state and in every what-if variant.
    """
    keep = set(range(len(stragglers))) if active is None else set(active)
    if not stragglers:
        return simulate_trace(trace, graph, compute, fold=fold)
    try:
        np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise InputError("must be a non-negative integer", field="sim.seed",
                         value=seed) from None
    episodes = [i for i, s in enumerate(stragglers) if s.kind in EPISODIC and i in keep]
    if len(episodes) > MAX_EPISODES:
        raise InputError(f"at most {MAX_EPISODES} episodic stragglers (every on/off "
                         "combination is simulated)", field="stragglers", value=len(episodes))
    probs = [EPISODIC[stragglers[i].kind](stragglers[i], f"stragglers[{i}]") for i in episodes]
    states = []
    for on in itertools.product((False, True), repeat=len(episodes)):
        p = math.prod(q if o else 1.0 - q for q, o in zip(probs, on))
        if p == 0.0:
            continue
        slow = [i for i, o in zip(episodes, on) if o]
        speeds, g = apply_stragglers(stragglers, trace, graph, np.random.default_rng(seed),
                                     active=keep, episodes_on=slow)
        states.append((p, slow, simulate_trace(trace, g, compute, fold=fold, speeds=speeds)))
    if len(states) == 1:
        return states[0][2]
    p_best, _, best = max(states, key=lambda s: s[0])
    expected = sum(p * res.makespan_s for p, _, res in states)
    best.extra["episodes"] = {
        "expected_step_time_s": expected,
        "shown_state_probability": p_best,
        "states": [{"slow": [f"stragglers[{i}]" for i in slow], "probability": p,
                    "step_time_s": res.makespan_s} for p, slow, res in states],
    }
    best.makespan_s = expected
    best.events = sum(res.events for _, _, res in states)
    best.wall_s = sum(res.wall_s for _, _, res in states)
    return best
