"""``slow_gpu``: one GPU computes at ``factor`` times its nominal speed, every step.

A GPU that is thermally throttled or has a degraded clock runs every kernel
slower; synchronous collectives then make all its partners wait for it.
Scenario keys: ``gpu`` (global GPU index), ``factor`` (speed, < 1 slower).
"""
from __future__ import annotations

import numpy as np

from workloads.errors import InputError

from .base import StepInputs, need


def apply(cfg, where: str, x: StepInputs, rng: np.random.Generator) -> None:
    gpu = need(cfg.gpu, where, "gpu", "the index of a GPU of the job")
    ranks = [r for r in range(x.trace.world_size) if x.trace.gpu_of(r) == gpu]
    if not ranks:
        used = max(x.trace.gpu_of(r) for r in range(x.trace.world_size)) + 1
        raise InputError(f"not a GPU of the job (it uses GPUs 0..{used - 1})",
                         field=f"{where}.gpu", value=gpu)
    x.speeds[ranks] *= cfg.factor
