"""Routing of GPU-to-GPU flows over a topology graph.

Graphs follow the conventions of :mod:`topologies`: GPUs are the integer
nodes, every directed edge carries ``bw_bytes_per_s``, ``latency_s`` and
optionally ``efficiency``. GPUs are endpoints only, never transit nodes.

Paths are shortest paths (hop count). Where several are equally short the
router picks one per flow by a deterministic hash of (source, destination,
salt), as ECMP hashing does on real switches, so concurrent flows spread over
spines and may also collide, as on real fabrics.
"""
from __future__ import annotations

from collections import deque

import networkx as nx
import numpy as np

from workloads.errors import InputError


class Router:
    """Link table and cached ECMP shortest paths of one topology graph."""

    def __init__(self, graph: nx.DiGraph):
        if not isinstance(graph, nx.DiGraph):
            raise TypeError("Router needs a networkx.DiGraph")
        self.graph = graph
        self._edge_index: dict[tuple, int] | None = None
        self._capacity: np.ndarray | None = None
        self._latency: np.ndarray | None = None
        self._dist: dict = {}
        self._paths: dict = {}

    # -- link table --------------------------------------------------------
    def _build(self) -> None:
        edges = list(self.graph.edges(data=True))
        self._edge_index = {(u, v): i for i, (u, v, _) in enumerate(edges)}
        self._capacity = np.array([d["bw_bytes_per_s"] * d.get("efficiency", 1.0)
                                   for _, _, d in edges], dtype=float)
        self._latency = np.array([d.get("latency_s", 0.0) for _, _, d in edges], dtype=float)
        self._edges = [(u, v) for u, v, _ in edges]

    @property
    def capacity(self) -> np.ndarray:
        """Achievable bandwidth of every directed link, bytes/s."""
        if self._capacity is None:
            self._build()
        return self._capacity

    @property
    def link_latency(self) -> np.ndarray:
        if self._latency is None:
            self._build()
        return self._latency

    def edge(self, link: int) -> tuple:
        if self._edge_index is None:
            self._build()
        return self._edges[link]

    def link_id(self, u, v) -> int:
        if self._edge_index is None:
            self._build()
        return self._edge_index[(u, v)]

    # -- paths ---------------------------------------------------------------
    def _is_gpu(self, node) -> bool:
        return self.graph.nodes[node].get("kind") == "gpu"

    def _distances_to(self, dst) -> dict:
        dist = self._dist.get(dst)
        if dist is not None:
            return dist
        dist = {dst: 0}
        queue = deque([dst])
        pred = self.graph.predecessors
        while queue:
            v = queue.popleft()
            if v != dst and self._is_gpu(v):
                continue  # a GPU is an endpoint: do not route through it
            d = dist[v] + 1
            for u in pred(v):
                if u not in dist:
                    dist[u] = d
                    queue.append(u)
        self._dist[dst] = dist
        return dist

    def path(self, src: int, dst: int, salt: int = 0) -> tuple[np.ndarray, float]:
        """Links (indices) and total latency (s) of the route src -> dst."""
        key = (src, dst, salt)
        hit = self._paths.get(key)
        if hit is not None:
            return hit
        if self._edge_index is None:
            self._build()
        if src == dst:
            result = (np.zeros(0, dtype=np.int64), 0.0)
            self._paths[key] = result
            return result
        for node in (src, dst):
            if node not in self.graph:
                raise InputError("GPU not in the topology (it has "
                                 f"{self.graph.graph.get('num_gpus', '?')} GPUs)",
                                 field="placement", value=node)
        dist = self._distances_to(dst)
        if src not in dist:
            raise InputError(f"no route from GPU {src} to GPU {dst} in topology "
                             f"'{self.graph.graph.get('name', '?')}'", field="placement",
                             value=[src, dst])
        links = []
        u, hop = src, 0
        while u != dst:
            want = dist[u] - 1
            nxt = [v for v in self.graph.successors(u)
                   if dist.get(v) == want and (v == dst or not self._is_gpu(v))]
            v = nxt[hash((src, dst, salt, hop)) % len(nxt)] if len(nxt) > 1 else nxt[0]
            links.append(self._edge_index[(u, v)])
            u, hop = v, hop + 1
        arr = np.array(links, dtype=np.int64)
        result = (arr, float(self.link_latency[arr].sum()))
        self._paths[key] = result
        return result
