"""``input_imbalance``: some data-parallel replicas get longer (costlier) inputs.

With variable-length documents packed into a fixed token budget, some
data-parallel replicas draw batches whose attention (quadratic in document
length) costs more; the optimizer step's gradient all-reduce then waits for
them. Modelled as a ``fraction`` of the data-parallel replicas (chosen at
random with the scenario's generator) computing at ``factor`` x speed.
A replica is the set of ranks at one position of the trace's ``dp``
communicators.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from workloads.errors import InputError
from workloads.schema import Float

from .base import StepInputs, factor_field, Straggler


class InputImbalance(Straggler):
    kind: Literal["input_imbalance"]
    factor: Float = factor_field()
    fraction: Float = Field(ge=0, le=1, description="share of the data-parallel replicas")

    def apply(self, where: str, x: StepInputs, rng: np.random.Generator) -> None:
        groups = x.trace.groups.get("dp")
        if not groups:
            raise InputError("input_imbalance needs a trace with 'dp' communicator groups",
                             field=f"{where}.kind", value=self.kind)
        dp = len(groups[0])
        k = int(round(self.fraction * dp))
        if k == 0:
            return
        chosen = rng.choice(dp, size=k, replace=False)
        ranks = [members[j] for members in groups for j in chosen if j < len(members)]
        x.speeds[ranks] *= self.factor
