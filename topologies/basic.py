"""The two simplest topologies: a ring of direct links and a single switch.

Every GPU is its own host (``gpus_per_node == 1``); links are generic
(``kind == "link"``, efficiency 1.0).
"""
from __future__ import annotations

from topologies import _validate as v
from topologies.digraph import DiGraph
from topologies.graph import add_gpu, add_switch, duplex, new_graph


def ring(n: int, link_bw_bytes_per_s: float, latency_s: float) -> DiGraph:
    """``n`` GPUs, GPU i linked to GPU (i + 1) mod n in both directions.

    ``link_bw_bytes_per_s`` is per direction, ``latency_s`` per hop. GPUs forward
    traffic for each other here (``G.graph["gpu_transit"] is True``); with
    ``n == 2`` there is a single link pair. n links in all (1 when n == 2).
    """
    n = v.int_at_least(n, 2, "ring.n")
    bw = v.positive_float(link_bw_bytes_per_s, "ring.link_bw_bytes_per_s")
    lat = v.nonneg_float(latency_s, "ring.latency_s")
    G = new_graph(f"ring{n}", n, 1, gpu_transit=True)
    for i in range(n):
        add_gpu(G, i, host=i, local=0)
    for i in range(n if n > 2 else 1):
        G.add_edges_from(duplex(i, (i + 1) % n, bw, lat, "link"))
    return G


def single_switch(n: int, link_bw_bytes_per_s: float, latency_s: float) -> DiGraph:
    """``n`` GPUs each linked to one switch ``"sw"`` (tier ``"leaf"``).

    ``link_bw_bytes_per_s`` per direction of each GPU link; ``latency_s`` per
    hop, so GPU to GPU takes two hops.
    """
    n = v.int_at_least(n, 1, "single_switch.n")
    bw = v.positive_float(link_bw_bytes_per_s, "single_switch.link_bw_bytes_per_s")
    lat = v.nonneg_float(latency_s, "single_switch.latency_s")
    G = new_graph(f"switch{n}", n, 1)
    add_switch(G, "sw", "leaf")
    for i in range(n):
        add_gpu(G, i, host=i, local=0)
        G.add_edges_from(duplex(i, "sw", bw, lat, "link"))
    return G
