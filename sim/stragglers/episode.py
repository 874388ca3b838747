"""``slow_node_episode``: a node is slow (every GPU at ``factor``) a share of the time.

Transient slowdowns (a throttling node, a noisy neighbour, a background
process) come and go over many steps. With the node slow a fraction p of
the time, steps are of two kinds, and the expected step time is the mixture

    E[T] = (1 - p) * T_normal + p * T_slow,

where both T are simulated (:func:`sim.stragglers.step.simulate_with_stragglers`
simulates every on/off combination of the configured episodes, assumed
independent). Scenario keys: ``node``, ``factor`` (speed), ``fraction`` (p).
"""
from __future__ import annotations

import numpy as np

from .base import StepInputs, need


def apply(cfg, where: str, x: StepInputs, rng: np.random.Generator) -> None:
    """The slowed state (the node's GPUs at ``factor``)."""
    ranks = x.ranks_on_node(need(cfg.node, where, "node", "the index of a node"), where)
    x.speeds[ranks] *= cfg.factor


def probability(cfg, where: str) -> float:
    """Share of steps during which the episode is on."""
    return float(need(cfg.fraction, where, "fraction", "the share of time the node is slow"))
