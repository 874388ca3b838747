"""An analytical executor for pipeline schedules.

Runs the per-stage action lists with fixed per-chunk durations and free
point-to-point transfers: every action starts when its device is free and its
cross-stage input is ready (see :mod:`workloads.generate.schedules.base` for the
dependency rules). This is the timing model under which the bubble formulas of
the pipeline papers hold, so it is the ground truth the schedules are tested
against, and a quick estimate of a schedule's bubble.
"""
from __future__ import annotations

from dataclasses import dataclass

from workloads.generate.schedules.base import Action, virtual_stage


class ScheduleDeadlock(RuntimeError):
    """The action lists wait on each other in a cycle (a schedule bug)."""


@dataclass(frozen=True)
class Timeline:
    """Result of :func:`run_timeline`; times in seconds (or any one unit).

    ``finish[(kind, microbatch, virtual_stage)]`` is the end time of that action;
    ``busy_s[s]`` the time device s spends computing; ``makespan_s`` the end of
    the last action.
    """

    finish: dict[tuple[str, int, int], float]
    busy_s: list[float]
    makespan_s: float

    def bubble_fraction(self) -> float:
        """Idle time / compute time, per device (all devices do equal work)."""
        return (self.makespan_s - self.busy_s[0]) / self.busy_s[0]


def _input(a: Action, pp: int, vpp: int, stage: int) -> tuple[str, int, int] | None:
    """The action (kind, microbatch, virtual stage) whose output ``a`` needs."""
    vs = virtual_stage(pp, stage, a.chunk)
    last = pp * vpp - 1
    if a.kind == "F":
        return ("F", a.microbatch, vs - 1) if vs > 0 else None
    if a.kind == "B":
        return ("B", a.microbatch, vs + 1) if vs < last else ("F", a.microbatch, vs)
    return ("B", a.microbatch, vs)


def run_timeline(stages: list[list[Action]], vpp: int = 1, *, t_f: float = 1.0,
                 t_b: float = 2.0, t_w: float = 0.0) -> Timeline:
    """Execute the schedule; ``t_f``/``t_b``/``t_w`` are per-chunk durations.

    For schedules without "W" actions ``t_b`` is the whole backward pass.
    Raises :class:`ScheduleDeadlock` if no device can make progress.
    """
    pp = len(stages)
    dur = {"F": t_f, "B": t_b, "W": t_w}
    finish: dict[tuple[str, int, int], float] = {}
    pos = [0] * pp
    free = [0.0] * pp
    busy = [0.0] * pp
    remaining = sum(len(s) for s in stages)
    while remaining:
        progressed = False
        for s in range(pp):
            while pos[s] < len(stages[s]):
                a = stages[s][pos[s]]
                need = _input(a, pp, vpp, s)
                if need is not None and need not in finish:
                    break
                start = max(free[s], finish[need] if need is not None else 0.0)
                free[s] = start + dur[a.kind]
                busy[s] += dur[a.kind]
                finish[(a.kind, a.microbatch, virtual_stage(pp, s, a.chunk))] = free[s]
                pos[s] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            stuck = {s: stages[s][pos[s]] for s in range(pp) if pos[s] < len(stages[s])}
            raise ScheduleDeadlock(f"no stage can proceed; next actions: {stuck}")
    return Timeline(finish=finish, busy_s=busy, makespan_s=max(free))
