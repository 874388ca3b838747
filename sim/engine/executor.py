"""The rank executor: SimPy processes that replay a trace.

Every rank class (see :mod:`sim.engine.classes`) runs one process per stream.
Ops of a stream run in order; an op starts when its stream is free and its
dependencies (possibly on other streams) have finished, so communication
overlaps compute exactly where the dependencies allow.

A collective starts when every member of its communicator has reached it
(members' k-th collectives on one communicator must agree in kind and size);
a send and a recv pair up by peer and tag. The traffic of every instance a
class stands for is put on the network, so folded groups still contend.

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
from sim.engine.private_families import private_families
from sim.errors import SimulationStuck, UserError
from sim.network.flows import FlowNetwork
from workloads.trace import COMPUTE, Op, Trace


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
                 private_fast_path: bool = True):
        self.env = env
        self.trace = trace
        self.classes = classes
        self.net = network
        self.topo = topo
        self.compute = compute
        self.spans: list[Span] = []
        self.private_fast_path = private_fast_path
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
        self._done: list[dict[str, simpy.Event]] = []
        self._where: dict[tuple[int, str], tuple[Op, str]] = {}
        self._seq: dict[tuple[int, str], int] = {}
        self._rdv: dict[tuple, _Rendezvous] = {}
        self._classset_cache: dict[tuple[int, str], frozenset] = {}
        self._instances_cache: dict[tuple[str, frozenset], list[list[int]]] = {}
        self._private = (private_families(self.trace, self.topo) if self.private_fast_path
                         else set())
        self._pairs: dict[tuple, tuple] = {}
        self._sends: dict[tuple, deque] = {}
        self._recvs: dict[tuple, deque] = {}
        plans: dict[int, _ProgramPlan] = {}
        for c in self.classes:
            plan = plans.get(c.program)
            if plan is None:
                plan = plans[c.program] = _ProgramPlan(self.trace.programs[c.program].ops,
                                                       self.compute)
            self._done.append({oid: self.env.event() for oid in plan.needed})
            for name, sops in plan.streams.items():
                self.env.process(self._stream(c, name, sops, plan))
        self.env.run()
        self._check_finished()
        return self.spans

    # -- processes -----------------------------------------------------------
    def _stream(self, c: RankClass, stream: str, ops: list[Op], plan: "_ProgramPlan"):
        done = self._done[c.index]
        needed, cross = plan.needed_at[stream], plan.cross_at[stream]
        delays = self._delays(c, stream, ops, plan)
        where = (c.index, stream)
        env = self.env
        spans = self.spans
        ci = c.index
        i, n = 0, len(ops)
        while i < n:
            op = ops[i]
            pending = cross[i]
            if pending:
                self._where[where] = (op, "waiting for dependencies")
                pending = [done[d] for d in pending if not done[d].triggered]
                if pending:
                    yield pending[0] if len(pending) == 1 else env.all_of(pending)
            start = env.now
            self._where[where] = (op, "running")
            delay = delays[i]
            if delay is not None:
                # run consecutive fixed-length ops (compute, private-family collectives)
                # as one delay while nothing else waits on them and their
                # dependencies are already met
                t = start
                while True:
                    end = t + delay
                    spans.append(Span(ci, stream, op.id, op.kind, t, end, t, op.layer))
                    t = end
                    if needed[i] or i + 1 >= n:
                        break
                    delay = delays[i + 1]
                    if delay is None:
                        break
                    nxt = cross[i + 1]
                    if nxt and any(not done[d].triggered for d in nxt):
                        break
                    i += 1
                    op = ops[i]
                yield env.timeout(t - start)
            else:
                if op.is_collective:
                    sync = yield from self._collective(c, op)
                else:
                    sync = yield from self._p2p(c, op)
                spans.append(Span(ci, stream, op.id, op.kind, start, env.now, sync, op.layer))
            if needed[i]:
                done[op.id].succeed()
            i += 1
        self._where.pop(where, None)

    def _delays(self, c: RankClass, stream: str, ops: list[Op],
                plan: "_ProgramPlan") -> list[float | None]:
        """Per op of ``stream``: its duration if known without simulating anyone else."""
        speed = c.speed
        out = []
        for op, base in zip(ops, plan.duration_at[stream]):
            if base is not None:
                out.append(base / speed)
            elif op.is_collective and op.group in self._private:
                out.append(self._private_delay(c, op))
            else:
                out.append(None)
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

    def _collective(self, c: RankClass, op: Op):
        classset = self._classset(c, op.group)
        if len(classset) == 1:
            # every member is this class: all arrive together, nothing to match
            start = self.env.now
            yield from self._run_collective(op, classset)
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
            self.env.process(self._launch(op, classset, rdv))
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

    def _launch(self, op: Op, classset: frozenset, rdv: _Rendezvous):
        start = self.env.now
        yield from self._run_collective(op, classset)
        for _, ev in rdv.arrived.values():
            ev.succeed(start)

    def _run_collective(self, op: Op, classset: frozenset):
        instances = self._instances(op.group, classset)
        key = (op.group, classset, op.kind, op.bytes, op.algorithm)
        if op.group in self._private:
            yield self.env.timeout(self._planner.isolated_time_s(
                op.kind, op.bytes, instances, op.algorithm, key))
        else:
            yield from self._planner.run(op.kind, op.bytes, instances, op.algorithm, key)

    # -- point to point ------------------------------------------------------
    def _peer_class(self, c: RankClass, op: Op) -> int:
        return self._class_of[op.peer.resolve(c.rep, self.trace)]

    def _p2p(self, c: RankClass, op: Op):
        other = self._peer_class(c, op)
        key = (c.index, other, op.tag) if op.kind == "send" else (other, c.index, op.tag)
        mine, theirs = (self._sends, self._recvs) if op.kind == "send" else (self._recvs, self._sends)
        ev = self.env.event()
        self._where[(c.index, op.stream)] = (
            op, f"waiting for a matching {'recv' if op.kind == 'send' else 'send'} "
                f"(tag {op.tag}) on {self.classes[other].label()}")
        queue = theirs.get(key)
        if queue:
            peer_c, peer_op, peer_ev = queue.popleft()
            send = (c, op) if op.kind == "send" else (peer_c, peer_op)
            recv = (peer_c, peer_op) if op.kind == "send" else (c, op)
            if send[1].bytes != recv[1].bytes:
                raise UserError(
                    f"mismatched send/recv (tag {op.tag}): {send[0].label()} op "
                    f"'{send[1].id}' sends {send[1].bytes:g} bytes but {recv[0].label()} "
                    f"op '{recv[1].id}' receives {recv[1].bytes:g}", field="ops",
                    value=[send[1].id, recv[1].id])
            self.env.process(self._transfer(send[0], send[1], [ev, peer_ev]))
        else:
            mine.setdefault(key, deque()).append((c, op, ev))
        yield ev
        return ev.value

    def _transfer(self, c: RankClass, op: Op, events):
        start = self.env.now
        key = (c.index, op.peer)
        pairs = self._pairs.get(key)
        if pairs is None:
            pairs = self._pairs[key] = tuple(
                (self.trace.gpu_of(r), self.trace.gpu_of(op.peer.resolve(r, self.trace)))
                for r in c.ranks)
        yield self._p2p_sends.send(pairs, op.bytes)
        for ev in events:
            ev.succeed(start)

    # -- completion ----------------------------------------------------------
    def _check_finished(self) -> None:
        if not self._where:
            return
        lines = []
        for (ci, stream), (op, state) in sorted(self._where.items())[:6]:
            lines.append(f"{self.classes[ci].label()} stream '{stream}' op '{op.id}' "
                         f"({op.kind}): {state}")
        more = len(self._where) - len(lines)
        tail = f"; and {more} more stuck streams" if more > 0 else ""
        raise SimulationStuck("trace can never finish: " + "; ".join(lines) + tail,
                              field="ops", value=[op.id for op, _ in list(self._where.values())[:6]])


class _ProgramPlan:
    """Per-program facts shared by every class running it.

    ``streams``: ops per stream in order; per stream and op position,
    ``cross_at``: the dependencies on *other* streams (same-stream ones are
    met by order), ``needed_at``: whether some other stream waits for the op
    (only those get events), ``duration_at``: compute duration at full speed
    (None for communication). ``needed``: the ids of all waited-for ops.
    """

    def __init__(self, ops: list[Op], compute: ComputeModel):
        stream_of = {op.id: op.stream for op in ops}
        self.streams: dict[str, list[Op]] = {}
        self.needed: set[str] = set()
        cross_of: list[tuple[str, ...]] = []
        cost: dict = {}
        for op in ops:
            self.streams.setdefault(op.stream, []).append(op)
            s = op.stream
            cross = tuple(d for d in op.deps if stream_of[d] != s) if op.deps else ()
            cross_of.append(cross)
            self.needed.update(cross)
        cross_by_id = {op.id: cr for op, cr in zip(ops, cross_of)}
        self.cross_at = {s: [cross_by_id[o.id] for o in sops] for s, sops in self.streams.items()}
        self.needed_at = {s: [o.id in self.needed for o in sops]
                          for s, sops in self.streams.items()}
        self.duration_at: dict[str, list[float | None]] = {}
        for s, sops in self.streams.items():
            durs = []
            for o in sops:
                if o.kind != COMPUTE:
                    durs.append(None)
                    continue
                key = (o.duration_s, o.flops, o.bytes, o.category)
                d = cost.get(key)
                if d is None:
                    d = cost[key] = compute.duration_s(o)
                durs.append(d)
            self.duration_at[s] = durs
