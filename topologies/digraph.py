"""A small directed graph with the part of the ``networkx.DiGraph`` interface topologies use.

Topology graphs are built, checked and routed on every run; importing
networkx costs a tenth of a second, more than a small simulation itself, so
the builders return this class instead. It keeps networkx's own storage layout
(``_node``, ``_succ``, ``_pred`` dicts of attribute dicts), so networkx
algorithms run on it unchanged (``nx.shortest_path(G, 0, 1)``,
``nx.subgraph_view``), and :meth:`DiGraph.to_networkx` gives a real
``networkx.DiGraph`` sharing nothing with the original.

Supported: ``graph``, ``nodes`` (``G.nodes[n]``, ``G.nodes(data=True)``),
``edges`` (``G.edges[u, v]``, ``G.edges(data=True)``, ``G.edges(nbunch)``),
``out_edges``/``in_edges``, ``successors``/``predecessors``/``neighbors``,
``has_node``/``has_edge``, ``in_degree``/``out_degree``, ``add_*``/``remove_*``,
``number_of_nodes``/``number_of_edges``, ``copy``, ``G[u]`` and ``len``/``in``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property


class DiGraph:
    """Directed graph without parallel edges; nodes are any hashable, with attribute dicts."""

    __networkx_backend__ = "networkx"     # networkx algorithms treat it as their own

    def __init__(self, incoming_graph_data=None, **attr):
        self.graph: dict = {}
        self._node: dict = {}
        self._succ: dict = {}
        self._pred: dict = {}
        self._adj = self._succ
        self.__networkx_cache__: dict = {}
        if incoming_graph_data is not None:
            if not isinstance(incoming_graph_data, DiGraph) and not hasattr(
                    incoming_graph_data, "_succ"):
                raise TypeError("DiGraph(data) takes another directed graph")
            self.graph.update(incoming_graph_data.graph)
            self.add_nodes_from(incoming_graph_data.nodes(data=True))
            self.add_edges_from(incoming_graph_data.edges(data=True))
        self.graph.update(attr)

    # -- kind ----------------------------------------------------------------
    def is_directed(self) -> bool:
        return True

    def is_multigraph(self) -> bool:
        return False

    # -- building --------------------------------------------------------------
    def add_node(self, node, **attr) -> None:
        if node not in self._node:
            if node is None:
                raise ValueError("None cannot be a node")
            self._succ[node] = {}
            self._pred[node] = {}
            self._node[node] = dict(attr)
        else:
            self._node[node].update(attr)
        self.__networkx_cache__.clear()

    def add_nodes_from(self, nodes: Iterable, **attr) -> None:
        for item in nodes:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], dict):
                self.add_node(item[0], **{**attr, **item[1]})
            else:
                self.add_node(item, **attr)

    def add_edge(self, u, v, **attr) -> None:
        for n in (u, v):
            if n not in self._node:
                self.add_node(n)
        data = self._succ[u].get(v)
        if data is None:
            data = {}
            self._succ[u][v] = data
            self._pred[v][u] = data
        data.update(attr)
        self.__networkx_cache__.clear()

    def add_edges_from(self, edges: Iterable, **attr) -> None:
        for e in edges:
            if len(e) == 3:
                u, v, d = e
                self.add_edge(u, v, **{**attr, **d})
            elif len(e) == 2:
                self.add_edge(e[0], e[1], **attr)
            else:
                raise ValueError(f"edge tuple {e!r} must be a 2-tuple or 3-tuple")

    def add_owned_nodes(self, nodes: Iterable[tuple]) -> None:
        """Add ``(node, attribute dict)`` pairs in order, the graph taking each
        dict as it is (no copy): ``add_node(n, **d)`` for each, for builders
        that make a fresh dict per node. A node already present gets ``d``
        merged into its attributes."""
        node_attr, succ, pred = self._node, self._succ, self._pred
        for n, d in nodes:
            have = node_attr.get(n)
            if have is not None:
                have.update(d)
            elif n is None:
                raise ValueError("None cannot be a node")
            else:
                node_attr[n] = d
                succ[n] = {}
                pred[n] = {}
        self.__networkx_cache__.clear()

    def add_owned_edges(self, edges: Iterable[tuple]) -> None:
        """Add ``(u, v, attribute dict)`` triples in order, the graph taking each
        dict as it is (no copy): the same graph as ``add_edges_from`` for
        builders that make a fresh dict per edge (as :func:`topologies.graph.duplex`
        does), without its per-edge copies."""
        succ, pred = self._succ, self._pred
        for u, v, d in edges:
            su, pv = succ.get(u), pred.get(v)
            if su is None or pv is None or v in su:
                self.add_edge(u, v, **d)      # a new node, or an edge already there
                continue
            su[v] = d
            pv[u] = d
        self.__networkx_cache__.clear()

    def add_owned_adjacency(self, nodes: dict, succ: dict, pred: dict) -> None:
        """Fill an empty graph whole: ``nodes`` maps each node to its attribute
        dict, ``succ[u][v]`` and ``pred[v][u]`` are the same dict for every
        edge u -> v, all three keyed by the same nodes in the same order; the
        graph takes the dicts as they are. For builders that know the whole
        graph, e.g. a fabric of a million links."""
        if self._node:
            raise ValueError("add_owned_adjacency fills an empty graph")
        if not (len(nodes) == len(succ) == len(pred)) or None in nodes:
            raise ValueError("nodes, successors and predecessors must have the same nodes")
        self._node.update(nodes)
        self._succ.update(succ)
        self._pred.update(pred)
        self.__networkx_cache__.clear()

    def remove_edge(self, u, v) -> None:
        try:
            del self._succ[u][v]
            del self._pred[v][u]
        except KeyError:
            raise KeyError(f"the edge {u!r}-{v!r} is not in the graph") from None
        self.__networkx_cache__.clear()

    def remove_edges_from(self, edges: Iterable) -> None:
        for e in edges:
            u, v = e[0], e[1]
            if v in self._succ.get(u, ()):
                self.remove_edge(u, v)

    def remove_node(self, node) -> None:
        if node not in self._node:
            raise KeyError(f"the node {node!r} is not in the graph")
        for v in self._succ[node]:
            del self._pred[v][node]
        for u in self._pred[node]:
            del self._succ[u][node]
        del self._succ[node], self._pred[node], self._node[node]
        self.__networkx_cache__.clear()

    def copy(self) -> "DiGraph":
        """A copy with new attribute dicts (their values are shared), like networkx."""
        return self._fill(self.__class__())

    def to_networkx(self):
        """The same graph as a ``networkx.DiGraph`` (imports networkx)."""
        import networkx as nx
        return self._fill(nx.DiGraph())

    def _fill(self, G):
        """``G`` (empty) given this graph's attributes, nodes and edges, each
        attribute dict new (values shared)."""
        G.graph.update(self.graph)
        G.add_nodes_from((n, dict(d)) for n, d in self._node.items())
        G.add_edges_from((u, v, dict(d)) for u, nbrs in self._succ.items()
                         for v, d in nbrs.items())
        return G

    # -- queries ---------------------------------------------------------------
    def __iter__(self) -> Iterator:
        return iter(self._node)

    def __contains__(self, node) -> bool:
        try:
            return node in self._node
        except TypeError:
            return False

    def __len__(self) -> int:
        return len(self._node)

    def __getitem__(self, node) -> dict:
        return self._succ[node]

    def has_node(self, node) -> bool:
        return node in self

    def has_edge(self, u, v) -> bool:
        try:
            return v in self._succ[u]
        except (KeyError, TypeError):
            return False

    def successors(self, node) -> Iterator:
        try:
            return iter(self._succ[node])
        except KeyError:
            raise KeyError(f"the node {node!r} is not in the graph") from None

    neighbors = successors

    def predecessors(self, node) -> Iterator:
        try:
            return iter(self._pred[node])
        except KeyError:
            raise KeyError(f"the node {node!r} is not in the graph") from None

    @property
    def adj(self) -> dict:
        return self._succ

    @property
    def succ(self) -> dict:
        return self._succ

    @property
    def pred(self) -> dict:
        return self._pred

    @property
    def name(self) -> str:
        return self.graph.get("name", "")

    def number_of_nodes(self) -> int:
        return len(self._node)

    def number_of_edges(self, u=None, v=None) -> int:
        if u is None:
            return sum(len(nbrs) for nbrs in self._succ.values())
        return int(self.has_edge(u, v))

    @cached_property
    def nodes(self) -> "NodeView":
        return NodeView(self)

    @cached_property
    def edges(self) -> "EdgeView":
        return EdgeView(self, self._succ, reverse=False)

    @cached_property
    def out_edges(self) -> "EdgeView":
        return EdgeView(self, self._succ, reverse=False)

    @cached_property
    def in_edges(self) -> "EdgeView":
        return EdgeView(self, self._pred, reverse=True)

    @cached_property
    def out_degree(self) -> "DegreeView":
        return DegreeView(self, self._succ)

    @cached_property
    def in_degree(self) -> "DegreeView":
        return DegreeView(self, self._pred)

    def __repr__(self) -> str:
        name = self.graph.get("name")
        return (f"DiGraph{f' named {name!r}' if name else ''} with "
                f"{self.number_of_nodes()} nodes and {self.number_of_edges()} edges")


class NodeView:
    """``G.nodes``: iterate nodes, ``G.nodes[n]`` is the attribute dict, call for data."""

    __slots__ = ("_g",)

    def __init__(self, g: DiGraph):
        self._g = g

    def __iter__(self) -> Iterator:
        return iter(self._g._node)

    def __len__(self) -> int:
        return len(self._g._node)

    def __contains__(self, node) -> bool:
        return node in self._g

    def __getitem__(self, node) -> dict:
        if isinstance(node, slice):
            raise TypeError("G.nodes does not support slicing")
        return self._g._node[node]

    def __call__(self, data=False, default=None):
        if data is False:
            return self
        return _Sized(self._g._node, lambda: self._items(data, default))

    def items(self):
        return self._g._node.items()

    def data(self, data=True, default=None):
        return self(data, default)

    def _items(self, data, default):
        if data is True:
            return iter(self._g._node.items())
        return ((n, d.get(data, default)) for n, d in self._g._node.items())

    def __repr__(self) -> str:
        return f"NodeView({tuple(self._g._node)!r})"


class EdgeView:
    """``G.edges`` / ``G.out_edges`` / ``G.in_edges`` as in networkx."""

    __slots__ = ("_g", "_adj", "_reverse")

    def __init__(self, g: DiGraph, adj: dict, reverse: bool):
        self._g, self._adj, self._reverse = g, adj, reverse

    def _pairs(self, nbunch=None, data=False, default=None):
        nodes = self._adj if nbunch is None else _bunch(self._g, nbunch)
        for n in nodes:
            for m, d in self._adj[n].items():
                u, v = (m, n) if self._reverse else (n, m)
                if data is False:
                    yield (u, v)
                elif data is True:
                    yield (u, v, d)
                else:
                    yield (u, v, d.get(data, default))

    def __iter__(self) -> Iterator:
        return self._pairs()

    def __len__(self) -> int:
        return sum(len(nbrs) for nbrs in self._adj.values())

    def __contains__(self, edge) -> bool:
        try:
            u, v = edge[0], edge[1]
        except (TypeError, IndexError):
            return False
        return self._g.has_edge(u, v)

    def __getitem__(self, edge) -> dict:
        u, v = edge
        return self._g._succ[u][v]

    def items(self):
        """((u, v), attribute dict) pairs."""
        return (((u, v), d) for u, v, d in self._pairs(data=True))

    def data(self, data=True, default=None, nbunch=None):
        return self(nbunch, data, default)

    def __call__(self, nbunch=None, data=False, default=None):
        if nbunch is None and data is False:
            return self
        pairs = lambda: self._pairs(nbunch, data, default)   # noqa: E731
        return _Sized(None, pairs)

    def __repr__(self) -> str:
        return f"EdgeView({list(self)!r})"


class DegreeView:
    """``G.in_degree`` / ``G.out_degree``: ``G.out_degree(n)``, ``G.out_degree[n]``, pairs."""

    __slots__ = ("_g", "_adj")

    def __init__(self, g: DiGraph, adj: dict):
        self._g, self._adj = g, adj

    def __getitem__(self, node) -> int:
        return len(self._adj[node])

    def __call__(self, nbunch=None):
        if nbunch is not None and nbunch in self._g:
            return len(self._adj[nbunch])
        nodes = self._adj if nbunch is None else _bunch(self._g, nbunch)
        return _Sized(None, lambda: ((n, len(self._adj[n])) for n in nodes))

    def __iter__(self) -> Iterator:
        return ((n, len(nbrs)) for n, nbrs in self._adj.items())

    def __len__(self) -> int:
        return len(self._adj)


class _Sized:
    """An iterable that can be walked several times (and has a length), like networkx views."""

    __slots__ = ("_base", "_make")

    def __init__(self, base, make):
        self._base, self._make = base, make

    def __iter__(self) -> Iterator:
        return self._make()

    def __len__(self) -> int:
        return len(self._base) if self._base is not None else sum(1 for _ in self._make())

    def __repr__(self) -> str:
        return repr(list(self))


def _bunch(g: DiGraph, nbunch) -> list:
    """The nodes of ``nbunch`` that are in ``g``: one node, or an iterable of nodes."""
    if nbunch in g:
        return [nbunch]
    return [n for n in nbunch if n in g]
