"""All-to-all: direct, and through PXN.

Direct: every member sends its share straight to every other member. NCCL
runs an all-to-all as grouped sends and receives, a few peers at a time, and
every peer message pays its own latency: the phase has one latency step per
round of :data:`PEERS_IN_FLIGHT` peers, each charged the mean path latency to
the peers (NVLink peers cost NVLink latency, remote ones the network path).

PXN (NCCL 2.12+, on nodes with NVLink between GPUs): a message to a GPU on
another host and another rail first crosses NVLink to the sender host's GPU
on the destination's rail, whose NIC sends it, so inter-host traffic stays
on its rail and avoids the spine.
"""
from __future__ import annotations

import math

from sim.collectives.base import CollectiveAlgorithm, Phase

#: peers a GPU exchanges with at once in a grouped all-to-all
PEERS_IN_FLIGHT = 8


def _peer_steps(n: int) -> int:
    return math.ceil((n - 1) / PEERS_IN_FLIGHT)


class DirectAllToAll(CollectiveAlgorithm):
    name = "direct"
    ops = ("all_to_all",)

    def phases(self, op, nbytes, gpus, topo):
        n = len(gpus)
        share = nbytes / n
        flows = tuple((a, b, share) for a in gpus for b in gpus if a != b)
        hops = tuple((gpus[0], b) for b in gpus[1:])
        return [Phase(flows, _peer_steps(n), hops=hops)]


class PxnAllToAll(CollectiveAlgorithm):
    name = "pxn"
    ops = ("all_to_all",)

    def supports(self, op, gpus, topo):
        return (super().supports(op, gpus, topo) and topo.pxn
                and len(topo.by_host(gpus)) > 1)

    def phases(self, op, nbytes, gpus, topo):
        n = len(gpus)
        share = nbytes / n
        flows = []
        for a in gpus:
            ha, la = topo.host_of(a), topo.local_of(a)
            for b in gpus:
                if a == b:
                    continue
                lb = topo.local_of(b)
                proxy = topo.gpu_at(ha, lb) if topo.host_of(b) != ha and lb != la else None
                if proxy is None:
                    flows.append((a, b, share))
                else:
                    flows += [(a, proxy, share), (proxy, b, share)]
        hops = tuple((gpus[0], b) for b in gpus[1:])
        return [Phase(tuple(flows), _peer_steps(n), hops=hops, depth=2)]
