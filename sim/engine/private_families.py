"""Private families: communicator families whose collectives can never share
links with other traffic (decided from the trace and the topology).

A family qualifies when every member list lies inside one host (so its flows
use only the GPU<->NVSwitch links of its own members) and no two of its
collectives can run at once on the same GPUs: every program issues them on a
single stream, or on several streams (a gather overlapped with a GEMM) but
each one waits, through stream order and dependencies, for the one before it
(:func:`serialised`).

Other traffic inside a host (another family or point-to-point relation that
pairs two GPUs of one host) loads only the GPU links of its own participants,
and every participant issues it in its own program. So the family stays
private when, in every program that runs its collectives, those collectives
and all such intra-host operations form one chain: on each GPU, at most one
of them is in flight at any time. Where PXN relays sends across rails over
NVLink (through GPUs that are not the endpoints), any other intra-host
traffic rules a family out. Its collectives can then be timed once, in
isolation, exactly.
"""
from __future__ import annotations

import numpy as np

from sim.collectives.base import TopologyView
from sim.engine.chain_pass import ordered_positions, serialised_pieces
from workloads.trace import COLLECTIVES, P2P, Op, Program, Trace


def _host_traffic_reference(lists, trace: Trace, topo: TopologyView,
                  relays: bool = True) -> tuple[bool, bool]:
    """Whether traffic inside some member list can load GPU links of a host,
    and whether it can load those of GPUs outside the list: two members on
    one host (their own links), or (with PXN, for sends and all-to-alls:
    ``relays``) members on several hosts and rails, whose messages NVLink
    relays to the destination's rail (through other GPUs)."""
    pair = relay = False
    for members in lists:
        gpus = [trace.gpu_of(r) for r in members]
        hosts = {topo.host_of(g) for g in gpus}
        if len(hosts) < len(gpus):
            pair = True
        if (relays and topo.pxn and len(hosts) > 1
                and len({topo.local_of(g) for g in gpus}) > 1):
            relay = True
    return pair or relay, relay


def _host_traffic(lists, trace: Trace, topo: TopologyView,
                  relays: bool = True) -> tuple[bool, bool]:
    """:func:`_host_traffic_reference`, member lists of one length at a time
    as arrays (hosts and rails from the per-GPU tables; a list has two members
    on one host when its sorted hosts have fewer distinct values than members)."""
    hosts, rails = topo.host_array(), topo.local_array()
    place = None if trace.placement is None else np.asarray(trace.placement, dtype=np.int64)
    relays = relays and topo.pxn
    by_len: dict[int, list] = {}
    for members in lists:
        by_len.setdefault(len(members), []).append(members)
    pair = relay = False
    for n, same in by_len.items():
        if n < 2:
            continue            # one member: no pair, one host
        gpus = np.array(same, dtype=np.int64).reshape(len(same), n)
        if place is not None:
            gpus = place[gpus]
        if gpus.min() < 0 or gpus.max() >= len(hosts):
            p, r = _host_traffic_reference(same, trace, topo, relays)
            pair, relay = pair or p, relay or r
            continue
        n_hosts = _distinct_per_row(hosts[gpus])
        pair = pair or bool((n_hosts < n).any())
        if relays and not relay:
            relay = bool(((n_hosts > 1) & (_distinct_per_row(rails[gpus]) > 1)).any())
    return pair or relay, relay


def _one_host_each_reference(lists, trace: Trace, topo: TopologyView) -> bool:
    """Whether every member list lies on exactly one host."""
    return all(len({topo.host_of(trace.gpu_of(r)) for r in ms}) == 1 for ms in lists)


def _one_host_each(lists, trace: Trace, topo: TopologyView) -> bool:
    """:func:`_one_host_each_reference`, member lists of one length at a time
    as arrays of hosts (from the per-GPU table)."""
    hosts = topo.host_array()
    place = None if trace.placement is None else np.asarray(trace.placement, dtype=np.int64)
    by_len: dict[int, list] = {}
    for members in lists:
        by_len.setdefault(len(members), []).append(members)
    if 0 in by_len:
        return False
    for n, same in by_len.items():
        ranks = np.array(same, dtype=np.int64).reshape(len(same), n)
        if ranks.min() < 0 or place is not None and ranks.max() >= len(place):
            return _one_host_each_reference(lists, trace, topo)
        gpus = ranks if place is None else place[ranks]
        if gpus.min() < 0 or gpus.max() >= len(hosts):
            return _one_host_each_reference(lists, trace, topo)
        h = hosts[gpus]
        if not (h == h[:, :1]).all():
            return False
    return True


def _distinct_per_row(a: np.ndarray) -> np.ndarray:
    """How many distinct values each row of a 2-D integer array holds."""
    s = np.sort(a, axis=1)
    return 1 + np.count_nonzero(s[:, 1:] != s[:, :-1], axis=1)


def serialised(ops: list[Op], family: str | frozenset, p2p_families: frozenset = frozenset(),
               absolute_p2p: bool = False) -> bool:
    """True when each op of the chain in ``ops`` (program order) can start only
    after every earlier one has finished. The chain: collectives of
    ``family`` (a name or a set of names), sends and receives within
    ``p2p_families``, and with ``absolute_p2p`` those to absolute ranks.

    One pass: per op, how many chain ops (a prefix in program order) are
    certainly finished when it ends, from the op before it on its stream and
    its dependencies; a chain op must find all earlier ones finished. A
    dependency on a later op counts as nothing (conservative).
    """
    fams = frozenset((family,)) if isinstance(family, str) else family
    coll, p2p = frozenset(COLLECTIVES), frozenset(P2P)
    after: dict[str, int] = {}
    on_stream: dict[str, int] = {}
    seen = 0
    get = after.get
    for op in ops:
        stream = op.stream
        v = on_stream.get(stream, 0)
        for d in op.deps:
            w = get(d, 0)
            if w > v:
                v = w
        kind = op.kind
        if kind in coll and op.group in fams or kind in p2p and (
                op.peer.group in p2p_families if op.peer.group is not None else absolute_p2p):
            if v != seen:
                return False
            seen += 1
            v = seen
        after[op.id] = on_stream[stream] = v
    return True


def ordered_ops(ops: list[Op], in_chain: list[bool]) -> list[bool]:
    """Per op of ``ops`` (program order): whether it is a chain op (``in_chain``)
    ordered with every other chain op, i.e. for each other one, one of the two
    certainly ends before the other starts.

    Per op, the set of chain ops certainly finished when it ends (those of
    the op before it on its stream and of its dependencies, plus itself; a
    prefix and a bitset above it); a chain op must find every earlier one in
    the set of its start, and each earlier one it does not find, like
    itself, is unordered. A dependency on a later op counts as nothing
    (conservative).
    """
    # a set is (p, x): chain ops 0..p-1 and p + k for each bit k of x (bit 0
    # clear: op p is not in it); small numbers while the chain stays ordered
    empty = (0, 0)
    ends: dict[str, tuple[int, int]] = {}
    on_stream: dict[str, tuple[int, int]] = {}
    get = ends.get
    bad = 0
    m = 0
    chain_at = []
    for i, op in enumerate(ops):
        p, x = on_stream.get(op.stream, empty)
        for d in op.deps:
            q, y = get(d, empty)
            if q <= p and not y:
                continue
            if q > p:
                p, x, q, y = q, y, p, x
            x |= y >> (p - q)
            if x & 1:                   # extend the prefix over its trailing ones
                n = (x ^ (x + 1)).bit_length() - 1
                p += n
                x >>= n
        if in_chain[i]:
            if p == m:
                p, x = m + 1, 0
            else:
                bad |= ((((1 << (m - p)) - 1) & ~x) << p) | (1 << m)
                x |= 1 << (m - p)
            chain_at.append(i)
            m += 1
        ends[op.id] = on_stream[op.stream] = (p, x)
    out = [False] * len(ops)
    for j, i in enumerate(chain_at):
        out[i] = not (bad >> j) & 1
    return out


def private_families(trace: Trace, topo: TopologyView) -> set[str]:
    """Families every collective of which can be timed in isolation."""
    return _analyse(trace, topo)[0]


def private_ops(trace: Trace, topo: TopologyView) -> list[frozenset[int]]:
    """Per program, the positions of its collectives that can be timed in
    isolation: every collective of a private family, and in a family that is
    not (its collectives may overlap other intra-host traffic in some
    programs), each collective ordered with all of that traffic in its
    program (:func:`ordered_ops`) where every member list of the family runs
    one program (so each member's copy of the collective is the same op)."""
    coll = frozenset(COLLECTIVES)
    return [positions | {i for i, op in enumerate(prog.ops)
                         if op.kind in coll and op.group in families}
            for prog, (families, positions) in zip(trace.programs, private_parts(trace, topo))]


def private_parts(trace: Trace, topo: TopologyView) -> list[tuple[frozenset[str], frozenset[int]]]:
    """:func:`private_ops` per program as (families, positions): every
    collective of one of ``families``, and those at ``positions`` (in
    families that are not private), without expanding compressed programs."""
    families, per_op = _analyse(trace, topo)
    return [(frozenset(families), positions) for positions in per_op]


def _chain_test(family: str | frozenset, p2p_families: frozenset, absolute_p2p: bool):
    """Whether an op belongs to the chain (see :func:`serialised`)."""
    fams = frozenset((family,)) if isinstance(family, str) else family
    coll, p2p = frozenset(COLLECTIVES), frozenset(P2P)
    return lambda op: op.kind in coll and op.group in fams or op.kind in p2p and (
        op.peer.group in p2p_families if op.peer.group is not None else absolute_p2p)


def _chain_mask(ops: list[Op], chain: frozenset, p2p_families: frozenset,
                absolute_p2p: bool) -> list[bool]:
    return list(map(_chain_test(chain, p2p_families, absolute_p2p), ops))


def serialised_program(prog: Program, family: str | frozenset,
                       p2p_families: frozenset = frozenset(), absolute_p2p: bool = False) -> bool:
    """:func:`serialised` on a program, compressed or not (without expanding it)."""
    if prog.compressed:
        return serialised_pieces(prog, _chain_test(family, p2p_families, absolute_p2p))
    return serialised(prog.ops, family, p2p_families, absolute_p2p)


def _analyse(trace: Trace, topo: TopologyView) -> tuple[set[str], list[frozenset[int]]]:
    used: dict[str, set[str]] = {}          # family -> streams its collectives use
    p2p_families: set[str] = set()
    all_to_all: set[str] = set()
    abs_pairs = []
    coll, p2p = frozenset(COLLECTIVES), frozenset(P2P)
    for prog in trace.programs:
        seen = set()                        # (kind class, group or peer) already noted
        for op in prog.distinct_ops():
            kind = op.kind
            if kind in coll:
                key = (op.group, op.stream)
                if key not in seen:
                    seen.add(key)
                    used.setdefault(op.group, set()).add((id(prog), op.stream))
                if kind == "all_to_all":
                    all_to_all.add(op.group)
            elif kind in p2p:
                if op.peer.group is not None:
                    p2p_families.add(op.peer.group)
                else:
                    abs_pairs.append([prog.ranks[0], op.peer.rank])
    traffic = {f: _host_traffic(trace.groups[f], trace, topo,
                                relays=f in p2p_families or f in all_to_all)
               for f in set(used) | p2p_families}
    traffic["<absolute p2p>"] = _host_traffic(abs_pairs, trace, topo)
    intra = {f for f, (loads, _) in traffic.items() if loads}
    relayed = {f for f, (_, relay) in traffic.items() if relay}
    program_of = trace.program_of_rank()
    families = set()
    per_op: list[set[int]] = [set() for _ in trace.programs]
    for fam, streams in used.items():
        single_host = _one_host_each(trace.groups[fam], trace, topo)
        others = intra - {fam}
        if not single_host or fam in p2p_families or others & relayed:
            continue
        progs = {p for p, _ in streams}
        chain = frozenset(others | {fam}) - {"<absolute p2p>"}
        chained = [p for p in trace.programs if id(p) in progs]
        if not others and len(progs) == len(streams) or all(
                serialised_program(prog, chain, frozenset(chain & p2p_families),
                           "<absolute p2p>" in others) for prog in chained):
            families.add(fam)
            continue
        if not all(len({program_of[r] for r in ms}) == 1 for ms in trace.groups[fam]):
            continue
        for p, prog in enumerate(trace.programs):
            if id(prog) not in progs:
                continue
            ok = ordered_positions(prog, _chain_test(chain, frozenset(chain & p2p_families),
                                                     "<absolute p2p>" in others))
            per_op[p].update(i for i, (good, op) in ok.items()
                             if good and op.kind in coll and op.group == fam)
    return families, [frozenset(s) for s in per_op]
