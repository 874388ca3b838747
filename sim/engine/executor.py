"""The rank executor: SimPy processes that replay a trace.

Every rank class (see :mod:`sim.engine.classes`) replays its program's
streams. Ops of a stream run in order; an op starts when its stream is free
and its dependencies (possibly on other streams) have finished, so
communication overlaps compute exactly where the dependencies allow.

Ops whose length is known without looking at anyone else (compute, and
collectives of private families: see :mod:`sim.engine.private_families`)
are timed directly, ahead of the simulation clock: their start is the latest
of their stream's free time and their dependencies' ends, all known numbers,
so no event is needed. Only ops that meet other ranks or the network (a
rendezvous, a send, a collective on shared links) become SimPy processes,
issued at their start time; when one ends, its class's streams advance again
as far as known times allow.

A collective starts when every member of its communicator has reached it
(members' k-th collectives on one communicator must agree in kind and size);
a send and a recv pair up by peer and tag. The traffic of every instance a
class stands for is put on the network, so folded groups still contend.
Sends and receives that no other traffic can meet (see
:mod:`sim.engine.private_sends`) are posted as soon as their issue time is
known; when both sides of such a pair are posted, its end is computed in
closed form and one timeout ends both.

The executor only records spans; analysis happens afterwards.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import simpy

from sim.collectives import TopologyView
from sim.collectives.p2p import PointToPoint
from sim.collectives.planner import CollectivePlanner
from sim.compute import ComputeModel
from sim.engine.classes import RankClass
from sim.engine.private_families import private_ops
from sim.engine.private_sends import private_sends
from sim.errors import SimulationStuck, UserError
from sim.network.flows import FlowNetwork
from workloads.trace import COMPUTE, P2P, Op, Trace


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


@dataclass
class _Rendezvous:
    expected: frozenset
    arrived: dict        # class index -> (op, event)


class Executor:
    """Replays ``trace`` for ``classes`` on ``network`` with ``compute``."""

    def __init__(self, env: simpy.Environment, trace: Trace, classes: list[RankClass],
                 network: FlowNetwork, topo: TopologyView, compute: ComputeModel,
                 private_fast_path: bool = True, run_ahead: bool = True,
                 p2p_fast_path: bool = True):
        self.env = env
        self.trace = trace
        self.classes = classes
        self.net = network
        self.topo = topo
        self.compute = compute
        self.spans: list[Span] = []
        self.private_fast_path = private_fast_path
        self.run_ahead = run_ahead
        self.p2p_fast_path = p2p_fast_path
        self._planner = CollectivePlanner(network, topo)
        self._p2p_sends = PointToPoint(network, topo)

    # -- setup ---------------------------------------------------------------
    def run(self) -> list[Span]:
        """Run to completion; raise :class:`SimulationStuck` if ops never finish."""
        n = self.trace.world_size
        self._class_of = [0] * n
        for c in self.classes:
            for r in c.ranks:
                self._class_of[r] = c.index
        self._where: dict[tuple[int, str], tuple[Op, str]] = {}
        self._seq: dict[tuple[int, str], int] = {}
        self._rdv: dict[tuple, _Rendezvous] = {}
        self._classset_cache: dict[tuple[int, str], frozenset] = {}
        self._instances_cache: dict[tuple[str, frozenset], list[list[int]]] = {}
        self._private = (private_ops(self.trace, self.topo) if self.private_fast_path
                         else [frozenset()] * len(self.trace.programs))
        self._alone_p2p = (private_sends(self.trace, self.topo, self.net.router)
                           if self.p2p_fast_path
                           else [frozenset()] * len(self.trace.programs))
        self._pairs: dict[tuple, tuple] = {}
        self._sends: dict[tuple, deque] = {}
        self._recvs: dict[tuple, deque] = {}
        plans: dict[int, _ProgramPlan] = {}
        states = []
        for c in self.classes:
            plan = plans.get(c.program)
            if plan is None:
                plan = plans[c.program] = _ProgramPlan(self.trace.programs[c.program].ops,
                                                       self.compute)
            states.append(_ClassState(c, plan, self._delays(c, plan)))
        for st in states:
            self._advance(st)
        self.env.run()
        self._check_finished(states)
        return self.spans

    # -- replay ----------------------------------------------------------------
    def _advance(self, st: "_ClassState") -> None:
        """Time every op of ``st`` whose start is known, stream by stream, until
        no stream moves; an op that meets others becomes a process."""
        plan, ends = st.plan, st.ends
        delays = st.delays if self.run_ahead else st.no_delays
        ops, cross, names = plan.ops, plan.cross, plan.names
        spans = self.spans
        ci = st.cls.index
        moved = True
        while moved:
            moved = False
            for s, idx in enumerate(plan.streams):
                p = st.pos[s]
                n = len(idx)
                if p >= n or st.inflight[s]:
                    continue
                t = st.free[s]
                p0 = p
                while p < n:
                    k = idx[p]
                    start = t
                    for d in cross[k]:
                        e = ends[d]
                        if e is None:
                            break
                        if e > start:
                            start = e
                    else:
                        delay = delays[k]
                        op = ops[k]
                        p += 1
                        if delay is None:
                            st.inflight[s] = True
                            if op.kind in P2P:
                                self._post_p2p(st, s, k, start)
                            else:
                                self.env.process(self._remote(st, s, k, start))
                            break
                        t = ends[k] = start + delay
                        spans.append(Span(ci, names[s], op.id, op.kind, start, t, start,
                                          op.layer))
                        continue
                    break
                if p != p0:
                    moved = True
                    st.pos[s] = p
                    st.free[s] = t

    def _at(self, t: float, fn, *args) -> None:
        """Call ``fn(*args)`` at time ``t`` (now, or from a timeout's callback)."""
        env = self.env
        if t > env.now:
            env.timeout(t - env.now).callbacks.append(lambda _e: fn(*args))
        else:
            fn(*args)

    def _finish(self, st: "_ClassState", s: int, k: int, start: float, sync: float) -> None:
        """Op ``k`` of stream ``s`` (a process or a send/recv) ended now."""
        end = self.env.now
        op = st.plan.ops[k]
        self.spans.append(Span(st.cls.index, op.stream, op.id, op.kind, start, end, sync,
                               op.layer))
        self._where.pop((st.cls.index, op.stream), None)
        st.ends[k] = st.free[s] = end
        st.inflight[s] = False

    def _remote(self, st: "_ClassState", s: int, k: int, start: float):
        """Process of one op that meets other ranks or the network."""
        env = self.env
        if start > env.now:
            yield env.timeout(start - env.now)
        c, op = st.cls, st.plan.ops[k]
        start = env.now
        where = (c.index, op.stream)
        self._where[where] = (op, "running")
        delay = st.delays[k]
        if delay is not None:        # the reference path (run_ahead=False): one event per op
            yield env.timeout(delay)
            sync = start
        else:
            sync = yield from self._collective(c, op, k in self._private[c.program])
        self._finish(st, s, k, start, sync)
        self._advance(st)

    def _delays(self, c: RankClass, plan: "_ProgramPlan") -> list[float | None]:
        """Per op of the program: its duration if known without simulating anyone else."""
        speed = c.speed
        out = (list(plan.duration) if speed == 1.0
               else [None if base is None else base / speed for base in plan.duration])
        private: dict = {}
        ops = plan.ops
        for k in sorted(self._private[c.program]):
            op = ops[k]
            key = (op.group, op.kind, op.bytes, op.algorithm)
            if key not in private:
                private[key] = self._private_delay(c, op)
            out[k] = private[key]
        return out

    def _private_delay(self, c: RankClass, op: Op) -> float | None:
        classset = self._classset(c, op.group)
        if len(classset) != 1:
            return None
        key = (op.group, classset, op.kind, op.bytes, op.algorithm)
        return self._planner.isolated_time_s(
            op.kind, op.bytes, self._instances(op.group, classset), op.algorithm, key)

    # -- collectives ---------------------------------------------------------
    def _classset(self, c: RankClass, family: str) -> frozenset:
        key = (c.index, family)
        hit = self._classset_cache.get(key)
        if hit is None:
            members = self.trace.member_list(family, c.rep)
            hit = frozenset(self._class_of[m] for m in members)
            self._classset_cache[key] = hit
        return hit

    def _instances(self, family: str, classset: frozenset) -> list[list[int]]:
        key = (family, classset)
        hit = self._instances_cache.get(key)
        if hit is None:
            hit = [[self.trace.gpu_of(r) for r in ms] for ms in self.trace.groups[family]
                   if self._class_of[ms[0]] in classset
                   and frozenset(self._class_of[m] for m in ms) == classset]
            self._instances_cache[key] = hit
        return hit

    def _collective(self, c: RankClass, op: Op, private: bool):
        classset = self._classset(c, op.group)
        if len(classset) == 1:
            # every member is this class: all arrive together, nothing to match
            start = self.env.now
            yield from self._run_collective(op, classset, private)
            return start
        seq_key = (c.index, op.group)
        seq = self._seq.get(seq_key, 0)
        self._seq[seq_key] = seq + 1
        key = (op.group, classset, seq)
        rdv = self._rdv.get(key)
        if rdv is None:
            rdv = self._rdv[key] = _Rendezvous(classset, {})
        ev = self.env.event()
        rdv.arrived[c.index] = (op, ev)
        self._where[(c.index, op.stream)] = (op, f"waiting for group '{op.group}' members")
        if len(rdv.arrived) == len(classset):
            del self._rdv[key]
            self._check_match(rdv)
            self.env.process(self._launch(op, classset, rdv, private))
        yield ev
        return ev.value

    def _check_match(self, rdv: _Rendezvous) -> None:
        items = sorted(rdv.arrived.items())
        (c0, (op0, _)) = items[0]
        for ci, (op, _) in items[1:]:
            if op.kind != op0.kind or op.bytes != op0.bytes:
                raise UserError(
                    f"mismatched collective on group '{op0.group}': "
                    f"{self.classes[c0].label()} op '{op0.id}' is {op0.kind} of "
                    f"{op0.bytes:g} bytes but {self.classes[ci].label()} op '{op.id}' is "
                    f"{op.kind} of {op.bytes:g} bytes", field="ops", value=[op0.id, op.id])

    def _launch(self, op: Op, classset: frozenset, rdv: _Rendezvous, private: bool):
        start = self.env.now
        yield from self._run_collective(op, classset, private)
        for _, ev in rdv.arrived.values():
            ev.succeed(start)

    def _run_collective(self, op: Op, classset: frozenset, private: bool):
        instances = self._instances(op.group, classset)
        key = (op.group, classset, op.kind, op.bytes, op.algorithm)
        if private:
            yield self.env.timeout(self._planner.isolated_time_s(
                op.kind, op.bytes, instances, op.algorithm, key))
        else:
            yield from self._planner.run(op.kind, op.bytes, instances, op.algorithm, key)

    # -- point to point ------------------------------------------------------
    def _peer_class(self, c: RankClass, op: Op) -> int:
        return self._class_of[op.peer.resolve(c.rep, self.trace)]

    def _post_p2p(self, st: "_ClassState", s: int, k: int, start: float) -> None:
        """Post send or receive ``k``, issued at ``start``: a private one (see
        :mod:`sim.engine.private_sends`) at once, ahead of the clock, any
        other at ``start``."""
        start = max(start, self.env.now)
        if k in self._alone_p2p[st.cls.program]:
            self._pair_p2p(st, s, k, start, True)
        else:
            self._at(start, self._pair_p2p, st, s, k, start, False)

    def _pair_p2p(self, st: "_ClassState", s: int, k: int, start: float, alone: bool) -> None:
        """Once both sides are posted the transfer starts when the later one
        was issued; between two private sides it is timed in closed form,
        else on the network, and its end ends both ops (no process:
        callbacks)."""
        c, op = st.cls, st.plan.ops[k]
        other = self._peer_class(c, op)
        is_send = op.kind == "send"
        key = (c.index, other, op.tag) if is_send else (other, c.index, op.tag)
        mine, theirs = (self._sends, self._recvs) if is_send else (self._recvs, self._sends)
        self._where[(c.index, op.stream)] = (op, lambda: (
            f"waiting for a matching {'recv' if is_send else 'send'} "
            f"(tag {op.tag}) on {self.classes[other].label()}"))
        me = (st, s, k, start, alone)
        queue = theirs.get(key)
        if not queue:
            mine.setdefault(key, deque()).append(me)
            return
        peer = queue.popleft()
        send, recv = (me, peer) if is_send else (peer, me)
        s_op, r_op = send[0].plan.ops[send[2]], recv[0].plan.ops[recv[2]]
        if s_op.bytes != r_op.bytes:
            raise UserError(
                f"mismatched send/recv (tag {op.tag}): {send[0].cls.label()} op "
                f"'{s_op.id}' sends {s_op.bytes:g} bytes but {recv[0].cls.label()} "
                f"op '{r_op.id}' receives {r_op.bytes:g}", field="ops",
                value=[s_op.id, r_op.id])
        sync = max(start, peer[3])
        pkey = (send[0].cls.index, s_op.peer)
        pairs = self._pairs.get(pkey)
        if pairs is None:
            pairs = self._pairs[pkey] = tuple(
                (self.trace.gpu_of(r), self.trace.gpu_of(s_op.peer.resolve(r, self.trace)))
                for r in send[0].cls.ranks)
        if alone and peer[4]:
            # always through the event queue: posting may happen inside _advance
            end = self._p2p_sends.isolated_end_s(pairs, s_op.bytes, sync)
            self.env.timeout(max(end - self.env.now, 0.0)).callbacks.append(
                lambda _e: self._p2p_done(me, peer, sync))
        else:
            self._at(sync, self._transfer, me, peer, sync, pairs, s_op.bytes)

    def _transfer(self, a: tuple, b: tuple, sync: float, pairs: tuple, nbytes: float) -> None:
        self._p2p_sends.send(pairs, nbytes).callbacks.append(
            lambda _e: self._p2p_done(a, b, sync))

    def _p2p_done(self, a: tuple, b: tuple, sync: float) -> None:
        for st, s, k, start, _ in (a, b):
            self._finish(st, s, k, start, sync)
        self._advance(a[0])
        if b[0] is not a[0]:
            self._advance(b[0])

    # -- completion ----------------------------------------------------------
    def _check_finished(self, states: list["_ClassState"]) -> None:
        for st in states:
            for s, idx in enumerate(st.plan.streams):
                if st.pos[s] < len(idx) and not st.inflight[s]:
                    op = st.plan.ops[idx[st.pos[s]]]
                    self._where[(st.cls.index, op.stream)] = (op, "waiting for dependencies")
        if not self._where:
            return
        lines = []
        for (ci, stream), (op, state) in sorted(self._where.items())[:6]:
            lines.append(f"{self.classes[ci].label()} stream '{stream}' op '{op.id}' "
                         f"({op.kind}): {state() if callable(state) else state}")
        more = len(self._where) - len(lines)
        tail = f"; and {more} more stuck streams" if more > 0 else ""
        raise SimulationStuck("trace can never finish: " + "; ".join(lines) + tail,
                              field="ops", value=[op.id for op, _ in list(self._where.values())[:6]])


class _ClassState:
    """Replay state of one rank class: per op its end once known (None
    before), per stream the next op, the time it is free and whether an op
    of it is in flight as a process."""

    __slots__ = ("cls", "plan", "delays", "no_delays", "ends", "pos", "free", "inflight")

    def __init__(self, cls: RankClass, plan: "_ProgramPlan", delays: list[float | None]):
        self.cls = cls
        self.plan = plan
        self.delays = delays
        self.no_delays = [None] * len(delays)
        self.ends: list[float | None] = [None] * len(plan.ops)
        n = len(plan.streams)
        self.pos = [0] * n
        self.free = [0.0] * n
        self.inflight = [False] * n


class _ProgramPlan:
    """Per-program facts shared by every class running it, by op position.

    ``streams``: per stream (named ``names``), its op positions in order;
    ``cross``: per op, the positions of its dependencies on *other* streams
    (same-stream ones are met by order); ``duration``: compute duration at
    full speed (None for communication).
    """

    def __init__(self, ops: list[Op], compute: ComputeModel):
        self.ops = ops
        index = {op.id: i for i, op in enumerate(ops)}
        stream_ix: dict[str, int] = {}
        self.streams: list[list[int]] = []
        stream_of = []
        cross = []
        durs = []
        cost: dict = {}
        empty = ()
        for i, op in enumerate(ops):
            s = stream_ix.get(op.stream)
            if s is None:
                s = stream_ix[op.stream] = len(self.streams)
                self.streams.append([])
            self.streams[s].append(i)
            stream_of.append(s)
            if op.kind == COMPUTE:
                key = (op.duration_s, op.flops, op.bytes, op.category)
                d = cost.get(key)
                if d is None:
                    d = cost[key] = compute.duration_s(op)
                durs.append(d)
            else:
                durs.append(None)
        for i, op in enumerate(ops):
            deps = op.deps
            if not deps:
                cross.append(empty)
            elif len(deps) == 1:
                j = index[deps[0]]
                cross.append(empty if stream_of[j] == stream_of[i] else (j,))
            else:
                s = stream_of[i]
                cross.append(tuple([j for j in map(index.__getitem__, deps)
                                    if stream_of[j] != s]))
        self.names = list(stream_ix)
        self.cross = cross
        self.duration = durs
