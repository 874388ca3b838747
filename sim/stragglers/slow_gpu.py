"""``slow_gpu``: one GPU computes at ``factor`` times its nominal speed, every step.

A GPU that is thermally throttled or has a degraded clock runs every kernel
slower; synchronous collectives then make all its partners wait for it.
Scenario keys: ``gpu`` (global GPU index), ``factor`` (speed, < 1 slower).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from workloads.errors import InputError
from workloads.schema import Float

from .base import StepInputs, factor_field, Straggler


class SlowGpu(Straggler):
    kind: Literal["slow_gpu"]
    gpu: int = Field(ge=0, description="global GPU index")
    factor: Float = factor_field()

    def apply(self, where: str, x: StepInputs, rng: np.random.Generator) -> None:
        ranks = [r for r in range(x.trace.world_size) if x.trace.gpu_of(r) == self.gpu]
        if not ranks:
            used = max(x.trace.gpu_of(r) for r in range(x.trace.world_size)) + 1
            raise InputError(f"not a GPU of the job (it uses GPUs 0..{used - 1})",
                             field=f"{where}.gpu", value=self.gpu)
        x.speeds[ranks] *= self.factor
