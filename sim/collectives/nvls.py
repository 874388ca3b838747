"""NVLink SHARP (NVLS): all-reduce reduced and multicast by the NVSwitch.

Each GPU owns 1/k of the buffer (k GPUs on the switch). It asks the switch
for the sum of its slice over all GPUs (the switch reads every GPU's copy of
the slice and returns the reduction) and then stores the result once with a
multicast write that the switch copies to every GPU. Per direction every GPU
link carries S (its data read for all slices) plus S/k (its slice's result),
so S(1 + 1/k) against the ring's 2(k-1)/k * S, at the NVLS efficiency of the
node (``nvls_efficiency`` in nodes.yaml). The flow model has GPUs as
endpoints only, so a GPU's switch traffic is a flow of that volume to the
next GPU: every GPU link carries exactly the NVLS volume in each direction.
Two latency steps (reduce, multicast); NCCL runs NVLS with the Simple
protocol.

NVLS-tree (multi-host): NVLS reduce-scatter inside each host, the host
shards all-reduced across hosts by one double binary tree per rail, NVLS
all-gather inside each host, all pipelined.
"""
from __future__ import annotations

from sim.collectives.base import CollectiveAlgorithm, Phase
from sim.collectives.tree import double_tree, tree_depth

#: fixed cost of an NVLS collective on top of its two NVLink steps. NCCL's own
#: tuning model gives NVLS a base latency of tens of microseconds, far above
#: ring and tree; the latency-bound rows of sim/data/nccl_tests.yaml only bound
#: it from below (NVLS must not win there), so this is the order of magnitude,
#: not a fit
NVLS_SETUP_S = 20.0e-6


def nvls_flows(hosts: list[list[int]], nbytes: float, topo) -> list[tuple[int, int, float]]:
    """Per host, the NVLS volume of an all-reduce of ``nbytes`` on every GPU link."""
    k = len(hosts[0])
    vol = nbytes * (1 + 1 / k) * topo.nvlink_efficiency / topo.nvls_efficiency
    return [(h[i], h[(i + 1) % k], vol) for h in hosts for i in range(k)]


class Nvls(CollectiveAlgorithm):
    name = "nvls"
    ops = ("all_reduce",)
    protocols = ("simple",)

    def supports(self, op, gpus, topo):
        return (super().supports(op, gpus, topo) and topo.nvls
                and len(topo.by_host(gpus)) == 1)

    def phases(self, op, nbytes, gpus, topo):
        hosts = [sorted(gpus, key=topo.local_of)]
        return [Phase(tuple(nvls_flows(hosts, nbytes, topo)), 2,
                      hops=((hosts[0][0], hosts[0][1]),), setup_s=NVLS_SETUP_S)]


class NvlsTree(CollectiveAlgorithm):
    name = "nvls_tree"
    ops = ("all_reduce",)
    protocols = ("simple",)

    def supports(self, op, gpus, topo):
        hosts = topo.uniform_hosts(gpus)
        return (super().supports(op, gpus, topo) and topo.nvls and hosts is not None
                and len(hosts) > 1 and len(hosts[0]) > 1)

    def phases(self, op, nbytes, gpus, topo):
        hosts = topo.uniform_hosts(gpus)
        k, m = len(hosts[0]), len(hosts)
        flows = nvls_flows(hosts, nbytes, topo)
        per = nbytes / k / 2                       # per rail and tree
        trees = double_tree(m)
        for c in range(k):
            for parent in trees:
                for r, p in enumerate(parent):
                    if p is not None:
                        a, b = hosts[r][c], hosts[p][c]
                        flows += [(a, b, per), (b, a, per)]
        depth = max(tree_depth(t) for t in trees)
        hops = ((hosts[0][0], hosts[0][1]),) * 2 + ((hosts[1][0], hosts[0][0]),) * (2 * depth)
        return [Phase(tuple(flows), len(hops), hops=hops, depth=len(hops), setup_s=NVLS_SETUP_S)]
