"""Results of the run-level simulation: per-replica totals and their summary.

Definitions (per replica, then averaged over replicas):

* ``goodput_fraction`` = useful work / wall time, where useful work is
  counted in full-job-equivalent training seconds: the tokens the run kept
  divided by the token rate of the full, failure-free job. Lost work,
  stalls, recovery and the slower steps of a shrunk elastic job all lower it.
* ``restore_s`` is the restore of the usual recovery: from peers' memory for
  in-memory checkpoints, else from storage (``storage_restore_s``).
* ``ettr`` (effective training time ratio, the time-based measure Meta
  reports for Llama 3: productive training time over elapsed time) =
  wall-clock time spent training steps that were kept / wall time. It counts
  an elastic job's shrunk training time in full, so ettr >= goodput_fraction,
  with equality when the job never shrinks.

Wasted GPU-hours are job-seconds by cause times the job's full GPU count, so
``training_gpu_hours`` (useful work) plus all causes equals wall time x GPUs.
Confidence intervals are mean +/- 1.96 standard errors across replicas
(normal approximation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .replica import CATEGORIES

Span = tuple[str, str, float, float]


def _ci95(x: np.ndarray) -> list[float | None]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return [None, None]
    m = float(x.mean())
    if x.size < 2:
        return [m, m]
    half = 1.96 * float(x.std(ddof=1)) / math.sqrt(x.size)
    return [m - half, m + half]


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass
class RunResult:
    """Outcome of :func:`sim.reliability.simulate_run`.

    ``per_replica`` maps ``wall_s``, ``useful_s``, ``productive_s``,
    ``failures``, ``time_to_train_s`` and every waste category (job-seconds)
    to arrays over replicas. ``timeline`` holds replica 0's spans
    ``(name, category, start_s, dur_s)``.
    """

    per_replica: dict[str, np.ndarray]
    gpus: int
    tokens_per_s: float
    checkpoint_interval_s: float
    checkpoint_stall_s: float
    restore_s: float
    mtbf_s: float
    target_tokens: float | None
    failures_by_cause: dict[str, float]
    timeline: list[Span] = field(default_factory=list)
    checkpoint_mode: str = "sync"
    checkpoint_persist_s: float = 0.0
    storage_restore_s: float | None = None
    interval_floor_s: float = 0.0
    restart_s: float | None = None
    detection_s: float | None = None
    horizon_days: float | None = None
    rate_scale: float = 1.0

    @property
    def replicas(self) -> int:
        return int(self.per_replica["wall_s"].size)

    @property
    def goodput(self) -> np.ndarray:
        """Per-replica goodput fraction (see the module docstring)."""
        return self.per_replica["useful_s"] / self.per_replica["wall_s"]

    @property
    def ettr(self) -> np.ndarray:
        """Per-replica effective training time ratio."""
        return self.per_replica["productive_s"] / self.per_replica["wall_s"]

    @property
    def interruptions(self) -> np.ndarray:
        """Per-replica count of failures that struck the running or recovering job."""
        return self.per_replica["failures"]

    def gpu_hours(self, name: str) -> np.ndarray:
        """Per-replica GPU-hours of a waste category, ``training`` or ``total``."""
        key = {"training": "useful_s", "total": "wall_s"}.get(name, name)
        return self.per_replica[key] * self.gpus / 3600.0

    def to_json(self) -> dict:
        """The ``reliability`` object of ``clustersim run --json``."""
        pr = self.per_replica
        ttt_days = pr["time_to_train_s"] / 86400.0
        has_target = self.target_tokens is not None
        return {
            "goodput_fraction": float(self.goodput.mean()),
            "ettr": float(self.ettr.mean()),
            "interruptions": float(self.interruptions.mean()),
            "interruptions_by_cause": dict(self.failures_by_cause),
            "wasted_gpu_hours": {k: float(self.gpu_hours(k).mean()) for k in CATEGORIES},
            "training_gpu_hours": float(self.gpu_hours("training").mean()),
            "total_gpu_hours": float(self.gpu_hours("total").mean()),
            "wall_days": float(pr["wall_s"].mean() / 86400.0),
            "tokens_trained": float(pr["useful_s"].mean() * self.tokens_per_s),
            "time_to_train_days": _num(ttt_days.mean()) if has_target else None,
            "target_tokens": self.target_tokens,
            "checkpoint_interval_s": self.checkpoint_interval_s,
            "checkpoint_stall_s": self.checkpoint_stall_s,
            "restore_s": self.restore_s,
            "storage_restore_s": (self.storage_restore_s if self.storage_restore_s
                                  is not None else self.restore_s),
            "checkpoint_mode": self.checkpoint_mode,
            "checkpoint_persist_s": self.checkpoint_persist_s,
            "checkpoint_interval_floor_s": self.interval_floor_s,
            "restart_s": self.restart_s,
            "detection_s": self.detection_s,
            "horizon_days": self.horizon_days,
            "rate_scale": self.rate_scale,
            "mtbf_h": _num(self.mtbf_s / 3600.0),
            "replicas": self.replicas,
            "ci95": {
                "goodput_fraction": _ci95(self.goodput),
                "ettr": _ci95(self.ettr),
                "interruptions": _ci95(self.interruptions.astype(float)),
                "time_to_train_days": _ci95(ttt_days) if has_target else None,
            },
        }
