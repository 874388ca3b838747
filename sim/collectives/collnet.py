"""CollNet: all-reduce with in-network reduction (SHARP) across hosts.

Inside each host the GPUs reduce-scatter (by NVLS where the node has it, else
as a ring), each GPU sends its 1/k shard once into the fabric, the switches
reduce the shards of all hosts and send the sum back, and the host
all-gathers it: each NIC carries S/k per direction whatever the host count,
against 2(m-1)/m * S/k for a ring over m hosts. As with NVLS the flow model
has GPUs as endpoints, so a shard's trip into the switch tree and back is a
flow of S/k to the same-rail GPU of the next host (each NIC sends and
receives S/k). Latency: the intra-host steps plus one trip up and down the
switch tree. Needs a fabric with ``sharp: true``; Simple protocol only.
"""
from __future__ import annotations

from sim.collectives.base import CollectiveAlgorithm, Phase
from sim.collectives.nvls import NVLS_SETUP_S, nvls_flows


class CollNet(CollectiveAlgorithm):
    name = "collnet"
    ops = ("all_reduce",)
    protocols = ("simple",)

    def supports(self, op, gpus, topo):
        hosts = topo.uniform_hosts(gpus)
        return (super().supports(op, gpus, topo) and topo.sharp and hosts is not None
                and len(hosts) > 1)

    def phases(self, op, nbytes, gpus, topo):
        hosts = topo.uniform_hosts(gpus)
        k, m = len(hosts[0]), len(hosts)
        flows: list[tuple[int, int, float]] = []
        hops: list[tuple[int, int]] = []
        setup = 0.0
        if k > 1 and topo.nvls:
            setup = NVLS_SETUP_S
            flows += nvls_flows(hosts, nbytes, topo)
            hops += [(hosts[0][0], hosts[0][1])] * 2
        elif k > 1:
            vol = 2 * (k - 1) / k * nbytes
            flows += [(h[i], h[(i + 1) % k], vol) for h in hosts for i in range(k)]
            hops += [(hosts[0][i], hosts[0][i + 1]) for i in range(k - 1)] * 2
        for c in range(k):
            flows += [(hosts[r][c], hosts[(r + 1) % m][c], nbytes / k) for r in range(m)]
        hops.append((hosts[0][0], hosts[m // 2][0]))
        return [Phase(tuple(flows), len(hops), hops=tuple(hops), depth=3, setup_s=setup)]
