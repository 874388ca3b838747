"""Straggler attribution: what each straggler costs, a what-if by re-simulation.

For a scenario with stragglers S_1..S_n this simulates the step with all of
them, with none (the baseline) and with all but S_i for each i, and reports

* ``cost_s`` of S_i = T(all) - T(all but S_i): the step time that removing
  S_i alone would win back (with several stragglers the costs need not add
  up to T(all) - T(none): removing one slow GPU of two wins nothing, as the
  other still holds the synchronous step back);
* per rank class, the time blocked waiting for partners (``wait_s``:
  collectives and point-to-point ops issued before every partner arrived,
  see :class:`sim.engine.metrics.RankTimes`) with and without stragglers,
  and the class's ``program`` (in generated traces, its pipeline stage);
* per op kind, rank-seconds busy (moving data or computing) and waiting,
  summed over all ranks, with and without stragglers.
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.compute import ComputeModel
from sim.simulate import StepResult
from topologies.digraph import DiGraph
from workloads.trace import Trace

from .step import simulate_with_stragglers


def describe(cfg) -> str:
    """Short human-readable form of a straggler, e.g. ``slow_gpu gpu=3 factor=0.8``."""
    keys = ("gpu", "node", "nic", "factor", "sigma", "fraction")
    parts = [f"{k}={getattr(cfg, k):g}" for k in keys if getattr(cfg, k, None) is not None]
    return " ".join([cfg.kind] + parts)


def op_kind_totals(step: StepResult) -> dict[str, tuple[float, float]]:
    """op kind -> (busy rank-seconds, waiting rank-seconds) over all ranks."""
    size = {c.index: c.size for c in step.classes}
    out: dict[str, list[float]] = {}
    for sp in step.spans:
        acc = out.setdefault(sp.kind, [0.0, 0.0])
        acc[0] += (sp.end - sp.sync) * size[sp.cls]
        acc[1] += (sp.sync - sp.start) * size[sp.cls]
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


@dataclass
class Attribution:
    """Result of :func:`attribute`; times in seconds."""

    baseline_step_time_s: float
    step_time_s: float
    by_straggler: list[dict]
    wait_by_class: list[dict]
    by_op_kind: list[dict]

    @property
    def slowdown(self) -> float:
        """Step time with stragglers over step time without (1 = no effect)."""
        return self.step_time_s / self.baseline_step_time_s

    def shown_classes(self, max_classes: int) -> list[dict]:
        """The ``max_classes`` classes that wait longest, plus every off-speed class."""
        worst = sorted(self.wait_by_class, key=lambda c: -c["wait_s"])[:max_classes]
        keep = {c["class"] for c in worst} | {c["class"] for c in self.wait_by_class
                                              if c["speed"] != 1.0}
        return [c for c in self.wait_by_class if c["class"] in keep]

    def to_json(self, max_classes: int = 64) -> dict:
        return {"baseline_step_time_s": self.baseline_step_time_s,
                "step_time_s": self.step_time_s, "slowdown": self.slowdown,
                "by_straggler": self.by_straggler,
                "wait_by_class": self.shown_classes(max_classes),
                "by_op_kind": self.by_op_kind}

    def table(self, max_classes: int = 12) -> str:
        """A printable report."""
        lines = [f"step time {self.step_time_s:.4f} s with stragglers, "
                 f"{self.baseline_step_time_s:.4f} s without (x{self.slowdown:.4f})", "",
                 f"{'straggler':<44}{'without it (s)':>16}{'cost (s)':>12}"]
        for s in self.by_straggler:
            lines.append(f"{s['straggler'][:43]:<44}{s['step_time_without_s']:>16.4f}"
                         f"{s['cost_s']:>12.4f}")
        lines += ["", f"{'rank class':<28}{'ranks':>7}{'program':>9}{'speed':>8}"
                  f"{'wait (s)':>11}{'baseline':>11}"]
        for c in self.shown_classes(max_classes):
            lines.append(f"{c['label'][:27]:<28}{c['ranks']:>7}{c['program']:>9}"
                         f"{c['speed']:>8.3f}{c['wait_s']:>11.4f}{c['baseline_wait_s']:>11.4f}")
        lines += ["", f"{'op kind':<18}{'busy rank-s':>14}{'wait rank-s':>14}"
                  f"{'extra busy':>12}{'extra wait':>12}"]
        for o in self.by_op_kind:
            lines.append(f"{o['kind']:<18}{o['busy_rank_s']:>14.4g}{o['wait_rank_s']:>14.4g}"
                         f"{o['extra_busy_rank_s']:>12.4g}{o['extra_wait_rank_s']:>12.4g}")
        return "\n".join(lines)


def _baseline_waits(base: StepResult) -> dict[int, float]:
    """rank -> wait_s of its class in the straggler-free step."""
    out = {}
    for c, rt in zip(base.classes, base.ranks):
        for r in c.ranks:
            out[r] = rt.wait_s
    return out


def attribute(scenario, trace: Trace, graph: DiGraph, compute: ComputeModel, *,
              seed, step=None, routing: str | None = None) -> Attribution:
    """What-if report for ``scenario.stragglers`` (``scenario.sim.fold`` is honoured).

    ``step``: the already simulated step with every straggler (same ``seed``),
    to save one simulation; with episodes, per-class figures are those of its
    most probable state. Runs ``len(stragglers) + 1`` more simulations
    (times 2^episodes each).
    """
    stragglers = scenario.stragglers
    fold = scenario.sim.fold

    def sim(active):
        return simulate_with_stragglers(trace, graph, compute, stragglers, seed,
                                        fold=fold, active=active, routing=routing)

    full = step if step is not None else sim(None)
    base = _shown(sim(()))
    n = len(stragglers)
    by = []
    for i, cfg in enumerate(stragglers):
        t_without = base.step_time_s if n == 1 else \
            sim([j for j in range(n) if j != i]).step_time_s
        by.append({"index": i, "kind": cfg.kind, "straggler": describe(cfg),
                   "step_time_without_s": t_without,
                   "cost_s": full.step_time_s - t_without})
    full_time, full = full.step_time_s, _shown(full)
    base_wait = _baseline_waits(base)
    waits = [{"class": c.index, "label": c.label(), "ranks": c.size, "program": c.program,
              "speed": c.speed, "wait_s": rt.wait_s, "idle_s": rt.idle_s,
              "compute_s": rt.compute_s, "exposed_comm_s": rt.exposed_comm_s,
              "baseline_wait_s": base_wait[c.rep]}
             for c, rt in zip(full.classes, full.ranks)]
    with_s, without_s = op_kind_totals(full), op_kind_totals(base)
    kinds = []
    for k in sorted(set(with_s) | set(without_s)):
        b, w = with_s.get(k, (0.0, 0.0)), without_s.get(k, (0.0, 0.0))
        kinds.append({"kind": k, "busy_rank_s": b[0], "wait_rank_s": b[1],
                      "extra_busy_rank_s": b[0] - w[0], "extra_wait_rank_s": b[1] - w[1]})
    return Attribution(base.step_time_s, full_time, by, waits, kinds)


def _shown(step) -> StepResult:
    """The step whose spans stand for ``step`` (an episode mixture's most probable state)."""
    return getattr(step, "shown", step)
