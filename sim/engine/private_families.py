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

from sim.collectives.base import TopologyView
from workloads.trace import COLLECTIVES, P2P, Op, Trace


def _host_traffic(lists, trace: Trace, topo: TopologyView) -> tuple[bool, bool]:
    """Whether traffic inside some member list can load GPU links of a host,
    and whether it can load those of GPUs outside the list: two members on
    one host (their own links), or (with PXN) members on several hosts and
    rails, whose sends NVLink relays to the destination's rail (through
    other GPUs)."""
    pair = relay = False
    for members in lists:
        gpus = [trace.gpu_of(r) for r in members]
        hosts = {topo.host_of(g) for g in gpus}
        if len(hosts) < len(gpus):
            pair = True
        if topo.pxn and len(hosts) > 1 and len({topo.local_of(g) for g in gpus}) > 1:
            relay = True
    return pair or relay, relay


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
        v = on_stream.get(op.stream, 0)
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
        after[op.id] = v
        on_stream[op.stream] = v
    return True


def private_families(trace: Trace, topo: TopologyView) -> set[str]:
    used: dict[str, set[str]] = {}          # family -> streams its collectives use
    p2p_families: set[str] = set()
    abs_pairs = []
    coll, p2p = frozenset(COLLECTIVES), frozenset(P2P)
    for prog in trace.programs:
        seen = set()                        # (kind class, group or peer) already noted
        for op in prog.ops:
            kind = op.kind
            if kind in coll:
                key = (op.group, op.stream)
                if key not in seen:
                    seen.add(key)
                    used.setdefault(op.group, set()).add((id(prog), op.stream))
            elif kind in p2p:
                if op.peer.group is not None:
                    p2p_families.add(op.peer.group)
                else:
                    abs_pairs.append([prog.ranks[0], op.peer.rank])
    traffic = {f: _host_traffic(trace.groups[f], trace, topo) for f in set(used) | p2p_families}
    traffic["<absolute p2p>"] = _host_traffic(abs_pairs, trace, topo)
    intra = {f for f, (loads, _) in traffic.items() if loads}
    relayed = {f for f, (_, relay) in traffic.items() if relay}
    out = set()
    for fam, streams in used.items():
        single_host = all(len({topo.host_of(trace.gpu_of(r)) for r in ms}) == 1
                          for ms in trace.groups[fam])
        others = intra - {fam}
        if not single_host or fam in p2p_families or others & relayed:
            continue
        progs = {p for p, _ in streams}
        if not others and len(progs) == len(streams):
            out.add(fam)
            continue
        chain = frozenset(others | {fam}) - {"<absolute p2p>"}
        if all(serialised(prog.ops, chain, frozenset(chain & p2p_families),
                          "<absolute p2p>" in others)
               for prog in trace.programs if id(prog) in progs):
            out.add(fam)
    return out
