"""Pipeline schedules: a registry of :class:`Schedule` classes.

Adding a schedule is one subclass of :class:`Schedule` and one entry in
:data:`SCHEDULES`.
"""
from __future__ import annotations

from functools import lru_cache

from workloads.errors import InputError
from workloads.generate.schedules.base import Action, Schedule, peak_in_flight, virtual_stage
from workloads.generate.schedules.gpipe import GPipe
from workloads.generate.schedules.interleaved import Interleaved
from workloads.generate.schedules.one_f_one_b import OneFOneB
from workloads.generate.schedules.timeline import ScheduleDeadlock, Timeline, run_timeline
from workloads.generate.schedules.zero_bubble import ZeroBubbleH1

SCHEDULES: dict[str, type[Schedule]] = {
    GPipe.name: GPipe,
    OneFOneB.name: OneFOneB,
    Interleaved.name: Interleaved,
    ZeroBubbleH1.name: ZeroBubbleH1,
}


def get_schedule(name: str) -> Schedule:
    """The schedule registered as ``name``; InputError naming the choices otherwise."""
    cls = SCHEDULES.get(name)
    if cls is None:
        raise InputError(f"unknown pipeline schedule (known: {', '.join(SCHEDULES)})",
                         field="parallelism.schedule", value=name)
    return cls()


def schedule(name: str, pp: int, microbatches: int, vpp: int = 1) -> list[list[Action]]:
    """Per pipeline stage, the ordered actions of schedule ``name``."""
    return get_schedule(name).actions(pp, microbatches, vpp)


def in_flight_microbatches(name: str, pp: int, m: int, vpp: int, stage: int) -> float:
    """Peak activations held on ``stage``, in units of one micro-batch's
    activations for the device's whole share of the model.

    Counts (micro-batch, chunk) pairs between their F and the action that frees
    them (B, or W for schedules that split the weight gradient) and divides by
    ``vpp`` (a chunk holds 1/vpp of the device's layers). 1F1B gives
    ``min(pp - stage, m)``; GPipe gives ``m``.
    """
    sched = get_schedule(name)
    if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < pp:
        raise InputError(f"stage must be in 0..{pp - 1}", field="stage", value=stage)
    acts = _stage_actions(name, pp, m, vpp)[stage]
    release = "W" if sched.splits_weight_grad else "B"
    return peak_in_flight(acts, release) / vpp


@lru_cache(maxsize=16)
def _stage_actions(name: str, pp: int, m: int, vpp: int) -> tuple[tuple[Action, ...], ...]:
    """Every stage's actions, computed once per shape (callers ask stage by stage)."""
    return tuple(tuple(a) for a in get_schedule(name).actions(pp, m, vpp))


def shared_schedule(name: str, pp: int, microbatches: int,
                    vpp: int = 1) -> tuple[tuple[Action, ...], ...]:
    """:func:`schedule` as tuples, made once per shape and shared with
    :func:`in_flight_microbatches` (the memory check asks first, the trace
    generator then reads the same actions)."""
    return _stage_actions(name, pp, microbatches, vpp)


__all__ = ["Action", "Schedule", "SCHEDULES", "get_schedule", "schedule",
           "in_flight_microbatches", "shared_schedule", "virtual_stage", "run_timeline",
           "Timeline", "ScheduleDeadlock", "peak_in_flight"]
