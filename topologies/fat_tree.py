"""The k-ary fat tree of Al-Fares, Loukissas and Vahdat, "A Scalable, Commodity
Data Center Network Architecture", SIGCOMM 2008.

k pods, each with k/2 edge switches ``"pod<p>.edge<e>"`` and k/2 aggregation
switches ``"pod<p>.agg<a>"``; (k/2)^2 core switches ``"core<c>"``; k^3/4 hosts.
Each edge switch links to k/2 hosts and to every aggregation switch of its pod;
core switch c links to aggregation switch ``c // (k/2)`` of every pod. Switch
count 5k^2/4; fabric links 3k^3/4 (k^3/4 per tier).
"""
from __future__ import annotations

from topologies import _validate as v
from topologies.dgx import add_host
from topologies.digraph import DiGraph
from topologies.errors import TopologyError
from topologies.graph import add_switch, duplex, new_graph


def fat_tree(k: int, link_bw_bytes_per_s: float, latency_s: float,
             gpus_per_host: int = 1, *, nvlink_bw_bytes_per_s: float | None = None,
             nvlink_latency_s: float = 0.0) -> DiGraph:
    """A k-ary fat tree; every fabric link at ``link_bw_bytes_per_s`` per direction
    and ``latency_s`` per hop (``kind == "link"``).

    Each host has ``gpus_per_host`` GPUs, each with its own NIC linked to the
    host's edge switch; the GPU <-> NIC link (``kind == "pcie"``) has the fabric
    bandwidth and no latency, so the fabric alone sets the cost. With
    ``gpus_per_host > 1`` the GPUs of a host also share an NVSwitch, linked at
    ``nvlink_bw_bytes_per_s`` (required then) and ``nvlink_latency_s`` per hop.
    """
    k = v.int_at_least(k, 2, "fat_tree.k")
    if k % 2:
        raise TopologyError("must be even", field="fat_tree.k", value=k)
    bw = v.positive_float(link_bw_bytes_per_s, "fat_tree.link_bw_bytes_per_s")
    lat = v.nonneg_float(latency_s, "fat_tree.latency_s")
    gph = v.int_at_least(gpus_per_host, 1, "fat_tree.gpus_per_host")
    nv_bw = None
    if gph > 1:
        if nvlink_bw_bytes_per_s is None:
            raise TopologyError("required when gpus_per_host > 1",
                                field="fat_tree.nvlink_bw_bytes_per_s", value=None)
        nv_bw = v.positive_float(nvlink_bw_bytes_per_s, "fat_tree.nvlink_bw_bytes_per_s")
    nv_lat = v.nonneg_float(nvlink_latency_s, "fat_tree.nvlink_latency_s")

    half = k // 2
    hosts = k ** 3 // 4
    G = new_graph(f"fat_tree{k}", hosts * gph, gph)
    edges = []
    for c in range(half * half):
        add_switch(G, f"core{c}", "core")
    for p in range(k):
        for i in range(half):
            add_switch(G, f"pod{p}.edge{i}", "edge")
            add_switch(G, f"pod{p}.agg{i}", "agg")
        for e in range(half):
            for a in range(half):
                edges += duplex(f"pod{p}.edge{e}", f"pod{p}.agg{a}", bw, lat, "link")
        for a in range(half):
            for c in range(a * half, (a + 1) * half):
                edges += duplex(f"pod{p}.agg{a}", f"core{c}", bw, lat, "link")
    for h in range(hosts):
        nics = add_host(G, h, gph, nvlink_bw_bytes_per_s=nv_bw, nvlink_latency_s=nv_lat,
                        nvlink_efficiency=1.0, pcie_bw_bytes_per_s=bw, pcie_latency_s=0.0)
        p, e = divmod(h // half, half)
        for nic in nics:
            edges += duplex(nic, f"pod{p}.edge{e}", bw, lat, "link")
    G.add_edges_from(edges)
    return G
