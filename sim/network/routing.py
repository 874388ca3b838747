"""Routing of GPU-to-GPU flows over a topology graph.

Graphs follow the conventions of :mod:`topologies`: GPUs are the integer
nodes, every directed edge carries ``bw_bytes_per_s``, ``latency_s`` and
optionally ``efficiency``. GPUs are endpoints only, never transit nodes.

Paths are shortest paths (hop count). Where several are equally short the
router picks one per flow by a deterministic hash of (source, destination,
salt), as ECMP hashing does on real switches, so concurrent flows spread over
spines and may also collide, as on real fabrics.

Two path finders give the same hop counts: a breadth-first search per
destination (any graph, and graphs that let traffic transit GPUs), and a
structured one for switched fabrics that scales to tens of thousands of GPUs:
GPUs hang off *attachment* nodes (NVSwitch, NIC), attachments hang off fabric
switches (``kind == "switch"``), and all-pairs hop counts among the switches
(computed once, in C, by scipy) steer an ECMP walk between them.
"""
from __future__ import annotations

import hashlib
from collections import deque
from itertools import accumulate, chain
from operator import itemgetter

import numpy as np

from topologies.digraph import DiGraph
from sim.network.fabric import FabricIndex, HopTable, route_batch
from workloads.errors import InputError


class RouteSet:
    """Routes of several flows as CSR arrays: flow i crosses ``flat[ptr[i]:ptr[i+1]]``,
    each link carrying ``share[...]`` of the flow's rate (1 on a single path)."""

    __slots__ = ("ptr", "flat", "share", "latency", "unique_links", "key", "_local", "form")

    def __init__(self, ptr: np.ndarray, flat: np.ndarray, latency: np.ndarray,
                 share: np.ndarray | None = None):
        self.key: int | None = None       # set by the router that caches it
        self.ptr, self.flat, self.latency = ptr, flat, latency
        self.share = np.ones(len(flat)) if share is None else share
        if len(flat) > 4096:             # sorted distinct links without a sort
            seen = np.zeros(int(flat.max()) + 1, dtype=bool)
            seen[flat] = True
            self.unique_links = np.flatnonzero(seen)
        else:
            self.unique_links = _unique(flat)
        self._local: np.ndarray | None = None
        self.form: int | None = None      # see Router.form

    def __len__(self) -> int:
        return len(self.ptr) - 1

    def local_links(self) -> np.ndarray:
        """``flat`` renumbered 0..k-1 in the order of ``unique_links`` (cached)."""
        if self._local is None:
            pos = np.zeros(int(self.unique_links[-1]) + 1 if len(self.flat) else 0,
                           dtype=np.int32)
            pos[self.unique_links] = np.arange(len(self.unique_links), dtype=np.int32)
            self._local = pos[self.flat]
        return self._local

    def subset(self, sel: np.ndarray) -> "RouteSet":
        lengths = np.diff(self.ptr)[sel]
        ptr = np.zeros(len(sel) + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        # positions in flat of every selected flow's links, in order
        idx = np.repeat(self.ptr[:-1][sel] - ptr[:-1], lengths) + np.arange(int(ptr[-1]))
        return RouteSet(ptr, self.flat[idx], self.latency[sel], self.share[idx])


ROUTING = ("spray", "ecmp")


class Router:
    """Link table and cached shortest paths of one topology graph.

    ``routing="spray"`` (default; adaptive routing as on current InfiniBand and
    RoCE fabrics) spreads every flow evenly over all equal-cost paths of a
    switched fabric; ``"ecmp"`` pins each flow to one path chosen by hash.
    """

    BATCH = 64      # pairs from which :meth:`routes` routes with arrays

    def __init__(self, graph: DiGraph, routing: str | None = None, vectorised: bool = True):
        if not (hasattr(graph, "successors") and hasattr(graph, "predecessors")
                and graph.is_directed()):
            raise TypeError("Router needs a directed topology graph (topologies DiGraph "
                            "or networkx.DiGraph)")
        routing = routing or graph.graph.get("routing", "spray")
        if routing not in ROUTING:
            raise InputError(f"unknown routing (known: {', '.join(ROUTING)})",
                             field="cluster.fabric.routing", value=routing)
        self.graph = graph
        self.routing = routing
        self._edge_index: dict[tuple, int] | None = None
        self._capacity: np.ndarray | None = None
        self._latency: np.ndarray | None = None
        self._dist: dict = {}
        self._paths: dict = {}
        self._sets: dict = {}
        self._seen: dict = {}      # id(pairs) -> (pairs, routes); holds pairs alive
        self._core: dict | None = None
        self._fab: FabricIndex | None = None
        self._nodes: tuple | None = None
        self._forms: dict = {}      # digest -> [(form number, arrays)]
        self._n_forms = 0
        self._ends: tuple | None = None
        self.vectorised = vectorised

    # -- link table --------------------------------------------------------
    def _build(self) -> None:
        # links are numbered in the order of graph.edges(): every node's
        # successors in turn; node u's links start at first[u]
        succ = self.graph.succ
        lengths = [len(nbrs) for nbrs in succ.values()]
        self._first = dict(zip(succ, accumulate(lengths, initial=0)))
        self._edge_index = _EdgeIndex(succ, self._first)
        self._capacity, self._latency = _link_arrays(succ, sum(lengths))

    def node_table(self) -> tuple[list, dict, list]:
        """Nodes in graph order, node -> its number there, and each node's
        ``kind`` attribute (None where unset); cached."""
        if self._nodes is None:
            nodes = list(self.graph.nodes)
            kinds = [d.get("kind") for _, d in self.graph.nodes(data=True)]
            self._nodes = (nodes, dict(zip(nodes, range(len(nodes)))), kinds)
        return self._nodes

    def edge_ends(self) -> tuple[np.ndarray, np.ndarray]:
        """Both ends of every link as numbered by :meth:`node_table` (link
        order; cached)."""
        if self._ends is None:
            node_id = self.node_table()[1]
            succ = self.graph.succ
            lengths = np.fromiter(map(len, succ.values()), np.int64, len(succ))
            heads = np.fromiter(map(node_id.__getitem__, succ), np.int64, len(succ))
            tails = chain.from_iterable(nbrs.keys() for nbrs in succ.values())
            self._ends = (np.repeat(heads, lengths),
                          np.fromiter(map(node_id.__getitem__, tails), np.int64,
                                      int(lengths.sum())))
        return self._ends

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
        """(u, v) of link number ``link``."""
        nodes = self.node_table()[0]
        heads, tails = self.edge_ends()
        return nodes[heads[link]], nodes[tails[link]]

    def link_id(self, u, v) -> int:
        if self._edge_index is None:
            self._build()
        return self._edge_index[(u, v)]

    def form(self, routes: RouteSet) -> int:
        """A number shared by route sets that max-min sharing cannot tell
        apart when each is alone on its links: the same flows' lengths, the
        same pattern of links (each link by its rank among the set's links),
        the same shares and the same capacities link by link. Two pipeline
        stages' collectives, translated copies of each other, get one number,
        so a lone evolution solved for one serves the other. Found by a hash
        and confirmed array by array (exact); cached on ``routes``."""
        if routes.form is None:
            parts = (routes.ptr, routes.local_links(), routes.share,
                     self.capacity[routes.unique_links])
            # a cheap digest (per-flow lengths and per-link capacities whole,
            # every 61st link entry) picks the candidates to confirm
            digest = hashlib.blake2b(digest_size=16)
            for a in (parts[0], parts[3], parts[1][::61], parts[2][::61]):
                a = np.ascontiguousarray(a)
                digest.update(f"{a.dtype.str}{a.shape}".encode())
                digest.update(a.data)
            bucket = self._forms.setdefault((len(parts[1]), digest.digest()), [])
            for number, seen in bucket:
                if all(np.array_equal(x, y) for x, y in zip(parts, seen)):
                    routes.form = number
                    break
            else:
                routes.form = self._n_forms
                self._n_forms += 1
                bucket.append((routes.form, parts))
        return routes.form

    # -- paths ---------------------------------------------------------------
    def _is_gpu(self, node) -> bool:
        return self.graph.nodes[node].get("kind") == "gpu"

    def _no_transit(self, node) -> bool:
        """A GPU that traffic may not pass through (unless the graph says GPUs forward)."""
        return not self.graph.graph.get("gpu_transit", False) and self._is_gpu(node)

    def _distances_to(self, dst) -> dict:
        dist = self._dist.get(dst)
        if dist is not None:
            return dist
        dist = {dst: 0}
        queue = deque([dst])
        pred = self.graph.predecessors
        endpoints = not self.graph.graph.get("gpu_transit", False)
        while queue:
            v = queue.popleft()
            if endpoints and v != dst and self._is_gpu(v):
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
        nodes = None
        if self.structured:
            nodes = self._structured_nodes(src, dst, salt)
        if nodes is None:
            nodes = self._bfs_nodes(src, dst, salt)
        arr = np.array([self._edge_index[(u, v)] for u, v in zip(nodes, nodes[1:])],
                       dtype=np.int64)
        result = (arr, float(self.link_latency[arr].sum()))
        self._paths[key] = result
        return result

    # -- breadth-first search ------------------------------------------------
    def _bfs_nodes(self, src: int, dst: int, salt: int) -> list:
        dist = self._distances_to(dst)
        if src not in dist:
            raise InputError(f"no route from GPU {src} to GPU {dst} in topology "
                             f"'{self.graph.graph.get('name', '?')}'", field="placement",
                             value=[src, dst])
        nodes = [src]
        u, hop = src, 0
        while u != dst:
            want = dist[u] - 1
            nxt = [v for v in self.graph.successors(u)
                   if dist.get(v) == want and (v == dst or not self._no_transit(v))]
            u = nxt[hash((src, dst, salt, hop)) % len(nxt)] if len(nxt) > 1 else nxt[0]
            nodes.append(u)
            hop += 1
        return nodes

    # -- structured fabrics ----------------------------------------------------
    @property
    def structured(self) -> bool:
        """Whether the switched-fabric path finder applies to this graph."""
        if self._core is None:
            self._core = self._build_core()
        return bool(self._core)

    def _build_core(self) -> dict:
        g = self.graph
        if g.graph.get("gpu_transit"):
            return {}
        nodes, _, kinds = self.node_table()
        at = [i for i, k in enumerate(kinds) if k == "switch"]
        if not at:
            return {}
        switches = [nodes[i] for i in at]
        index = {n: i for i, n in enumerate(switches)}
        if self._edge_index is None:
            self._build()
        # links between two switches, by switch (graph order), each switch's in
        # successor order
        sw = np.full(len(nodes), -1, dtype=np.int64)
        sw[at] = np.arange(len(at))
        eu, ev = self.edge_ends()
        ids = np.flatnonzero((sw[eu] >= 0) & (sw[ev] >= 0))
        rows = sw[eu[ids]]
        order = np.argsort(rows, kind="stable")
        rows, ids = rows[order], ids[order]
        cols = sw[ev[ids]]
        ptr = np.zeros(len(switches) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(switches)), out=ptr[1:])
        succ = [x.tolist() for x in np.split(cols, ptr[1:-1])]
        dist = HopTable(succ, _hop_distances)
        return {"nodes": switches, "index": index, "succ": succ, "dist": dist,
                "succ_arr": [np.array(x, dtype=np.int64) for x in succ],
                "csr": (ptr, cols, ids)}

    def _fabric(self) -> FabricIndex:
        if self._fab is None:
            self._fab = FabricIndex(self)
        return self._fab

    def _chains(self, gpu: int, outward: bool) -> list[list]:
        """Each way between ``gpu`` and the fabric switches, through at most one
        attachment: [gpu, (attachment,) switch] outward, reversed inward
        (cached with the switch-level tables; not to be modified)."""
        memo = self._core.setdefault("chains", {})
        hit = memo.get((gpu, outward))
        if hit is None:
            hit = memo[(gpu, outward)] = self._chains_of(gpu, outward)
        return hit

    def _chains_of(self, gpu: int, outward: bool) -> list[list]:
        idx = self._core["index"]
        step = self.graph.successors if outward else self.graph.predecessors
        out = []
        for a in step(gpu):
            if a in idx:
                out.append([gpu, a])
            elif not self._is_gpu(a):
                out.extend([gpu, a, c] for c in step(a) if c in idx)
        return out if outward else [chain[::-1] for chain in out]

    def _chains_out(self, gpu: int) -> list[list]:
        return self._chains(gpu, True)

    def _chains_in(self, gpu: int) -> list[list]:
        return self._chains(gpu, False)

    def _core_spread(self, u: int, target: int) -> dict:
        """Edge -> share of a unit flow spread over all shortest switch paths u -> target."""
        memo = self._core.setdefault("spread", {})
        hit = memo.get((u, target))
        if hit is not None:
            return hit
        dist, names, succ = self._core["dist"], self._core["nodes"], self._core["succ_arr"]
        out: dict = {}
        level = {u: 1.0}
        while level and target not in level:
            nxt_level: dict = {}
            for a, f in level.items():
                cand = succ[a]
                nxt = cand[dist[cand, target] == dist[a, target] - 1].tolist()
                for b in nxt:
                    e = (names[a], names[b])
                    out[e] = out.get(e, 0.0) + f / len(nxt)
                    nxt_level[b] = nxt_level.get(b, 0.0) + f / len(nxt)
            level = nxt_level
        memo[(u, target)] = out
        return out

    def _chain_options(self, src: int, dst: int) -> list[tuple[list, list]]:
        """(way out of src, way into dst) pairs of least total hop count."""
        idx, dist = self._core["index"], self._core["dist"]
        best, options = np.inf, []
        for up in self._chains_out(src):
            for down in self._chains_in(dst):
                hops = len(up) + len(down) - 2 + dist[idx[up[-1]], idx[down[0]]]
                if hops < best:
                    best, options = hops, [(up, down)]
                elif hops == best:
                    options.append((up, down))
        return options if np.isfinite(best) else []

    def _structured_nodes(self, src: int, dst: int, salt: int) -> list | None:
        g = self.graph
        if g.has_edge(src, dst):
            return [src, dst]
        shared = [a for a in g.successors(src) if not self._is_gpu(a) and g.has_edge(a, dst)]
        if shared:
            return [src, shared[hash((src, dst, salt)) % len(shared)], dst]
        core = self._core
        idx, dist = core["index"], core["dist"]
        options = self._chain_options(src, dst)
        if not options:
            return None
        up, down = options[hash((src, dst, salt, -1)) % len(options)]
        u, target = idx[up[-1]], idx[down[0]]
        walk, hop = [], 0
        while u != target:
            want = dist[u, target] - 1
            nxt = [v for v in core["succ"][u] if dist[v, target] == want]
            u = nxt[hash((src, dst, salt, hop)) % len(nxt)] if len(nxt) > 1 else nxt[0]
            walk.append(core["nodes"][u])
            hop += 1
        return up + walk + down[1:]

    def routes(self, pairs: tuple, salt: int = 0) -> RouteSet:
        """Routes of many (src, dst) pairs at once, cached by the pair tuple."""
        seen = self._seen.get((id(pairs), salt))
        if seen is not None and seen[0] is pairs:     # this very tuple again: skip hashing it
            return seen[1]
        key = (pairs, salt)
        hit = self._sets.get(key)
        if hit is not None:
            return hit
        if (self.vectorised and len(pairs) >= self.BATCH and self.routing == "spray"
                and self.structured):
            ptr, flat, share, latency = route_batch(self, pairs, salt)
            hit = RouteSet(ptr, flat, latency, share)
        else:
            paths = [self.spread(s, d, salt) for s, d in pairs]
            ptr = np.zeros(len(paths) + 1, dtype=np.int64)
            np.cumsum([len(p[0]) for p in paths], out=ptr[1:])
            empty = np.zeros(0, dtype=np.int64)
            flat = np.concatenate([p[0] for p in paths]) if paths else empty
            share = np.concatenate([p[1] for p in paths]) if paths else np.zeros(0)
            hit = RouteSet(ptr, flat, np.array([p[2] for p in paths], dtype=float), share)
        hit.key = len(self._sets)
        self._sets[key] = hit
        self._seen[(id(pairs), salt)] = (pairs, hit)
        return hit

    def subset(self, routes: RouteSet, sel: np.ndarray) -> RouteSet:
        """``routes.subset(sel)``, cached (and keyed) like :meth:`routes`."""
        if routes.key is None:
            return routes.subset(sel)
        key = ("subset", routes.key, np.asarray(sel, dtype=np.int64).tobytes())
        hit = self._sets.get(key)
        if hit is None:
            hit = routes.subset(sel)
            hit.key = len(self._sets)
            self._sets[key] = hit
        return hit

    def spread(self, src: int, dst: int, salt: int = 0):
        """(links, shares, latency_s) of the flow src -> dst under the routing mode."""
        key = ("spread", src, dst, salt)
        hit = self._paths.get(key)
        if hit is not None:
            return hit
        if self._edge_index is None:
            self._build()
        arrays = None
        if self.routing == "spray" and src != dst and self.structured:
            arrays = self._single_chain_spread(src, dst)
            if arrays is None:
                weights = self._structured_spread(src, dst)
                if weights is not None:
                    arrays = (np.array([self._edge_index[e] for e in weights], dtype=np.int64),
                              np.array(list(weights.values())))
        if arrays is None:
            links, lat = self.path(src, dst, salt)
            hit = (links, np.ones(len(links)), lat)
        else:
            links, share = arrays
            hit = (links, share, float((self.link_latency[links] * share).sum()))
        self._paths[key] = hit
        return hit

    def _single_chain_spread(self, src: int, dst: int):
        """Fast path: one way out of src and one way into dst (a GPU behind one
        NIC), so the spread is the two chains plus the cached switch-level
        spread between their switches. None when the general case applies."""
        g = self.graph
        if g.has_edge(src, dst):
            return None
        ups, downs = self._chains_out(src), self._chains_in(dst)
        if len(ups) != 1 or len(downs) != 1:
            return None
        if dst in self._beside(src):
            return None                      # a shared attachment is shorter
        up, down = ups[0], downs[0]
        idx = self._core["index"]
        core = self._core_arrays(idx[up[-1]], idx[down[0]])
        if core is None:
            return None
        # the chains' links (up, then down) and the core's, as
        # np.array([edge of each chain hop]) would give them
        memo = self._core.setdefault("chain_links", {})
        a = memo.get((src, True))
        if a is None:
            a = memo[(src, True)] = self._chain_links(up)
        b = memo.get((dst, False))
        if b is None:
            b = memo[(dst, False)] = self._chain_links(down)
        links = np.concatenate([a, b, core[0]])
        return links, np.concatenate([np.ones(len(a) + len(b)), core[1]])

    def _chain_links(self, chain: list) -> np.ndarray:
        e = self._edge_index
        return np.array([e[(u, v)] for u, v in zip(chain, chain[1:])], dtype=np.int64)

    def _beside(self, gpu: int) -> frozenset:
        """The nodes one non-GPU attachment away from ``gpu`` (cached)."""
        memo = self._core.setdefault("beside", {})
        hit = memo.get(gpu)
        if hit is None:
            g = self.graph
            hit = memo[gpu] = frozenset(v for a in g.successors(gpu) if not self._is_gpu(a)
                                        for v in g.successors(a))
        return hit

    def _core_arrays(self, u: int, target: int):
        """Link indices and shares of the switch-level spread u -> target (cached)."""
        memo = self._core.setdefault("arrays", {})
        hit = memo.get((u, target))
        if hit is None:
            if not np.isfinite(self._core["dist"][u, target]):
                return None
            spread = self._core_spread(u, target)
            hit = (np.array([self._edge_index[k] for k in spread], dtype=np.int64),
                   np.array(list(spread.values())))
            memo[(u, target)] = hit
        return hit

    def _structured_spread(self, src: int, dst: int) -> dict | None:
        """Edge -> share of the flow, split evenly at every equal-cost branching."""
        g = self.graph
        if g.has_edge(src, dst):
            return {(src, dst): 1.0}
        shared = [a for a in g.successors(src) if not self._is_gpu(a) and g.has_edge(a, dst)]
        weights: dict = {}

        def add(u, v, w):
            weights[(u, v)] = weights.get((u, v), 0.0) + w

        if shared:
            for a in shared:
                add(src, a, 1 / len(shared))
                add(a, dst, 1 / len(shared))
            return weights
        options = self._chain_options(src, dst)
        if not options:
            return None
        idx = self._core["index"]
        for up, down in options:
            w = 1 / len(options)
            for u, v in zip(up, up[1:]):
                add(u, v, w)
            for u, v in zip(down, down[1:]):
                add(u, v, w)
            for edge, f in self._core_spread(idx[up[-1]], idx[down[0]]).items():
                add(*edge, w * f)
        return weights


class _EdgeIndex:
    """``index[(u, v)]``: the number of link u -> v (KeyError if there is none),
    from u's first link and v's place among u's successors; each node's table
    is made on first use, not a million pairs up front."""

    __slots__ = ("_succ", "_first", "_pos")

    def __init__(self, succ, first: dict):
        self._succ, self._first, self._pos = succ, first, {}

    def __getitem__(self, edge) -> int:
        u, v = edge
        pos = self._pos.get(u)
        if pos is None:
            pos = self._pos[u] = {w: k for k, w in enumerate(self._succ[u], self._first[u])}
        return pos[v]


_LINK_FIELDS = itemgetter("bw_bytes_per_s", "efficiency", "latency_s")


def _link_arrays(succ: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Capacity (bandwidth x efficiency, default 1) and latency (default 0)
    of the ``n`` links of ``succ`` in link order: one pass over the attribute
    dicts reading all three (a million links scattered in memory cost one
    cache miss each, not three), or, when a link lacks a field, field by field."""
    links = chain.from_iterable(nbrs.values() for nbrs in succ.values())
    try:
        cols = np.fromiter(chain.from_iterable(map(_LINK_FIELDS, links)), float,
                           3 * n).reshape(n, 3)
    except KeyError:
        data = list(chain.from_iterable(nbrs.values() for nbrs in succ.values()))
        bw = np.fromiter(map(itemgetter("bw_bytes_per_s"), data), float, n)
        return bw * _attribute(data, "efficiency", 1.0), _attribute(data, "latency_s", 0.0)
    return cols[:, 0] * cols[:, 1], np.ascontiguousarray(cols[:, 2])


def _attribute(data: list, key: str, default: float) -> np.ndarray:
    """``d.get(key, default)`` of every attribute dict, as floats."""
    try:
        return np.fromiter(map(itemgetter(key), data), float, len(data))
    except KeyError:
        return np.fromiter((d.get(key, default) for d in data), float, len(data))


def _unique(a: np.ndarray) -> np.ndarray:
    """``np.unique`` of a 1-D array (which would import ``numpy.ma`` on first use)."""
    s = np.sort(a)
    if len(s) < 2:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def _hop_distances(succ: list[list[int]], rows: list[int], cols: list[int]) -> np.ndarray:
    """All-pairs hop counts between switches (inf where unreachable).

    Small fabrics use a breadth-first search per switch; large ones scipy's
    sparse shortest paths (imported only then: it is slow to import).
    """
    n = len(succ)
    if n > 64:
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import shortest_path
        adj = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
        return shortest_path(adj, method="D", directed=True, unweighted=True)
    dist = np.full((n, n), np.inf)
    for s in range(n):
        dist[s, s] = 0.0
        frontier, d = [s], 0
        while frontier:
            d += 1
            nxt = []
            for u in frontier:
                for v in succ[u]:
                    if dist[s, v] == np.inf:
                        dist[s, v] = d
                        nxt.append(v)
            frontier = nxt
    return dist
