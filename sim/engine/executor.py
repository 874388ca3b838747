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
from sim.collectives.runner import CollectivePlanner
from sim.compute import ComputeModel
from sim.engine.classes import RankClass
from sim.engine.isolation import isolated_families
from sim.errors import SimulationStuck, UserError
from sim.network.flows import FlowNetwork
from workloads.trace import Op, Trace


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
                 network: FlowNetwork, topo: TopologyView, compute: ComputeModel):
        self.env = env
        self.trace = trace
        self.classes = classes
        self.net = network
        self.topo = topo
        self.compute = compute
        self.spans: list[Span] = []
        self._planner = CollectivePlanner(network, topo)

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
        self._isolated = isolated_families(self.trace, self.topo)
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
        needed, cross, dur = plan.needed, plan.cross_deps, plan.duration_s
        where = (c.index, stream)
        i, n = 0, len(ops)
        while i < n:
            op = ops[i]
            self._where[where] = (op, "waiting for dependencies")
            pending = [done[d] for d in cross[op.id] if not done[d].triggered]
            if pending:
                yield pending[0] if len(pending) == 1 else self.env.all_of(pending)
            start = self.env.now
            self._where[where] = (op, "running")
            delay = self._fixed_delay(c, op, dur)
            if delay is not None:
                # run consecutive fixed-length ops (compute, isolated collectives)
                # as one delay while nothing else waits on them and their
                # dependencies are already met
                t = start
                while True:
                    end = t + delay
                    self.spans.append(Span(c.index, stream, op.id, op.kind, t, end, t, op.layer))
                    t = end
                    if op.id in needed or i + 1 >= n:
                        break
                    nxt = ops[i + 1]
                    if any(not done[d].triggered for d in cross[nxt.id]):
                        break
                    delay = self._fixed_delay(c, nxt, dur)
                    if delay is None:
                        break
                    i += 1
                    op = nxt
                yield self.env.timeout(t - start)
            else:
                if op.is_collective:
                    sync = yield from self._collective(c, op)
                else:
                    sync = yield from self._p2p(c, op)
                self.spans.append(Span(c.index, stream, op.id, op.kind, start, self.env.now,
                                       sync, op.layer))
            if op.id in needed:
                done[op.id].succeed()
            i += 1
        self._where.pop(where, None)

    def _fixed_delay(self, c: RankClass, op: Op, dur: dict) -> float | None:
        """Duration of ``op`` if it is known without simulating anyone else."""
        if op.is_compute:
            return dur[op.id] / c.speed
        if op.is_collective and op.group in self._isolated:
            classset = self._classset(c, op.group)
            if len(classset) == 1:
                key = (op.group, classset, op.kind, op.bytes, op.algorithm)
                return self._planner.isolated_time_s(
                    op.kind, op.bytes, self._instances(op.group, classset), op.algorithm, key)
        return None

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
        if op.group in self._isolated:
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
        yield self.net.transfer(pairs, op.bytes)
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

    ``streams``: ops per stream in order; ``cross_deps``: for each op, the
    dependencies on *other* streams (same-stream ones are met by order);
    ``needed``: ops some other stream waits for (only these get events);
    ``duration_s``: compute durations at full speed.
    """

    def __init__(self, ops: list[Op], compute: ComputeModel):
        stream_of = {op.id: op.stream for op in ops}
        self.streams: dict[str, list[Op]] = {}
        self.cross_deps: dict[str, tuple[str, ...]] = {}
        self.needed: set[str] = set()
        self.duration_s: dict[str, float] = {}
        for op in ops:
            self.streams.setdefault(op.stream, []).append(op)
            cross = tuple(d for d in op.deps if stream_of[d] != op.stream)
            self.cross_deps[op.id] = cross
            self.needed.update(cross)
            if op.is_compute:
                self.duration_s[op.id] = compute.duration_s(op)
