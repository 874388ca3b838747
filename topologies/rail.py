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
from topologies.digraph import DiGraph
from topologies.errors import TopologyError
from topologies.graph import gc_paused, new_graph, nic_name, nvswitch_name
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
    up_bw = npl * nic_bw / over / spines if spines else None
    G.add_owned_adjacency(*_adjacency(ns, nodes, gpn, npl, spines, _link(nic_bw, hop, nic_eff),
                                      _link(up_bw, hop, up_eff)))
    return G


def _link(bw_bytes_per_s, latency_s, efficiency, kind="ib") -> dict:
    """The attribute dict of one direction of a link (as :func:`duplex` makes it)."""
    return {"bw_bytes_per_s": bw_bytes_per_s, "latency_s": latency_s, "kind": kind,
            "efficiency": efficiency}


def _adjacency(ns, nodes: int, gpn: int, npl: int, spines: int, ib: dict, up: dict):
    """Node attributes, successor and predecessor maps of the whole fabric,
    in the order adding its nodes and links one by one gives: leaves; per host
    its NVSwitch (if several GPUs), then each GPU and its NIC; spines. Links
    in the order GPU <-> NVSwitch and GPU <-> NIC per GPU host by host, then
    NIC <-> leaf, then leaf <-> spine; every direction its own dict."""
    nv = _link(ns.nvlink_bw_bytes_per_s, ns.nvlink_latency_s, ns.nvlink_efficiency, "nvlink")
    pc = _link(ns.pcie_bw_bytes_per_s, ns.pcie_latency_s, 1.0, "pcie")
    copy = dict.copy
    attrs: dict = {}
    succ: dict = {}
    pred: dict = {}
    leaves = [[leaf_name(j, g) for j in range(gpn)] for g in range(math.ceil(nodes / npl))]
    for row in leaves:
        for leaf in row:
            attrs[leaf] = {"kind": "switch", "tier": "leaf"}
            succ[leaf], pred[leaf] = {}, {}
    for h in range(nodes):
        nvsw = nvswitch_name(h)
        if gpn > 1:
            attrs[nvsw] = {"kind": "nvswitch", "host": h}
            s_nv, p_nv = succ[nvsw], pred[nvsw] = {}, {}
        row = leaves[h // npl]
        for j in range(gpn):
            gpu, nic, leaf = h * gpn + j, nic_name(h, j), row[j]
            attrs[gpu] = {"kind": "gpu", "host": h, "local": j}
            attrs[nic] = {"kind": "nic", "host": h, "local": j}
            g2n, n2g, n2l, l2n = copy(pc), copy(pc), copy(ib), copy(ib)
            if gpn > 1:
                g2s, s2g = copy(nv), copy(nv)
                succ[gpu], pred[gpu] = {nvsw: g2s, nic: g2n}, {nvsw: s2g, nic: n2g}
                s_nv[gpu], p_nv[gpu] = s2g, g2s
            else:
                succ[gpu], pred[gpu] = {nic: g2n}, {nic: n2g}
            succ[nic], pred[nic] = {gpu: n2g, leaf: n2l}, {gpu: g2n, leaf: l2n}
            succ[leaf][nic], pred[leaf][nic] = l2n, n2l
    names = [f"spine{s}" for s in range(spines)]
    for spine in names:
        attrs[spine] = {"kind": "switch", "tier": "spine"}
        succ[spine], pred[spine] = {}, {}
    for row in leaves:
        for leaf in row:
            s_leaf, p_leaf = succ[leaf], pred[leaf]
            for spine in names:
                l2s, s2l = copy(up), copy(up)
                s_leaf[spine], p_leaf[spine] = l2s, s2l
                succ[spine][leaf], pred[spine][leaf] = s2l, l2s
    return attrs, succ, pred
