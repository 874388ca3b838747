"""Private families: communicator families whose collectives can never share
links with other traffic (decided from the trace and the topology).

A family qualifies when every member list lies inside one host (so its flows
use only the GPU<->NVSwitch links of its own members), no other family or
point-to-point relation in the trace pairs two GPUs of one host (nor, where
PXN relays sends across rails over NVLink, spans several hosts and rails), and every
program issues the family's collectives on a single stream (so two of them
never overlap on the same GPUs). Its collectives can then be timed once, in
isolation, exactly.
"""
from __future__ import annotations

from sim.collectives.base import TopologyView
from workloads.trace import Trace


def _has_intra_host_pair(lists, trace: Trace, topo: TopologyView) -> bool:
    """Whether traffic inside some member list can load GPU links of a host:
    two members on one host, or (with PXN) members on several hosts and rails,
    whose sends NVLink relays to the destination's rail."""
    for members in lists:
        gpus = [trace.gpu_of(r) for r in members]
        hosts = {topo.host_of(g) for g in gpus}
        if len(hosts) < len(gpus):
            return True
        if topo.pxn and len(hosts) > 1 and len({topo.local_of(g) for g in gpus}) > 1:
            return True
    return False


def private_families(trace: Trace, topo: TopologyView) -> set[str]:
    used: dict[str, set[str]] = {}          # family -> streams its collectives use
    p2p_families: set[str] = set()
    abs_pairs = []
    for prog in trace.programs:
        for op in prog.ops:
            if op.is_collective:
                used.setdefault(op.group, set()).add((id(prog), op.stream))
            elif op.is_p2p:
                if op.peer.group is not None:
                    p2p_families.add(op.peer.group)
                else:
                    abs_pairs.append([prog.ranks[0], op.peer.rank])
    intra = {f for f in set(used) | p2p_families
             if _has_intra_host_pair(trace.groups[f], trace, topo)}
    if _has_intra_host_pair(abs_pairs, trace, topo):
        intra.add("<absolute p2p>")
    out = set()
    for fam, streams in used.items():
        one_stream = len({p for p, _ in streams}) == len(streams)
        single_host = all(len({topo.host_of(trace.gpu_of(r)) for r in ms}) == 1
                          for ms in trace.groups[fam])
        others_intra = intra - {fam}
        if one_stream and single_host and not others_intra and fam not in p2p_families:
            out.add(fam)
    return out
