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

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from workloads.schema import Float

from .base import StepInputs, factor_field, Straggler


class SlowNodeEpisode(Straggler):
    kind: Literal["slow_node_episode"]
    node: int = Field(ge=0, description="node index")
    factor: Float = factor_field()
    fraction: Float = Field(ge=0, le=1, description="share of the time the node is slow")
    episodic: ClassVar[bool] = True

    def apply(self, where: str, x: StepInputs, rng: np.random.Generator) -> None:
        """The slowed state (the node's GPUs at ``factor``)."""
        x.speeds[x.ranks_on_node(self.node, where)] *= self.factor

    def probability(self) -> float:
        """Share of steps during which the episode is on."""
        return float(self.fraction)
