"""Step metrics computed from recorded spans (analysis after the simulation)."""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from sim.engine.classes import RankClass
from sim.engine.plan import Span, SpanLog


def union_length(starts: np.ndarray, ends: np.ndarray) -> float:
    """Total length covered by the intervals [starts[i], ends[i])."""
    if len(starts) == 0:
        return 0.0
    order = np.argsort(starts, kind="stable")
    return _union_sorted(starts[order], ends[order])


def _union_sorted(s: np.ndarray, e: np.ndarray) -> float:
    """:func:`union_length` of intervals already in order of their starts."""
    n = len(s)
    if n == 0:
        return 0.0
    reach = np.maximum.accumulate(e)
    # a new merged block starts where an interval begins after everything before it ended
    new_block = np.empty(n, dtype=bool)
    new_block[0] = True
    new_block[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(new_block)
    # a block ends at the running max of its last interval (all before it ended sooner)
    last = np.append(first[1:] - 1, n - 1)
    return float((reach[last] - s[first]).sum())


@dataclass
class RankTimes:
    """Time accounting of one rank class over one step (seconds).

    Communication counts from the moment data moves (all partners present);
    time blocked in a communication op before that is *waiting* (pipeline
    bubble or a slower partner), counted in ``idle_s`` and also in ``wait_s``.
    ``compute_s + exposed_comm_s + idle_s`` equals the makespan.
    """

    cls: int
    label: str
    ranks: int
    compute_s: float
    comm_s: float
    exposed_comm_s: float
    idle_s: float
    wait_s: float
    end_s: float

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("label", "ranks", "compute_s", "comm_s",
                                                "exposed_comm_s", "idle_s", "wait_s", "end_s")}


_start, _sync, _end, _kind = (attrgetter(a) for a in ("start", "sync", "end", "kind"))
_compute = "compute"


def _columns(spans: list[Span]) -> dict[int, tuple[np.ndarray, ...]]:
    by_class: dict[int, list[Span]] = {}
    for sp in spans:
        by_class.setdefault(sp.cls, []).append(sp)
    out = {}
    for ci, sps in by_class.items():
        n = len(sps)
        out[ci] = (np.fromiter(map(_start, sps), float, n), np.fromiter(map(_sync, sps), float, n),
                   np.fromiter(map(_end, sps), float, n),
                   np.fromiter(map(_compute.__eq__, map(_kind, sps)), bool, n))
    return out


def rank_times(spans: list[Span] | SpanLog, classes: list[RankClass],
               makespan_s: float) -> list[RankTimes]:
    """Per class, its time accounting from the spans (or a run's span log,
    whose fused blocks give their ops' times without building spans)."""
    cols = spans.columns() if isinstance(spans, SpanLog) else _columns(spans)
    out = []
    for c in classes:
        if c.index not in cols:
            out.append(RankTimes(c.index, c.label(), c.size, 0, 0, 0, makespan_s, 0, 0))
            continue
        st, sy, en, is_comp = cols[c.index]
        # compute counts from its start, communication from its sync: one
        # order by that time serves both parts and their union
        active = np.where(is_comp, st, sy)
        order = np.argsort(active, kind="stable")
        a, e, k = active[order], en[order], is_comp[order]
        comp = _union_sorted(a[k], e[k])
        comm = _union_sorted(a[~k], e[~k])
        busy = _union_sorted(a, e)
        blocked = busy if np.array_equal(st, sy) else union_length(st, en)
        out.append(RankTimes(c.index, c.label(), c.size, comp, comm, busy - comp,
                             makespan_s - busy, blocked - busy, float(en.max())))
    return out
