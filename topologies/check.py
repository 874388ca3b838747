"""Validation of a topology graph against the conventions of :mod:`topologies.graph`."""
from __future__ import annotations

import math
import sys
from collections import defaultdict, deque

from topologies.digraph import DiGraph
from topologies.errors import TopologyError
from topologies.graph import LINK_KINDS, NODE_KINDS, SWITCH_TIERS

_GRAPH_KEYS = ("num_gpus", "gpus_per_node", "num_hosts", "name")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: object) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool)) and math.isfinite(x)


def check(G: DiGraph, source: str | None = None) -> None:
    """Raise :class:`TopologyError` unless ``G`` follows the topology conventions.

    Checks the graph attributes, every node's ``kind``/``host``/``local``/``tier``,
    that GPUs are exactly ``0..num_gpus-1`` with ``id == host * gpus_per_node +
    local``, every edge's ``bw_bytes_per_s`` (> 0), ``latency_s`` (>= 0), ``kind``
    and ``efficiency`` (in (0, 1]), and that every GPU reaches every other GPU
    without passing through a third GPU (unless ``G.graph["gpu_transit"]``).
    ``source`` names the graph in messages (default: its ``name``).
    """
    if not _is_digraph(G):
        raise TopologyError("a topology must be a topologies DiGraph or a networkx.DiGraph, "
                            f"got {type(G).__name__}", file=source)
    where = source or G.graph.get("name") or "<graph>"

    def fail(message: str, field: str, value: object = ...) -> None:
        raise TopologyError(message, file=where, field=field, value=value)

    for key in _GRAPH_KEYS:
        if key not in G.graph:
            fail("missing graph attribute", f"graph.{key}")
    for key in ("num_gpus", "gpus_per_node", "num_hosts"):
        if not _is_int(G.graph[key]) or G.graph[key] < 1:
            fail("must be an integer >= 1", f"graph.{key}", G.graph[key])
    num_gpus, gpn = G.graph["num_gpus"], G.graph["gpus_per_node"]
    if G.graph["num_hosts"] * gpn != num_gpus:
        fail(f"num_hosts * gpus_per_node ({G.graph['num_hosts']} * {gpn}) != num_gpus ({num_gpus})",
             "graph.num_hosts", G.graph["num_hosts"])

    gpus = _check_nodes(G, gpn, fail)
    if gpus != list(range(num_gpus)):
        shown = gpus if len(gpus) <= 12 else gpus[:6] + ["..."] + gpus[-3:]
        fail(f"GPU nodes must be exactly 0..{num_gpus - 1} (num_gpus = {num_gpus})",
             "GPU ids", shown)
    _check_edges(G, fail)
    pair = _first_unreachable(G, gpus, bool(G.graph.get("gpu_transit", False)))
    if pair is not None:
        fail(f"GPU {pair[1]} cannot be reached from GPU {pair[0]}"
             + ("" if G.graph.get("gpu_transit") else " without passing through another GPU"),
             "reachability", pair)


def _is_digraph(G: object) -> bool:
    """A :class:`~topologies.digraph.DiGraph`, or a networkx one (networkx is never imported
    here: a networkx graph exists only if networkx is already loaded)."""
    if isinstance(G, DiGraph):
        return True
    nx = sys.modules.get("networkx")
    return nx is not None and isinstance(G, nx.DiGraph) and not G.is_multigraph()


def _check_nodes(G: DiGraph, gpn: int, fail) -> list[int]:
    gpus = []
    for node, attrs in G.nodes(data=True):
        kind = attrs.get("kind")
        if kind not in NODE_KINDS:
            fail(f"node kind must be one of {', '.join(sorted(NODE_KINDS))}",
                 f"node {node!r}.kind", kind)
        if kind == "gpu":
            if not _is_int(node):
                fail("GPU node ids must be integers", f"node {node!r}", node)
            gpus.append(node)
        elif not isinstance(node, str):
            fail(f"{kind} node ids must be strings", f"node {node!r}", node)
        if kind in ("gpu", "nvswitch", "nic"):
            host = attrs.get("host")
            if not _is_int(host) or host < 0:
                fail("must be an integer >= 0", f"node {node!r}.host", host)
        if kind in ("gpu", "nic"):
            local = attrs.get("local")
            if not _is_int(local) or local < 0:
                fail("must be an integer >= 0", f"node {node!r}.local", local)
        if kind == "gpu" and node != attrs["host"] * gpn + attrs["local"]:
            fail(f"GPU id must equal host * gpus_per_node + local "
                 f"({attrs['host']} * {gpn} + {attrs['local']})", f"node {node!r}", node)
        if kind == "gpu" and attrs["local"] >= gpn:
            fail(f"must be < gpus_per_node ({gpn})", f"node {node!r}.local", attrs["local"])
        if kind == "switch" and attrs.get("tier") not in SWITCH_TIERS:
            fail(f"switch tier must be one of {', '.join(sorted(SWITCH_TIERS))}",
                 f"node {node!r}.tier", attrs.get("tier"))
    return sorted(gpus)


def _check_edges(G: DiGraph, fail) -> None:
    for u, w, d in G.edges(data=True):
        edge = f"edge {u!r}->{w!r}"
        if u == w:
            fail("self-loop", edge)
        bw = d.get("bw_bytes_per_s")
        if not _is_num(bw) or bw <= 0:
            fail("must be a positive finite number", f"{edge}.bw_bytes_per_s", bw)
        lat = d.get("latency_s")
        if not _is_num(lat) or lat < 0:
            fail("must be a finite number >= 0", f"{edge}.latency_s", lat)
        if d.get("kind") not in LINK_KINDS:
            fail(f"link kind must be one of {', '.join(sorted(LINK_KINDS))}",
                 f"{edge}.kind", d.get("kind"))
        eff = d.get("efficiency")
        if not _is_num(eff) or not 0 < eff <= 1:
            fail("must be a number in (0, 1]", f"{edge}.efficiency", eff)


def _first_unreachable(G: DiGraph, gpus: list[int], transit: bool) -> tuple | None:
    """A pair (a, b) of GPUs such that b is unreachable from a, or None.

    Without transit, paths may only pass through non-GPU nodes (or be one direct
    GPU-to-GPU edge). Works on the condensation of the non-GPU subgraph so that
    large symmetric fabrics cost one pass over the edges.
    """
    n = len(gpus)
    if n <= 1:
        return None
    if transit:
        a = gpus[0]
        ahead = _reach(a, G.successors)
        behind = _reach(a, G.predecessors)
        for b in gpus:
            if b not in ahead:
                return (a, b)
            if b not in behind:
                return (b, a)
        return None
    gpu_set = set(gpus)
    scc_of, dag = _condensation([x for x in G.nodes if x not in gpu_set],
                                lambda u: (w for w in G.successors(u) if w not in gpu_set))
    targets = defaultdict(set)          # SCC -> GPUs with an in-neighbour in it
    for b in gpus:
        for p in G.predecessors(b):
            if p not in gpu_set:
                targets[scc_of[p]].add(b)
    reach_cache: dict[int, set] = {}
    missing_cache: dict[frozenset, frozenset] = {}
    for a in gpus:
        starts = frozenset(scc_of[s] for s in G.successors(a) if s not in gpu_set)
        if starts not in missing_cache:
            sccs = set()
            for c in starts:
                if c not in reach_cache:
                    reach_cache[c] = _reach(c, dag.__getitem__)
                sccs |= reach_cache[c]
            if any(len(targets.get(c, ())) == n for c in sccs):
                missing_cache[starts] = frozenset()
            else:
                covered = set().union(*(targets.get(c, set()) for c in sccs))
                missing_cache[starts] = frozenset(gpu_set - covered)
        for b in sorted(missing_cache[starts] - {a}):
            if not G.has_edge(a, b):
                return (a, b)
    return None


def _reach(start, step) -> set:
    """Every node reachable from ``start`` (itself included) following ``step(node)``."""
    seen = {start}
    queue = deque([start])
    while queue:
        for w in step(queue.popleft()):
            if w not in seen:
                seen.add(w)
                queue.append(w)
    return seen


def _condensation(nodes: list, succ) -> tuple[dict, list[set]]:
    """Strongly connected components (Tarjan's algorithm, iterative): node -> component
    index, and each component's successor components."""
    index: dict = {}
    low: dict = {}
    comp: dict = {}
    stack: list = []
    on_stack: set = set()
    counter = 0
    n_comp = 0
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(succ(root)))]
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ(w))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp[w] = n_comp
                    if w == v:
                        break
                n_comp += 1
    dag: list[set] = [set() for _ in range(n_comp)]
    for v in nodes:
        for w in succ(v):
            if comp[v] != comp[w]:
                dag[comp[v]].add(comp[w])
    return comp, dag
