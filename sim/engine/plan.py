"""Replay plans: per-program facts the executor steps through, built from the
compressed program form (single ops and template instances) without
expanding it.

A program's ops have *positions* (their index in the expanded program); a
template instance occupies a run of them. Every stream is a list of
*entries*: a single op (its position, >= 0) or an instance (``~number``,
< 0). Facts about a template's steps (streams, dependencies, compute cost,
a compiled stepping kernel) are computed once per template
(:class:`TemplatePlan`) and shared by every instance, program and class.

Fused stepping. When every op of an instance has a known length and all of
its inputs are known (each of its streams is free at a known time, and the
ops it waits for outside it have ended), the executor times the whole block
with one call of its kernel: straight-line code that takes, per op, the
latest of its stream's free time and its dependencies' ends, and adds the
op's length, in the same order and with the same float operations as the
op-by-op replay (so the times are identical, not merely close). A fused
block keeps only what later ops read (the ends of its outputs, its streams'
free times); its spans are rebuilt on request by running the kernel's
recording variant on the same inputs (:class:`SpanLog`).
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from sim.compute import ComputeModel
from workloads.trace import COMPUTE, INCOMING, Op, Program

if TYPE_CHECKING:
    from workloads.generate.template import Instance, Template


@dataclass(slots=True)
class Span:
    """One timed op of one rank class (times in seconds)."""

    cls: int
    stream: str
    op: str
    kind: str
    start: float          # issued: stream free and dependencies done
    end: float
    sync: float           # began moving: all partners present (== start for compute)
    layer: str | None = None


class TemplatePlan:
    """Facts about one template's steps, shared by all its instances.

    ``names``: the streams it uses (local stream i is ``names[i]``);
    ``stream``: per step its local stream; ``by_stream``: per local stream its
    steps in order; ``cross``: per step the steps of *other* streams it waits
    for; ``incoming``: per step whether it waits for the instance's incoming
    ids; ``outputs``: the steps later ops may wait for.
    """

    def __init__(self, t: Template, compute: ComputeModel, cost: dict):
        self.template = t
        steps = t.steps
        ix: dict[str, int] = {}
        self.stream = [ix.setdefault(st.stream, len(ix)) for st in steps]
        self.names = list(ix)
        self.by_stream: list[list[int]] = [[] for _ in ix]
        for j, s in enumerate(self.stream):
            self.by_stream[s].append(j)
        self.cross = [tuple(d for d in st.deps if d != INCOMING and self.stream[d] != self.stream[j])
                      for j, st in enumerate(steps)]
        self.incoming = [INCOMING in st.deps for st in steps]
        self.outputs = tuple(o for o in t.outputs if o != INCOMING)
        self.proto = t.proto_ops
        self.base = [_compute_s(op, compute, cost) if op.kind == COMPUTE else None
                     for op in self.proto]
        self._kernels: dict = {}

    def first_waits(self, local: int, extra_step: int) -> tuple[bool, bool, bool]:
        """Of the first step on local stream ``local``: whether it waits for
        steps inside the instance, for the incoming ids, for the extra ids."""
        j = self.by_stream[local][0]
        return bool(self.cross[j]), self.incoming[j], j == extra_step

    def kernel(self, extra_step: int, record: bool):
        """The compiled stepping of the whole block (see the module docstring).

        ``k(f, x, y, d)``: ``f`` the free time of each local stream, ``x`` the
        latest end of the incoming ids, ``y`` that of the extra ids of step
        ``extra_step``, ``d`` each step's length. Returns the streams' new free
        times and the output steps' ends, or with ``record`` every step's
        (start, end) flattened.
        """
        key = (extra_step, record)
        fn = self._kernels.get(key)
        if fn is None:
            fn = self._kernels[key] = _compile(self, extra_step, record)
        return fn


def _compile(tp: TemplatePlan, extra_step: int, record: bool | str):
    """The kernel's source, compiled. ``record="arrays"``: the recording
    variant on numpy arrays (one element per block; ``np.maximum`` and
    elementwise addition give the same floats as the scalar code)."""
    n_streams = len(tp.names)
    vector = record == "arrays"
    lines = [f"def k(f, x, y, d):",
             f"    {', '.join(f'f{i}' for i in range(n_streams))}, = f"]
    if not record:
        return _exec(_plain_source(tp, extra_step, lines))
    for j, s in enumerate(tp.stream):
        lines.append(f"    s = f{s}")
        waits = [f"e{c}" for c in tp.cross[j]]
        if tp.incoming[j]:
            waits.append("x")
        if j == extra_step:
            waits.append("y")
        for w in waits:
            lines.append(f"    s = maximum(s, {w})" if vector else f"    if {w} > s: s = {w}")
        lines.append(f"    s{j} = s")
        lines.append(f"    e{j} = f{s} = s + d[{j}]")
    lines.append("    return (" + "".join(f"s{j}, e{j}, " for j in range(len(tp.stream)))
                 + ")")
    return _exec(lines)


def _plain_source(tp: TemplatePlan, extra_step: int, lines: list[str]) -> list[str]:
    """The stepping kernel without recording: the same float operations as
    the recording one, with the lengths unpacked once, a step that waits for
    nothing added straight to its stream's free time, and only the ends that
    are read again (by a later step, or as outputs) kept."""
    read = set(tp.outputs).union(*tp.cross)
    if tp.stream:
        lines.append(f"    {', '.join(f'd{j}' for j in range(len(tp.stream)))}, = d")
    for j, s in enumerate(tp.stream):
        waits = [f"e{c}" for c in tp.cross[j]]
        if tp.incoming[j]:
            waits.append("x")
        if j == extra_step:
            waits.append("y")
        if waits:
            lines.append(f"    s = f{s}")
            lines.extend(f"    if {w} > s: s = {w}" for w in waits)
            total = f"s + d{j}"
        else:
            total = f"f{s} + d{j}"
        lines.append(f"    {f'e{j} = ' if j in read else ''}f{s} = {total}")
    lines.append("    return (" + "".join(f"f{i}, " for i in range(len(tp.names))) + "), ("
                 + "".join(f"e{o}, " for o in tp.outputs) + ")")
    return lines


def _exec(lines: list[str]):
    source = "\n".join(lines)
    fn = _KERNELS.get(source)
    if fn is None:
        env: dict = {"maximum": np.maximum}
        exec(compile(source, "<block kernel>", "exec"), env)
        fn = _KERNELS[source] = env["k"]
    return fn


#: compiled kernels by source: blocks of the same shape (the same chain on
#: several pipeline stages, whose layers differ only by name) share one
_KERNELS: dict[str, object] = {}


def _compute_s(op: Op, compute: ComputeModel, cost: dict) -> float:
    """``compute.duration_s(op)``, memoised in ``cost`` on everything it reads."""
    key = compute.duration_key(op)
    d = cost.get(key)
    if d is None:
        d = cost[key] = compute.duration_of(key)
    return d


class InstancePlan:
    """One instance in one program: its template plan, first position, global
    streams (per local stream), entry index on each of them, the positions
    of its incoming ids and of its extra ids (step, positions) or None."""

    __slots__ = ("piece", "tp", "tid", "base", "gstreams", "entries", "inc", "extra_step",
                 "extra", "kernel", "_runs")

    def __init__(self, piece: Instance, tp: TemplatePlan, base: int,
                 gstreams: tuple[int, ...] = (), entries: tuple[int, ...] | None = None):
        self.piece = piece
        self.tp = tp
        self.tid = id(tp)
        self.base = base
        self.gstreams = gstreams
        self.entries = entries
        self._runs = None


class ProgramPlan:
    """Per-program facts shared by every class running it (see the module
    docstring). ``streams``: per stream (named ``names``) its entries;
    ``ops``, ``cross``, ``duration``: per position the op, the positions of
    its dependencies on other streams, its compute length at full speed
    (None for communication); filled for single ops at once, for an
    instance's steps when some class first steps it op by op
    (:meth:`materialise`). ``insts``: the instances, by number.
    """

    def __init__(self, program: Program, compute: ComputeModel, tplans: dict, cost: dict):
        index: dict[str, int] = {}          # id -> position, of single ops and outputs
        stream_at: dict[int, int] = {}      # position -> stream, of the same
        stream_ix: dict[str, int] = {}
        streams: list[list[int]] = []
        self.insts: list[InstancePlan] = []
        singles: list[tuple[int, Op]] = []
        # per template plan: its global streams and (step, id suffix, global
        # stream) of each output
        mapped: dict[int, tuple] = {}
        insts = self.insts
        k = 0
        for u in program.units():
            if type(u) is Op:
                index[u.id] = k
                s = stream_ix.get(u.stream)
                if s is None:
                    s = stream_ix[u.stream] = len(streams)
                    streams.append([])
                streams[s].append(k)
                stream_at[k] = s
                singles.append((k, u))
                k += 1
                continue
            t = u.template
            tp = tplans.get(id(t))
            if tp is None:
                tp = tplans[id(t)] = TemplatePlan(t, compute, cost)
            m = mapped.get(id(tp))
            if m is None:
                for name in tp.names:
                    if name not in stream_ix:
                        stream_ix[name] = len(streams)
                        streams.append([])
                gs = tuple([stream_ix[name] for name in tp.names])
                m = mapped[id(tp)] = (gs, tuple((o, "." + t.steps[o].suffix, gs[tp.stream[o]])
                                                for o in tp.outputs))
            gs, outs = m
            num = ~len(insts)
            if len(gs) == 1:
                insts.append(InstancePlan(u, tp, k, gs))
                streams[gs[0]].append(num)
            else:
                insts.append(InstancePlan(u, tp, k, gs, tuple([len(streams[s]) for s in gs])))
                for s in gs:
                    streams[s].append(num)
            prefix = u.prefix
            for o, suffix, g in outs:
                index[prefix + suffix] = k + o
                stream_at[k + o] = g
            k += len(t.steps)
        self.streams = streams
        self.names = list(stream_ix)
        self.ops: list[Op | None] = [None] * k
        self.duration: list[float | None] = [None] * k
        self.cross: list[tuple[int, ...] | None] = [None] * k
        self.singles = [k for k, _ in singles]
        self._at: dict[int, tuple] = {}
        get = index.__getitem__
        empty = ()
        ops, duration, cross = self.ops, self.duration, self.cross
        for k, op in singles:
            ops[k] = op
            if op.kind == COMPUTE:
                duration[k] = _compute_s(op, compute, cost)
            deps = op.deps
            if deps:
                s = stream_at[k]
                cross[k] = tuple([j for j in map(get, deps) if stream_at[j] != s])
            else:
                cross[k] = empty
        kernels: dict[tuple[int, int], object] = {}
        for ip in insts:
            u = ip.piece
            ip.inc = tuple(map(get, u.incoming))
            if u.extra is None:
                ip.extra_step, ip.extra = -1, empty
            else:
                ip.extra_step, ip.extra = u.extra[0], tuple(map(get, u.extra[1]))
            kern = kernels.get((ip.tid, ip.extra_step))
            if kern is None:
                kern = kernels[(ip.tid, ip.extra_step)] = ip.tp.kernel(ip.extra_step, False)
            ip.kernel = kern

    def instances_at(self, positions: frozenset[int]) -> list[int]:
        """The instances holding some of ``positions``, in order (cached)."""
        hit = self._at.get(id(positions))
        if hit is None or hit[0] is not positions:
            bases = [ip.base for ip in self.insts]
            found = set()
            for k in positions:
                i = bisect_right(bases, k) - 1
                if i >= 0 and k < bases[i] + len(self.insts[i].tp.proto):
                    found.add(i)
            hit = self._at[id(positions)] = (positions, sorted(found))
        return hit[1]

    def materialise(self, i: int) -> None:
        """Fill ``ops`` and ``cross`` for the steps of instance ``i``."""
        ip = self.insts[i]
        if ip._runs is not None:
            return
        tp, base, ops = ip.tp, ip.base, self.ops
        expanded: list[Op] = []
        ip.piece.expand(expanded)
        ops[base:base + len(expanded)] = expanded
        for j in range(len(expanded)):
            deps = [base + c for c in tp.cross[j]]
            if tp.incoming[j]:
                deps.extend(ip.inc)
            if j == ip.extra_step:
                deps.extend(ip.extra)
            self.cross[base + j] = tuple(deps)
        ip._runs = {g: tuple(base + j for j in tp.by_stream[ls])
                    for ls, g in enumerate(ip.gstreams)}

    def run_of(self, i: int, s: int) -> tuple[int, ...]:
        """Positions of instance ``i``'s ops on stream ``s`` (materialised)."""
        return self.insts[i]._runs[s]


class SpanLog:
    """The spans of one run: those recorded op by op, and fused blocks as
    ``(class, plan, instance, free times, x, y, lengths)``, expanded on
    request. ``makespan_s``: the latest end of all."""

    def __init__(self, spans: list[Span], blocks: list[tuple], makespan_s: float):
        self.recorded = spans
        self.blocks = blocks
        self.makespan_s = makespan_s
        self._all: list[Span] | None = None

    def spans(self) -> list[Span]:
        """Every span (fused blocks expanded), recorded ones first."""
        if self._all is None:
            out = list(self.recorded)
            for ci, plan, i, f, x, y, d in self.blocks:
                ip = plan.insts[i]
                tp, piece = ip.tp, ip.piece
                times = tp.kernel(ip.extra_step, True)(f, x, y, d)
                dot, names = piece.prefix + ".", tp.names
                layers = tp.template.layers or [piece.layer] * len(tp.stream)
                for j, st in enumerate(tp.template.steps):
                    s = times[2 * j]
                    out.append(Span(ci, names[tp.stream[j]], dot + st.suffix, st.kind, s,
                                    times[2 * j + 1], s, layers[j]))
            self._all = out
        return self._all

    def columns(self) -> dict[int, tuple[np.ndarray, ...]]:
        """Per class: start, sync, end and is-compute of every span, as
        arrays. Fused blocks of one class, template and set of lengths are
        replayed together on arrays (same floats as one by one)."""
        if COLUMN_ARRAYS:
            cols: dict[int, list[list[np.ndarray]]] = {
                ci: [[a], [b], [c], [kd]]
                for ci, (a, b, c, kd) in _recorded_columns(self.recorded).items()}
        else:
            parts: dict[int, list[list]] = {}
            for sp in self.recorded:
                p = parts.get(sp.cls)
                if p is None:
                    p = parts[sp.cls] = [[], [], [], []]
                p[0].append(sp.start)
                p[1].append(sp.sync)
                p[2].append(sp.end)
                p[3].append(sp.kind == COMPUTE)
            cols = {ci: [[np.array(a, float)], [np.array(b, float)], [np.array(c, float)],
                         [np.array(kd, bool)]] for ci, (a, b, c, kd) in parts.items()}
        groups: dict[tuple, list] = {}
        # lengths tuples are shared by many blocks: hashed once per object, and
        # equal ones grouped by one representative's identity
        equal: dict[tuple, tuple] = {}
        rep: dict[int, int] = {}
        for ci, plan, i, f, x, y, d in self.blocks:
            ip = plan.insts[i]
            r = rep.get(id(d))
            if r is None:
                r = rep[id(d)] = id(equal.setdefault(d, d))
            g = groups.get((ci, id(ip.tp), ip.extra_step, r))
            if g is None:
                g = groups[(ci, id(ip.tp), ip.extra_step, r)] = [ip.tp, d]
            g.append((f, x, y))
        for (ci, _, extra_step, _), (tp, d, *rows) in groups.items():
            n_streams = len(tp.names)
            fs = np.array([r[0] for r in rows], float).reshape(len(rows), n_streams)
            x = np.array([r[1] for r in rows], float)
            y = np.array([r[2] for r in rows], float)
            times = tp.kernel(extra_step, "arrays")(list(fs.T), x, y, d)
            starts = np.stack(times[0::2], axis=1).ravel()
            c = cols.setdefault(ci, [[], [], [], []])
            c[0].append(starts)
            c[1].append(starts)
            c[2].append(np.stack(times[1::2], axis=1).ravel())
            c[3].append(np.tile([op.kind == COMPUTE for op in tp.proto], len(rows)))
        return {ci: tuple(np.concatenate(v) for v in c) for ci, c in cols.items()}


#: :meth:`SpanLog.columns` reads the recorded spans field by field into arrays
#: and splits them by class with one stable sort (False: span by span, the
#: reference)
COLUMN_ARRAYS = True

_fields = tuple(attrgetter(a) for a in ("cls", "start", "sync", "end", "kind"))


def _recorded_columns(spans: list[Span]) -> dict[int, tuple[np.ndarray, ...]]:
    """Per class (in order of first appearance): start, sync, end and
    is-compute of its spans, in their order."""
    n = len(spans)
    if not n:
        return {}
    get_cls, get_start, get_sync, get_end, get_kind = _fields
    cls = np.fromiter(map(get_cls, spans), np.int64, n)
    data = (np.fromiter(map(get_start, spans), float, n),
            np.fromiter(map(get_sync, spans), float, n),
            np.fromiter(map(get_end, spans), float, n),
            np.fromiter(map(COMPUTE.__eq__, map(get_kind, spans)), bool, n))
    order = np.argsort(cls, kind="stable")
    sorted_cls = cls[order]
    cuts = np.flatnonzero(sorted_cls[1:] != sorted_cls[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.append(cuts, n)
    data = tuple(a[order] for a in data)
    # classes by their first span: the first position in the stable order of each run
    first = order[starts]
    out = {}
    for g in np.argsort(first, kind="stable").tolist():
        lo, hi = int(starts[g]), int(ends[g])
        out[int(sorted_cls[lo])] = tuple(a[lo:hi] for a in data)
    return out
