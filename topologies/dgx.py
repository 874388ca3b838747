"""One server: GPUs on an NVSwitch, each GPU with its own NIC over PCIe.

Models DGX A100/H100/H200/B200 (node presets in ``hardware/nodes.yaml``). The
NVSwitch chips of a node are one switch node; each GPU <-> NVSwitch link carries
the GPU's full NVLink bandwidth per direction. NICs are left unconnected here;
fabric builders link them to switches.
"""
from __future__ import annotations

from topologies import _validate as v
from topologies.digraph import DiGraph
from topologies.graph import duplex, new_graph, nic_name, nvswitch_name
from topologies.specs import NodeSpec, node_spec


def add_host(G: DiGraph, host: int, gpus_per_node: int, *,
             nvlink_bw_bytes_per_s: float | None, nvlink_latency_s: float,
             nvlink_efficiency: float, pcie_bw_bytes_per_s: float,
             pcie_latency_s: float) -> list[str]:
    """Add host ``host``'s GPUs, NVSwitch (if > 1 GPU) and NICs to ``G``.

    GPU ids are ``host * gpus_per_node + j``; NIC j (``"h<host>.nic<j>"``)
    hangs off GPU j by a PCIe link. Returns the NIC names in local order.
    """
    nvsw = nvswitch_name(host)
    nodes = [(nvsw, {"kind": "nvswitch", "host": host})] if gpus_per_node > 1 else []
    edges, nics = [], []
    for j in range(gpus_per_node):
        gpu = host * gpus_per_node + j
        nic = nic_name(host, j)
        nodes += ((gpu, {"kind": "gpu", "host": host, "local": j}),
                  (nic, {"kind": "nic", "host": host, "local": j}))
        nics.append(nic)
        if gpus_per_node > 1:
            edges += duplex(gpu, nvsw, nvlink_bw_bytes_per_s, nvlink_latency_s,
                            "nvlink", nvlink_efficiency)
        edges += duplex(gpu, nic, pcie_bw_bytes_per_s, pcie_latency_s, "pcie")
    G.add_owned_nodes(nodes)
    G.add_owned_edges(edges)
    return nics


def add_preset_host(G: DiGraph, spec: NodeSpec, host: int,
                    gpus_per_node: int | None = None) -> list[str]:
    """:func:`add_host` with the bandwidths, latencies and efficiencies of ``spec``."""
    return add_host(G, host, gpus_per_node or spec.gpus_per_node,
                    nvlink_bw_bytes_per_s=spec.nvlink_bw_bytes_per_s,
                    nvlink_latency_s=spec.nvlink_latency_s,
                    nvlink_efficiency=spec.nvlink_efficiency,
                    pcie_bw_bytes_per_s=spec.pcie_bw_bytes_per_s,
                    pcie_latency_s=spec.pcie_latency_s)


def dgx_node(preset: str = "dgx-a100", host: int = 0, gpu: str | None = None) -> DiGraph:
    """A single node built from the node preset ``preset``.

    ``host`` sets the node labels and GPU ids (``host * gpus_per_node + j``): a
    graph with ``host > 0`` is a building block to combine with others (e.g.
    ``networkx.compose_all``, which accepts these graphs), not a topology on its own. ``gpu`` overrides the
    GPU preset recorded in ``G.graph["gpu"]`` (default: the node's GPU).
    """
    spec = node_spec(preset)
    host = v.int_at_least(host, 0, "dgx_node.host")
    G = new_graph(preset, spec.gpus_per_node, spec.gpus_per_node, gpu=gpu or spec.gpu)
    G.graph["node"] = preset
    add_preset_host(G, spec, host)
    return G
