"""Step metrics: a simulated step and its workload's facts, as one typed object
(:class:`StepMetrics`), and the step-level part of the ``run --json`` contract.

Shared by scenario runs and trace replays (Chakra, profiler traces); kept
apart from the scenario machinery so that replaying a trace does not import it.
MFU counts model FLOPs (no recomputation) against the GPUs' dense peak; HFU
counts what the hardware executed, recomputation included. A trace that does
not give its FLOPs counts the FLOPs of its compute ops for both; a trace of
durations only has no MFU (None, "n/a"), not 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.simulate import StepResult
    from workloads.trace import Trace

#: ranks listed in the JSON result
MAX_RANKS = 64


def breakdown(step: StepResult) -> dict:
    """Step-time breakdown of the slowest rank class of one simulated step."""
    crit = step.slowest()
    return {"compute_s": crit.compute_s, "exposed_comm_s": crit.exposed_comm_s,
            "bubble_s": crit.idle_s, "comm_s": crit.comm_s, "sync_wait_s": crit.wait_s,
            "critical_ranks": crit.label}


@dataclass(frozen=True)
class WorkloadFacts:
    """What the step metrics need to know of the workload, besides the simulated step.

    For a generated job these come from the model; for a trace file from its
    ``meta`` (``None`` where it does not say).
    """

    tokens_per_step: float | None = None
    model_flops_per_step: float | None = None
    hardware_flops_per_step: float | None = None
    memory_gb_per_gpu: float | None = None
    extra: dict = field(default_factory=dict)      # memory, layout, microbatches (JSON)
    #: model FLOPs with causal attention counted as half the square (another convention)
    model_flops_per_step_causal: float | None = None

    @classmethod
    def of_trace(cls, trace: Trace) -> "WorkloadFacts":
        m = trace.meta
        return cls(m.get("tokens_per_step"), m.get("model_flops_per_step"),
                   m.get("hardware_flops_per_step"), m.get("memory_gb_per_gpu"),
                   {k: m[k] for k in ("memory", "layout", "microbatches") if k in m},
                   m.get("model_flops_per_step_causal"))


@dataclass(frozen=True)
class StepMetrics:
    """One step: time, throughput, utilisation, memory, breakdown."""

    step_time_s: float
    gpus: int
    peak_flops_per_gpu: float
    model_flops_per_step: float
    hardware_flops_per_step: float
    tokens_per_step: float | None
    memory_gb_per_gpu: float | None
    breakdown: dict
    ranks: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    model_flops_per_step_causal: float | None = None

    @classmethod
    def of(cls, trace: Trace, step, facts: WorkloadFacts,
           peak_flops_per_gpu: float) -> "StepMetrics":
        """``step``: a :class:`~sim.simulate.StepResult` or an episode mixture
        (:class:`~sim.stragglers.step.EpisodeMixture`: its own step time and
        breakdown, the spans of its most probable state)."""
        shown = getattr(step, "shown", step)
        hw = facts.hardware_flops_per_step
        if hw is None:
            hw = sum(c.size * sum(o.flops for o in trace.programs[c.program].ops
                                  if o.is_compute) for c in shown.classes)
        model = facts.model_flops_per_step if facts.model_flops_per_step is not None else hw
        parts = step.breakdown() if shown is not step else breakdown(step)
        return cls(step_time_s=step.step_time_s, gpus=trace.world_size,
                   peak_flops_per_gpu=peak_flops_per_gpu, model_flops_per_step=model,
                   hardware_flops_per_step=hw, tokens_per_step=facts.tokens_per_step,
                   memory_gb_per_gpu=facts.memory_gb_per_gpu, breakdown=parts,
                   ranks=[r.to_json() for r in shown.ranks[:MAX_RANKS]], extra=facts.extra,
                   model_flops_per_step_causal=facts.model_flops_per_step_causal)

    def _per_time(self, x: float | None) -> float | None:
        return x / self.step_time_s if x and self.step_time_s > 0 else None

    @property
    def tokens_per_s(self) -> float | None:
        return self._per_time(self.tokens_per_step)

    def _utilisation(self, flops: float | None) -> float | None:
        f = self._per_time(flops)
        return None if f is None else f / (self.gpus * self.peak_flops_per_gpu)

    def _tflops_per_gpu(self, flops: float | None) -> float | None:
        f = self._per_time(flops)
        return None if f is None else f / self.gpus / 1e12

    mfu = property(lambda self: self._utilisation(self.model_flops_per_step))
    hfu = property(lambda self: self._utilisation(self.hardware_flops_per_step))
    tflops_per_gpu = property(lambda self: self._tflops_per_gpu(self.model_flops_per_step))
    #: the other published convention: causal attention counts half the square
    mfu_causal_attention = property(
        lambda self: self._utilisation(self.model_flops_per_step_causal))
    tflops_per_gpu_causal_attention = property(
        lambda self: self._tflops_per_gpu(self.model_flops_per_step_causal))

    def to_json(self) -> dict:
        """The step-level part of the ``run --json`` contract."""
        return {"step_time_s": self.step_time_s, "tokens_per_s": self.tokens_per_s,
                "mfu": self.mfu, "hfu": self.hfu, "tflops_per_gpu": self.tflops_per_gpu,
                "mfu_causal_attention": self.mfu_causal_attention,
                "tflops_per_gpu_causal_attention": self.tflops_per_gpu_causal_attention,
                "gpus": self.gpus, "memory_gb_per_gpu": self.memory_gb_per_gpu,
                "breakdown": dict(self.breakdown), "ranks": self.ranks, **self.extra}


def step_summary(trace: Trace, step: StepResult, peak_flops: float) -> dict:
    """The step-level part of the ``run --json`` contract of a replayed trace."""
    return StepMetrics.of(trace, step, WorkloadFacts.of_trace(trace), peak_flops).to_json()
