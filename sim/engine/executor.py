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
from sim.engine.plan import ProgramPlan, Span, SpanLog
from sim.engine.private_families import private_parts
from sim.engine.private_sends import private_sends
from sim.errors import SimulationStuck, UserError
from sim.network.clock import delay_to
from sim.network.flows import FlowNetwork
from workloads.trace import P2P, Op, Trace


@dataclass
class _Rendezvous:
    expected: frozenset
    arrived: dict        # class index -> (op, event)


class Executor:
    """Replays ``trace`` for ``classes`` on ``network`` with ``compute``."""

    def __init__(self, env: simpy.Environment, trace: Trace, classes: list[RankClass],
                 network: FlowNetwork, topo: TopologyView, compute: ComputeModel,
                 private_fast_path: bool = True, run_ahead: bool = True, fuse: bool = True,
                 p2p_fast_path: bool = True):
        self.env = env
        self.trace = trace
        self.classes = classes
        self.net = network
        self.topo = topo
        self.compute = compute
        self.spans: list[Span] = []
        self.blocks: list[tuple] = []
        self.private_fast_path = private_fast_path
        self.run_ahead = run_ahead
        self.fuse = fuse and run_ahead
        self.p2p_fast_path = p2p_fast_path
        self._planner = CollectivePlanner(network, topo)
        self._p2p_sends = PointToPoint(network, topo)

    # -- setup ---------------------------------------------------------------
    def run(self) -> SpanLog:
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
        self._private = (private_parts(self.trace, self.topo) if self.private_fast_path
                         else [(frozenset(), frozenset())] * len(self.trace.programs))
        self._alone_p2p = (private_sends(self.trace, self.topo, self.net.router)
                           if self.p2p_fast_path
                           else [frozenset()] * len(self.trace.programs))
        self._pairs: dict[tuple, tuple] = {}
        self._peer_of: dict[tuple, int] = {}
        self._steps: dict[tuple, list] = {}
        self._ready: deque = deque()       # private transfers timed, not yet finished
        # per (sender class, receiver class, tag): the side posted first, or a
        # deque of them when several wait
        self._sends: dict[tuple, tuple | deque] = {}
        self._recvs: dict[tuple, tuple | deque] = {}
        plans: dict[int, ProgramPlan] = {}
        tplans: dict = {}
        cost: dict = {}
        states = []
        for c in self.classes:
            plan = plans.get(c.program)
            if plan is None:
                plan = plans[c.program] = ProgramPlan(self.trace.programs[c.program],
                                                      self.compute, tplans, cost)
            st = _ClassState(c, plan, *self._delays(c, plan))
            if self.fuse:
                st.unfusable()
            else:
                st.step_all_by_op()
            states.append(st)
        for st in states:
            self._advance(st)
            self._drain()
        self.env.run()
        self._check_finished(states)
        # a stream's last op ends latest of its ops: the makespan without
        # expanding fused blocks
        makespan = max((max(st.free, default=0.0) for st in states), default=0.0)
        return SpanLog(self.spans, self.blocks, makespan)

    # -- replay ----------------------------------------------------------------
    def _advance(self, st: "_ClassState") -> None:
        """Time every op of ``st`` whose start is known, stream by stream, until
        no stream moves; an op that meets others becomes a process. A template
        instance whose inputs are all known is timed in one step (fused, see
        :mod:`sim.engine.plan`); one that could start only in part is
        stepped op by op, as single ops are."""
        plan, ends = st.plan, st.ends
        delays = st.delays if self.run_ahead else st.no_delays
        ops, cross, names = plan.ops, plan.cross, plan.names
        spans = self.spans
        ci = st.cls.index
        pos, sub, free, inflight, perop = st.pos, st.sub, st.free, st.inflight, st.perop
        hold = st.hold
        now, alone = self.env.now, self._alone_p2p[st.cls.program]
        waiting: list[int] = []
        while True:
            moved = True
            while moved:
                moved = False
                blocked: list[int] = []     # streams stopped short of their end, this pass
                last = 0                    # how many of them stopped before the last move
                for s, ent in enumerate(plan.streams):
                    p = pos[s]
                    n = len(ent)
                    if p >= n or inflight[s]:
                        continue
                    q = q0 = sub[s]
                    h = hold[s]     # still waiting for the end that stopped it last time?
                    if h is not None and ends[h[2]] is None and h[0] == p and h[1] == q:
                        blocked.append(s)
                        continue
                    t = free[s]
                    p0 = p
                    while p < n:
                        e = ent[p]
                        if e >= 0:
                            run = (e,)
                        elif perop is None or ~e in perop:
                            run = plan.run_of(~e, s)
                        else:
                            t2 = self._fused(st, s, t, ~e, p)
                            if t2 is None or t2 is False:
                                if t2 is False:
                                    waiting.append(s)
                                break
                            t = t2
                            p += 1
                            continue
                        m = len(run)
                        stop = False
                        while q < m:
                            k = run[q]
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
                                q += 1
                                if delay is None:
                                    inflight[s] = stop = True
                                    if op.kind in P2P:
                                        # a private one (see sim.engine.private_sends)
                                        # is posted at once, ahead of the clock, any
                                        # other at its issue time
                                        if start < now:
                                            start = now
                                        if k in alone:
                                            self._pair_p2p(st, s, k, start, True)
                                        else:
                                            self._at(start, self._pair_p2p, st, s, k, start,
                                                     False)
                                    else:
                                        self.env.process(self._remote(st, s, k, start))
                                    break
                                t = ends[k] = start + delay
                                spans.append(Span(ci, names[s], op.id, op.kind, start, t, start,
                                                  op.layer))
                                continue
                            hold[s] = (p, q, d)
                            stop = True
                            break
                        if q == m:
                            p += 1
                            q = 0
                        if stop:
                            break
                    if p != p0 or q != q0:
                        last = len(blocked)
                        pos[s] = p
                        sub[s] = q
                        free[s] = t
                    if p < n and not inflight[s]:
                        blocked.append(s)
                # another pass moves something only if a stream stopped before
                # the last move can go on now (one stopped after it saw every
                # change of this pass): not if each still waits for the end its
                # hold names
                for b in blocked[:last] if last else ():
                    h = hold[b]
                    if h is None or ends[h[2]] is not None or h[0] != pos[b] or h[1] != sub[b]:
                        moved = True
                        break
            if not waiting or not self._unfuse(st, waiting):
                return
            waiting.clear()

    def _fused(self, st: "_ClassState", s: int, t: float, i: int, p: int):
        """Time instance ``i`` (entry ``p`` of stream ``s``, free at ``t``) in one
        step if all its inputs are known; returns the stream's new free time.
        Otherwise None, or False when its first op on ``s`` might start alone
        (for :meth:`_unfuse`); an unknown input that rules that out is kept in
        ``st.hold[s]`` so that later passes skip the instance cheaply."""
        ip = st.plan.insts[i]
        ends = st.ends
        x = 0.0
        for k in ip.inc:        # _latest inlined: most calls stop at a missing input
            e = ends[k]
            if e is None:       # _held(..., incoming=True) inlined
                gs = ip.gstreams
                inside, inc, _ = ip.tp.first_waits(0 if len(gs) == 1 else gs.index(s),
                                                   ip.extra_step)
                if inside or inc:
                    st.hold[s] = (p, 0, k)
                    return None
                return False
            if e > x:
                x = e
        y, missing = _latest(ends, ip.extra)
        if missing is not None:
            return self._held(st, s, p, missing, ip, False)
        gs = ip.gstreams
        if len(gs) == 1:
            f = (t,)
        else:
            pos, sub, inflight, free = st.pos, st.sub, st.inflight, st.free
            for g, entry in zip(gs, ip.entries):
                if g != s and (pos[g] != entry or sub[g] or inflight[g]):
                    return False
            f = tuple([t if g == s else free[g] for g in gs])
        d = st.lengths[i]
        frees, outs = ip.kernel(f, x, y, d)
        base = ip.base
        for o, e in zip(ip.tp.outputs, outs):
            ends[base + o] = e
        self.blocks.append((st.cls.index, st.plan, i, f, x, y, d))
        if len(gs) == 1:
            return frees[0]
        for g, fg in zip(gs, frees):
            if g != s:
                st.pos[g] += 1
                st.free[g] = fg
        return frees[gs.index(s)]

    @staticmethod
    def _held(st: "_ClassState", s: int, p: int, k: int, ip, incoming: bool):
        """``_fused`` failed on the unknown end of position ``k`` (an incoming
        id, or an extra one): may the first op on ``s`` start without it?"""
        inside, inc, extra = ip.tp.first_waits(ip.gstreams.index(s), ip.extra_step)
        if inside or (inc if incoming else extra):
            st.hold[s] = (p, 0, k)
            return None
        return False

    def _unfuse(self, st: "_ClassState", waiting: list[int]) -> bool:
        """After a pass that moved nothing more: an instance a stream (of
        ``waiting``) waits at that cannot be timed whole but whose first op on
        that stream could start now is stepped op by op from here on (as it
        would be without fusion). Returns whether any was."""
        plan, ends = st.plan, st.ends
        changed = False
        for s in waiting:
            ent = plan.streams[s]
            p = st.pos[s]
            if p >= len(ent) or st.inflight[s] or ent[p] >= 0 or ~ent[p] in st.perop:
                continue
            i = ~ent[p]
            ip = plan.insts[i]
            inside, inc, extra = ip.tp.first_waits(ip.gstreams.index(s), ip.extra_step)
            if inside or inc and any(ends[k] is None for k in ip.inc) or extra and any(
                    ends[k] is None for k in ip.extra):
                continue
            st.step_by_op(i)
            changed = True
        return changed

    def _at(self, t: float, fn, *args) -> None:
        """Call ``fn(*args)`` at time ``t`` (now, or from a timeout's callback)."""
        env = self.env
        if t > env.now:
            env.timeout(delay_to(env.now, t)).callbacks.append(lambda _e: fn(*args))
        else:
            fn(*args)

    def _finish(self, st: "_ClassState", s: int, k: int, start: float, sync: float,
                end: float | None = None) -> None:
        """Op ``k`` of stream ``s`` (a process or a send/recv) ended now (or at ``end``)."""
        if end is None:
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
            yield env.timeout(delay_to(env.now, start))
        c, op = st.cls, st.plan.ops[k]
        start = env.now
        where = (c.index, op.stream)
        self._where[where] = (op, "running")
        delay = st.delays[k]
        if delay is not None:        # the reference path (run_ahead=False): one event per op
            yield env.timeout(delay)
            sync = start
        else:
            sync = yield from self._collective(c, op, self._is_private(c, k, op))
        self._finish(st, s, k, start, sync)
        self._advance(st)
        self._drain()

    def _is_private(self, c: RankClass, k: int, op: Op) -> bool:
        """Whether op ``k`` of ``c``'s program is a collective timed in isolation."""
        families, positions = self._private[c.program]
        return op.is_collective and op.group in families or k in positions

    def _delays(self, c: RankClass, plan: ProgramPlan) -> tuple[list, dict, dict]:
        """Per position of the program: its duration if known without
        simulating anyone else (filled for single ops); per template plan the
        same for its steps, or None when some step's is not known; the same
        per instance where it differs from its template's (a collective timed
        in isolation at some positions only)."""
        speed = c.speed
        private: dict = {}
        families, positions = self._private[c.program]

        def known(op: Op, base: float | None, isolated: bool) -> float | None:
            if base is not None:
                return base / speed
            if isolated:
                key = (op.group, op.kind, op.bytes, op.algorithm)
                if key not in private:
                    private[key] = self._private_delay(c, op)
                return private[key]
            return None

        out: list[float | None] = [None] * len(plan.ops)
        ops, duration = plan.ops, plan.duration
        for k in plan.singles:
            b = duration[k]
            if b is not None:
                out[k] = b / speed
            elif self._is_private(c, k, ops[k]):
                out[k] = known(ops[k], None, True)
        per_template: dict = {}
        for ip in plan.insts:
            tp = ip.tp
            if id(tp) not in per_template:
                per_template[id(tp)] = tuple(
                    known(op, b, op.is_collective and op.group in families)
                    for op, b in zip(tp.proto, tp.base))
        special: dict[int, tuple] = {}
        patterns: dict[tuple, tuple] = {}
        for i in plan.instances_at(positions) if positions else ():
            ip = plan.insts[i]
            base, tp = ip.base, ip.tp
            mark = tuple([base + j in positions for j in range(len(tp.proto))])
            d = patterns.get((ip.tid, mark))
            if d is None:
                d = patterns[(ip.tid, mark)] = tuple(
                    known(op, b, op.is_collective and op.group in families or at)
                    for op, b, at in zip(tp.proto, tp.base, mark))
            special[i] = d
        return out, per_template, special

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
        peer = op.peer
        key = (c.index, peer.rank, peer.group, peer.offset)
        hit = self._peer_of.get(key)
        if hit is None:
            hit = self._peer_of[key] = self._class_of[peer.resolve(c.rep, self.trace)]
        return hit

    def _pair_p2p(self, st: "_ClassState", s: int, k: int, start: float, alone: bool) -> None:
        """Once both sides are posted the transfer starts when the later one
        was issued. Between two private sides it is timed in closed form and
        both ops end then, ahead of the clock like fixed-length ops (the
        classes advance from :meth:`_drain`, not from inside ``_advance``);
        otherwise it runs on the network and its end ends both ops (no
        process: callbacks)."""
        c, op = st.cls, st.plan.ops[k]
        ci = c.index
        peer_spec = op.peer
        other = self._peer_of.get((ci, peer_spec.rank, peer_spec.group, peer_spec.offset))
        if other is None:
            other = self._peer_class(c, op)
        me = (st, s, k, start, alone)
        if op.kind == "send":
            is_send, key, mine, theirs = True, (ci, other, op.tag), self._sends, self._recvs
        else:
            is_send, key, mine, theirs = False, (other, ci, op.tag), self._recvs, self._sends
        # the sides waiting per key: one kept bare (the usual case), more in a deque
        peer = theirs.pop(key, None)
        if peer is None:
            self._where[(ci, op.stream)] = (op, ("p2p", is_send, other))
            waiting = mine.get(key)
            if waiting is None:
                mine[key] = me
            elif type(waiting) is tuple:
                mine[key] = deque((waiting, me))
            else:
                waiting.append(me)
            return
        if type(peer) is not tuple:
            queue = peer
            peer = queue.popleft()
            if queue:
                theirs[key] = queue
        send, recv = (me, peer) if is_send else (peer, me)
        s_op, r_op = send[0].plan.ops[send[2]], recv[0].plan.ops[recv[2]]
        if s_op.bytes != r_op.bytes:
            raise UserError(
                f"mismatched send/recv (tag {op.tag}): {send[0].cls.label()} op "
                f"'{s_op.id}' sends {s_op.bytes:g} bytes but {recv[0].cls.label()} "
                f"op '{r_op.id}' receives {r_op.bytes:g}", field="ops",
                value=[s_op.id, r_op.id])
        sync = start if start > peer[3] else peer[3]
        peer_spec = s_op.peer
        if alone and peer[4]:
            # this side ends with the other, in the next _drain: no _where entry
            skey = (send[0].cls.index, peer_spec.rank, peer_spec.group, peer_spec.offset,
                    s_op.bytes)
            steps = self._steps.get(skey)
            if steps is None:
                steps = self._steps[skey] = _undominated(self._p2p_sends.isolated_steps(
                    self._pairs_of(send[0].cls, peer_spec), s_op.bytes))
            if len(steps) == 1:
                d, t = steps[0]
                end = (sync + d) + t
            else:
                end = max(((sync + d) + t for d, t in steps), default=sync)
            self._ready.append((me, peer, sync, end))
        else:
            self._where[(ci, op.stream)] = (op, ("p2p", is_send, other))
            self._at(sync, self._transfer, me, peer, sync,
                     self._pairs_of(send[0].cls, peer_spec), s_op.bytes)

    def _pairs_of(self, c: RankClass, peer_spec) -> tuple:
        """(source GPU, destination GPU) of each send of class ``c`` to ``peer_spec``."""
        pkey = (c.index, peer_spec.rank, peer_spec.group, peer_spec.offset)
        pairs = self._pairs.get(pkey)
        if pairs is None:
            gpu = self.trace.gpu_of
            pairs = self._pairs[pkey] = tuple(zip(
                map(gpu, c.ranks), map(gpu, peer_spec.resolve_all(c.ranks, self.trace))))
        return pairs

    def _transfer(self, a: tuple, b: tuple, sync: float, pairs: tuple, nbytes: float) -> None:
        self._p2p_sends.send(pairs, nbytes).callbacks.append(
            lambda _e: self._p2p_done(a, b, sync))

    def _p2p_done(self, a: tuple, b: tuple, sync: float, end: float | None = None) -> None:
        for st, s, k, start, _ in (a, b):
            self._finish(st, s, k, start, sync, end)
        self._advance(a[0])
        if b[0] is not a[0]:
            self._advance(b[0])
        if end is None:
            self._drain()

    def _drain(self) -> None:
        """End the private transfers timed meanwhile, and advance their classes
        (which may time more)."""
        ready, spans, where = self._ready, self.spans, self._where
        while ready:
            # end every transfer timed so far, then advance each class once
            touched: dict[int, "_ClassState"] = {}
            while ready:
                a, b, sync, end = ready.popleft()
                for st, s, k, start, _ in (a, b):     # _finish inlined
                    op = st.plan.ops[k]
                    spans.append(Span(st.cls.index, op.stream, op.id, op.kind, start, end,
                                      sync, op.layer))
                    st.ends[k] = st.free[s] = end
                    st.inflight[s] = False
                    touched[id(st)] = st
                # only the side posted first waited in _where (see _pair_p2p)
                where.pop((b[0].cls.index, op.stream), None)
            for st in touched.values():
                self._advance(st)

    # -- completion ----------------------------------------------------------
    def _check_finished(self, states: list["_ClassState"]) -> None:
        for st in states:
            plan = st.plan
            for s, ent in enumerate(plan.streams):
                if st.pos[s] < len(ent) and not st.inflight[s]:
                    e = ent[st.pos[s]]
                    if e < 0:
                        plan.materialise(~e)
                        e = plan.run_of(~e, s)[st.sub[s]]
                    op = plan.ops[e]
                    self._where[(st.cls.index, op.stream)] = (op, "waiting for dependencies")
        if not self._where:
            return
        lines = []
        for (ci, stream), (op, state) in sorted(self._where.items())[:6]:
            lines.append(f"{self.classes[ci].label()} stream '{stream}' op '{op.id}' "
                         f"({op.kind}): {self._state_text(op, state)}")
        more = len(self._where) - len(lines)
        tail = f"; and {more} more stuck streams" if more > 0 else ""
        raise SimulationStuck("trace can never finish: " + "; ".join(lines) + tail,
                              field="ops", value=[op.id for op, _ in list(self._where.values())[:6]])


    def _state_text(self, op: Op, state) -> str:
        if isinstance(state, tuple):         # ("p2p", is_send, peer class)
            _, is_send, other = state
            return (f"waiting for a matching {'recv' if is_send else 'send'} "
                    f"(tag {op.tag}) on {self.classes[other].label()}")
        return state

def _undominated(steps: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """The (latency, evolution) steps of a closed-form transfer that may give its
    end: one with both numbers at most another's never ends later (rounding
    is monotonic), so the max over the rest is the same float."""
    out: list[tuple[float, float]] = []
    for d, t in sorted(steps, key=lambda dt: (-dt[0], -dt[1])):
        if not out or t > out[-1][1]:
            out.append((d, t))
    return tuple(out)


def _latest(ends: list, positions: tuple[int, ...]) -> tuple[float, int | None]:
    """The latest end of ``positions`` (0.0 for none), or the first whose end
    is not known yet."""
    x = 0.0
    for k in positions:
        e = ends[k]
        if e is None:
            return x, k
        if e > x:
            x = e
    return x, None


class _ClassState:
    """Replay state of one rank class: per op position its end once known
    (None before), per stream the next entry, the next op inside it (an
    instance stepped op by op), the time it is free and whether an op of it
    is in flight as a process; the instances stepped op by op (None: all);
    per instance its ops' lengths (None where one is not known)."""

    __slots__ = ("cls", "plan", "delays", "no_delays", "lengths", "ends", "pos", "sub", "free",
                 "inflight", "perop", "hold")

    def __init__(self, cls: RankClass, plan: ProgramPlan, delays: list[float | None],
                 tdelays: dict, special: dict):
        self.cls = cls
        self.plan = plan
        self.delays = delays
        self.no_delays = [None] * len(delays)
        # per instance: its ops' lengths (its template's, or its own)
        self.lengths = [special.get(i) or tdelays[ip.tid] for i, ip in enumerate(plan.insts)]
        self.ends: list[float | None] = [None] * len(plan.ops)
        n = len(plan.streams)
        self.pos = [0] * n
        self.sub = [0] * n
        self.free = [0.0] * n
        self.inflight = [False] * n
        self.perop: set[int] | None = set()
        # per stream: (entry, op inside it, position) of the unknown end it last stopped at
        self.hold: list[tuple[int, int, int] | None] = [None] * n

    def step_by_op(self, i: int) -> None:
        """Step instance ``i`` op by op (its ops' lengths into ``delays``)."""
        ip = self.plan.insts[i]
        self.plan.materialise(i)
        d = self.lengths[i]
        self.delays[ip.base:ip.base + len(d)] = d
        if self.perop is not None:
            self.perop.add(i)

    def step_all_by_op(self) -> None:
        """The reference: every instance op by op, none fused."""
        for i in range(len(self.plan.insts)):
            self.step_by_op(i)
        self.perop = None

    def unfusable(self) -> None:
        """Instances with an op of unknown length: op by op."""
        known: dict[int, bool] = {}
        for i, d in enumerate(self.lengths):
            ok = known.get(id(d))
            if ok is None:
                ok = known[id(d)] = None not in d
            if not ok:
                self.step_by_op(i)
