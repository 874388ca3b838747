"""``jitter``: random per-rank slowdowns, drawn afresh for every simulated step.

Each affected rank's op durations in one step are multiplied by
X = exp(sigma * Z), Z ~ N(0, 1) (lognormal, median 1, mean exp(sigma^2 / 2)),
i.e. its compute speed factor is 1 / X. The engine scales a rank's compute
by one factor per step, so this is per-rank-per-step jitter: what a
synchronous step sees of per-op noise is the slowest rank, max over ranks of
X, which is what the simulation then produces. The lognormal is a modelling
choice (positive, right-skewed, one parameter), not a fit to measurements.

Scenario keys: ``sigma``; ``fraction`` (default 1: every rank) jitters a
random share of the ranks. Cost warning: ranks with distinct speeds cannot
share a simulated representative (see :mod:`sim.engine.classes`), so jitter on
every rank unfolds the whole job; for thousands of GPUs jitter a small
``fraction`` instead.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from workloads.schema import Float

from .base import StepInputs, Straggler


class Jitter(Straggler):
    kind: Literal["jitter"]
    sigma: Float = Field(0.0, ge=0, description="lognormal sigma of per-rank jitter")
    fraction: Float | None = Field(None, ge=0, le=1, description="share of ranks "
                                   "(default: all)")

    def apply(self, where: str, x: StepInputs, rng: np.random.Generator) -> None:
        n = x.trace.world_size
        share = 1.0 if self.fraction is None else self.fraction
        k = int(round(share * n))
        if k == 0 or self.sigma == 0:
            return
        ranks = np.arange(n) if k == n else np.sort(rng.choice(n, size=k, replace=False))
        x.speeds[ranks] *= np.exp(-self.sigma * rng.standard_normal(k))
