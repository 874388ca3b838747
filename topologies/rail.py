"""Two-tier rail-optimized fat tree of GPU nodes (as in NVIDIA DGX SuperPOD).

Nodes are split into groups of ``nodes_per_leaf`` (scalable units). For every
group g and rail j there is one leaf switch ``"leaf.r<j>.g<g>"`` linked to NIC j
of each node of the group, so same-rail traffic within a group takes one switch
hop. Spines ``"spine<s>"`` link to every leaf (one link per leaf-spine pair).

Leaf uplink capacity is the downlink capacity of a full leaf divided by the
oversubscription, spread evenly over the spines:

    uplink_bw_per_link = nodes_per_leaf * nic_link_bw / oversubscription / spines

By default there are ``ceil(nodes_per_leaf / oversubscription)`` spines, i.e.
uplinks at the port rate. A single node needs no spines. Several nodes always
need at least one: traffic between GPUs on different rails would otherwise have
to be forwarded by a GPU over NVLink, which the graph conventions rule out.
"""
from __future__ import annotations

import math

from topologies import _validate as v
from topologies.dgx import add_preset_host
from topologies.digraph import DiGraph
from topologies.errors import TopologyError
from topologies.graph import duplex, gc_paused, new_graph
from topologies.specs import fabric_spec, node_spec


def leaf_name(rail: int, group: int) -> str:
    """Name of the leaf switch of ``rail`` in ``group``, e.g. ``"leaf.r5.g0"``."""
    return f"leaf.r{rail}.g{group}"


@gc_paused
def rail_optimized(nodes: int, node: str = "dgx-a100", nodes_per_leaf: int | None = None,
                   spines: int | None = None, oversubscription: float | None = None, *,
                   fabric: str | None = None, gpus_per_node: int | None = None,
                   gpu: str | None = None, nic_bw_bytes_per_s: float | None = None,
                   nic_efficiency: float | None = None, hop_latency_s: float | None = None,
                   link_efficiency: float | None = None) -> DiGraph:
    """A rail-optimized cluster of ``nodes`` nodes of preset ``node``.

    Every ``None`` argument takes its value from the fabric preset ``fabric``
    (default: the node's fabric) or the node preset:

    * ``nodes_per_leaf``, ``oversubscription``, ``spines``, ``hop_latency_s``
      (per NIC-leaf and leaf-spine hop, s), ``link_efficiency`` (leaf-spine
      links): fabric preset;
    * ``nic_bw_bytes_per_s`` (NIC-leaf link rate per direction; default the
      slower of the node's NIC and the fabric's port), ``nic_efficiency``
      (NIC-leaf links), ``gpus_per_node`` (rails), ``gpu``: node preset.
    """
    ns = node_spec(node)
    fs = fabric_spec(fabric or ns.fabric)
    nodes = v.int_at_least(nodes, 1, "rail_optimized.nodes")
    gpn = v.int_at_least(gpus_per_node if gpus_per_node is not None else ns.gpus_per_node,
                         1, "rail_optimized.gpus_per_node")
    npl = v.int_at_least(nodes_per_leaf if nodes_per_leaf is not None else fs.nodes_per_leaf,
                         1, "rail_optimized.nodes_per_leaf")
    over = v.positive_float(oversubscription if oversubscription is not None
                            else fs.oversubscription, "rail_optimized.oversubscription")
    nic_bw = v.positive_float(nic_bw_bytes_per_s if nic_bw_bytes_per_s is not None
                              else min(ns.nic_bw_bytes_per_s, fs.link_bw_bytes_per_s),
                              "rail_optimized.nic_bw_bytes_per_s")
    nic_eff = v.fraction(nic_efficiency if nic_efficiency is not None else ns.nic_efficiency,
                         "rail_optimized.nic_efficiency")
    hop = v.nonneg_float(hop_latency_s if hop_latency_s is not None else fs.hop_latency_s,
                         "rail_optimized.hop_latency_s")
    up_eff = v.fraction(link_efficiency if link_efficiency is not None else fs.link_efficiency,
                        "rail_optimized.link_efficiency")
    if spines is None:
        spines = fs.spines if fs.spines is not None else math.ceil(npl / over)
        if nodes == 1:
            spines = 0
    spines = v.int_at_least(spines, 0, "rail_optimized.spines")
    if spines == 0 and nodes > 1:
        raise TopologyError("several nodes need at least one spine: GPUs on different rails "
                            "cannot reach each other through rail leaves alone",
                            field="rail_optimized.spines", value=spines)

    groups = math.ceil(nodes / npl)
    G = new_graph(f"{nodes}x{node}-rail", nodes * gpn, gpn, gpu=gpu or ns.gpu)
    G.graph.update(node=node, fabric=fs.name, nodes_per_leaf=npl, spines=spines,
                   oversubscription=over)
    G.add_owned_nodes((leaf_name(j, g), {"kind": "switch", "tier": "leaf"})
                      for g in range(groups) for j in range(gpn))
    edges = []
    for h in range(nodes):
        nics = add_preset_host(G, ns, h, gpn)
        group = h // npl
        for j, nic in enumerate(nics):
            edges += duplex(nic, leaf_name(j, group), nic_bw, hop, "ib", nic_eff)
    if spines:
        up_bw = npl * nic_bw / over / spines
        names = [f"spine{s}" for s in range(spines)]
        G.add_owned_nodes((name, {"kind": "switch", "tier": "spine"}) for name in names)
        for g in range(groups):
            for j in range(gpn):
                leaf = leaf_name(j, g)
                for spine in names:
                    edges += duplex(leaf, spine, up_bw, hop, "ib", up_eff)
    G.add_owned_edges(edges)
    return G
