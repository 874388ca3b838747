"""Two-level cluster: a switch per node, one non-blocking switch across nodes.

Each of ``nodes`` hosts has ``gpus_per_node`` GPUs on one NVSwitch
(``"h<h>.nvsw"``, links at ``intra_bw_bytes_per_s`` per direction). Every GPU
also owns a NIC (``"h<h>.nic<j>"``) linked to the single global switch
``"sw"`` (tier ``"spine"``); the GPU-NIC and NIC-switch links both run at
``inter_bw_bytes_per_s`` per direction, so each GPU can move that much data
across nodes. The global switch is non-blocking: the only shared links are
the GPUs' own.

Latencies are per hop. GPU to GPU inside a node is two hops (GPU-NVSwitch,
NVSwitch-GPU): ``2 * intra_latency_s``. Across nodes it is four hops
(GPU-NIC, NIC-switch, switch-NIC, NIC-GPU): ``4 * inter_latency_s``. The
defaults, 0.5 us per hop, are the NVLink and GPU-NIC hop latencies of the DGX
node presets (``hardware/nodes.yaml``).

This is the cluster of the data-parallel scale benchmark (128 nodes of 8 GPUs,
400 GB/s in-node switch, 50 GB/s per GPU across nodes), a shape that analytic
simulators also model.
"""
from __future__ import annotations

from topologies import _validate as v
from topologies.digraph import DiGraph
from topologies.graph import (add_gpu, add_switch, duplex, new_graph, nic_name,
                              nvswitch_name)

GLOBAL_SWITCH = "sw"


def two_level(nodes: int, gpus_per_node: int, intra_bw_bytes_per_s: float,
              inter_bw_bytes_per_s: float, intra_latency_s: float = 5.0e-7,
              inter_latency_s: float = 5.0e-7) -> DiGraph:
    """``nodes`` x ``gpus_per_node`` GPUs: an NVSwitch per node and one global switch.

    Bandwidths are bytes/s per direction of each link, latencies seconds per
    hop (see the module docstring). Node names follow :mod:`topologies.graph`.
    """
    nodes = v.int_at_least(nodes, 1, "two_level.nodes")
    gpn = v.int_at_least(gpus_per_node, 1, "two_level.gpus_per_node")
    intra_bw = v.positive_float(intra_bw_bytes_per_s, "two_level.intra_bw_bytes_per_s")
    inter_bw = v.positive_float(inter_bw_bytes_per_s, "two_level.inter_bw_bytes_per_s")
    intra_lat = v.nonneg_float(intra_latency_s, "two_level.intra_latency_s")
    inter_lat = v.nonneg_float(inter_latency_s, "two_level.inter_latency_s")
    G = new_graph(f"two_level{nodes}x{gpn}", nodes * gpn, gpn)
    add_switch(G, GLOBAL_SWITCH, "spine")
    edges = []
    for h in range(nodes):
        nvsw = nvswitch_name(h)
        G.add_node(nvsw, kind="nvswitch", host=h)
        for j in range(gpn):
            gpu = h * gpn + j
            nic = nic_name(h, j)
            add_gpu(G, gpu, host=h, local=j)
            G.add_node(nic, kind="nic", host=h, local=j)
            edges += duplex(gpu, nvsw, intra_bw, intra_lat, "nvlink")
            edges += duplex(gpu, nic, inter_bw, inter_lat, "pcie")
            edges += duplex(nic, GLOBAL_SWITCH, inter_bw, inter_lat, "ib")
    G.add_edges_from(edges)
    return G
