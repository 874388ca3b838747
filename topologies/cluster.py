"""A whole cluster from a GPU preset name: the GPU picks its node and fabric.

``build_cluster("h100-sxm", 1024)`` is 128 DGX H100 nodes on an NDR
rail-optimized fabric; the defaults come from ``hardware/gpus.yaml``.
"""
from __future__ import annotations

from topologies import _validate as v
from topologies.dgx import add_preset_host
from topologies.digraph import DiGraph
from topologies.errors import TopologyError
from topologies.graph import new_graph
from topologies.rail import rail_optimized
from topologies.specs import gpu_spec, list_fabrics, list_gpus, node_spec


def build_cluster(gpu: str, gpus: int, gpus_per_node: int | None = None,
                  fabric: str | None = None, **overrides) -> DiGraph:
    """A cluster of ``gpus`` GPUs of preset ``gpu``.

    The GPU preset names the node preset (``gpus_per_node`` overrides its GPU
    count) and the fabric preset. ``fabric`` may name another fabric preset;
    ``overrides`` are keyword arguments of :func:`topologies.rail_optimized`
    (``nodes_per_leaf``, ``spines``, ``oversubscription``,
    ``nic_bw_bytes_per_s``, ``nic_efficiency``, ``hop_latency_s``,
    ``link_efficiency``; SI units), validated there. A single node gets no
    fabric. Graph attributes add ``node`` and ``fabric`` (None for a single
    node) to the usual ones.
    """
    known = list_gpus()
    if gpu not in known:
        raise TopologyError(f"unknown GPU preset (known: {', '.join(known)})",
                            field="cluster.gpu", value=gpu)
    gs = gpu_spec(gpu)
    ns = node_spec(gs.node)
    gpn = v.int_at_least(gpus_per_node if gpus_per_node is not None else ns.gpus_per_node,
                         1, "cluster.gpus_per_node")
    gpus = v.int_at_least(gpus, 1, "cluster.gpus")
    if gpus % gpn:
        raise TopologyError(f"must be a multiple of gpus_per_node ({gpn}); set "
                            "cluster.gpus_per_node for a partial node",
                            field="cluster.gpus", value=gpus)
    preset = gs.fabric if fabric is None else fabric
    known = list_fabrics()
    if preset not in known:
        raise TopologyError(f"unknown fabric preset (known: {', '.join(known)})",
                            field="cluster.fabric", value=preset)
    nodes = gpus // gpn
    if nodes == 1:
        G = new_graph(f"{gpus}x{gpu}", gpus, gpn, gpu=gpu)
        add_preset_host(G, ns, 0, gpn)
        G.graph.update(node=ns.name, fabric=None)
        return G
    G = rail_optimized(nodes, ns.name, fabric=preset, gpus_per_node=gpn, gpu=gpu, **overrides)
    G.graph["name"] = f"{gpus}x{gpu}"
    return G
