"""A whole cluster from a GPU preset name: the GPU picks its node and fabric.

``build_cluster("h100-sxm", 1024)`` is 128 DGX H100 nodes on an NDR
rail-optimized fabric; the defaults come from ``hardware/gpus.yaml``.
"""
from __future__ import annotations

import networkx as nx

from topologies import _validate as v
from topologies.dgx import add_preset_host
from topologies.errors import TopologyError
from topologies.graph import new_graph
from topologies.rail import rail_optimized
from topologies.specs import gpu_spec, list_fabrics, list_gpus, node_spec

# fabric override key -> (rail_optimized argument, validator, scale to SI units)
_FABRIC_OVERRIDES = {
    "nodes_per_leaf": ("nodes_per_leaf", lambda x, fld: v.int_at_least(x, 1, fld), 1),
    "spines": ("spines", lambda x, fld: v.int_at_least(x, 1, fld), 1),
    "oversubscription": ("oversubscription", v.positive_float, 1.0),
    "nic_bw_gbps": ("nic_bw_bytes_per_s", v.positive_float, 1e9 / 8),
    "nic_bw_bytes_per_s": ("nic_bw_bytes_per_s", v.positive_float, 1.0),
    "nic_efficiency": ("nic_efficiency", v.fraction, 1.0),
    "hop_latency_us": ("hop_latency_s", v.nonneg_float, 1e-6),
    "hop_latency_s": ("hop_latency_s", v.nonneg_float, 1.0),
    "link_efficiency": ("link_efficiency", v.fraction, 1.0),
}


def _fabric_args(fabric: str | dict | None, default: str) -> tuple[str, dict]:
    """Resolve ``fabric`` to (preset name, rail_optimized keyword overrides)."""
    if fabric is None:
        fabric = default
    named = isinstance(fabric, str)
    if named:
        fabric = {"preset": fabric}
    v.mapping(fabric, "cluster.fabric")
    v.known_keys(fabric, frozenset(_FABRIC_OVERRIDES) | {"preset"}, "cluster.fabric")
    preset = fabric.get("preset", default)
    known = list_fabrics()
    if preset not in known:
        raise TopologyError(f"unknown fabric preset (known: {', '.join(known)})",
                            field="cluster.fabric" if named else "cluster.fabric.preset",
                            value=preset)
    args = {}
    for key, value in fabric.items():
        if key == "preset":
            continue
        arg, check, scale = _FABRIC_OVERRIDES[key]
        if arg in args:
            raise TopologyError(f"given twice (also as another unit of {arg})",
                                field=f"cluster.fabric.{key}", value=value)
        args[arg] = check(value, f"cluster.fabric.{key}") * scale
    return preset, args


def build_cluster(gpu: str, gpus: int, gpus_per_node: int | None = None,
                  fabric: str | dict | None = None) -> nx.DiGraph:
    """A cluster of ``gpus`` GPUs of preset ``gpu``.

    The GPU preset names the node preset (``gpus_per_node`` overrides its GPU
    count) and the fabric preset. ``fabric`` may name another fabric preset or
    be a dict of overrides: ``preset``, ``nodes_per_leaf``, ``spines``,
    ``oversubscription``, ``nic_bw_gbps`` (Gb/s) or ``nic_bw_bytes_per_s``,
    ``nic_efficiency``, ``hop_latency_us`` or ``hop_latency_s``,
    ``link_efficiency``. A single node gets no fabric. Graph attributes add
    ``node`` and ``fabric`` (None for a single node) to the usual ones.
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
    preset, overrides = _fabric_args(fabric, gs.fabric)
    nodes = gpus // gpn
    if nodes == 1:
        G = new_graph(f"{gpus}x{gpu}", gpus, gpn, gpu=gpu)
        add_preset_host(G, ns, 0, gpn)
        G.graph.update(node=ns.name, fabric=None)
        return G
    G = rail_optimized(nodes, ns.name, fabric=preset, gpus_per_node=gpn, gpu=gpu, **overrides)
    G.graph["name"] = f"{gpus}x{gpu}"
    return G
