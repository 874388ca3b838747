"""The step-level part of the ``run --json`` contract, from a simulated step.

Shared by scenario runs and trace replays (Chakra, profiler traces); kept
apart from the scenario machinery so that replaying a trace does not import it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.simulate import StepResult
    from workloads.trace import Trace


def step_summary(trace: Trace, step: StepResult, peak_flops: float) -> dict:
    """The step-level part of the ``run --json`` contract."""
    n = trace.world_size
    meta = trace.meta
    hw_flops = sum(len(trace.programs[c.program].ops) and c.size * sum(
        o.flops for o in trace.programs[c.program].ops if o.is_compute) for c in step.classes)
    hw_flops = meta.get("hardware_flops_per_step", hw_flops)
    model_flops = meta.get("model_flops_per_step", hw_flops)
    t = step.makespan_s
    tokens = meta.get("tokens_per_step")
    crit = step.slowest()
    out = {
        "step_time_s": t,
        "tokens_per_s": tokens / t if tokens and t > 0 else None,
        # a trace of durations only (no FLOPs) has no MFU: None ("n/a"), not 0
        "mfu": model_flops / (t * n * peak_flops) if t > 0 and model_flops else None,
        "hfu": hw_flops / (t * n * peak_flops) if t > 0 and hw_flops else None,
        "tflops_per_gpu": model_flops / (t * n) / 1e12 if t > 0 and model_flops else None,
        # the other published convention: causal attention counts half the square
        "mfu_causal_attention": (meta["model_flops_per_step_causal"] / (t * n * peak_flops)
                                 if t > 0 and "model_flops_per_step_causal" in meta else None),
        "tflops_per_gpu_causal_attention": (
            meta["model_flops_per_step_causal"] / (t * n) / 1e12
            if t > 0 and "model_flops_per_step_causal" in meta else None),
        "gpus": n,
        "memory_gb_per_gpu": meta.get("memory_gb_per_gpu"),
        "breakdown": {"compute_s": crit.compute_s, "exposed_comm_s": crit.exposed_comm_s,
                      "bubble_s": crit.idle_s, "comm_s": crit.comm_s,
                      "sync_wait_s": crit.wait_s,
                      "critical_ranks": crit.label},
        "ranks": [r.to_json() for r in step.ranks[:64]],
    }
    for k in ("memory", "layout", "microbatches"):
        if k in meta:
            out[k] = meta[k]
    return out
