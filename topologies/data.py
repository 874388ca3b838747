"""Topologies described as data (YAML files or dicts), and back.

Format::

    name: two-hosts            # optional (default: the file name)
    gpus_per_node: 1           # optional, default 1
    gpu: h100-sxm              # optional GPU preset name
    gpu_transit: false         # optional: may GPUs forward traffic? (a ring: true)
    nodes:
      - {id: 0, kind: gpu}                       # host/local default to divmod(id, gpus_per_node)
      - {id: h0.nic0, kind: nic, host: 0, local: 0}
      - {id: sw, kind: switch, tier: leaf}       # tier default "leaf"
    links:
      - {a: 0, b: h0.nic0, bw_bytes_per_s: 3.15e+10, latency_s: 5.0e-7, kind: pcie}
      - {a: h0.nic0, b: sw, bw_gbps: 200, latency_us: 0.2, kind: ib, efficiency: 0.96}

``bw_gbps`` is in gigabits per second (200 = HDR InfiniBand = 25e9 bytes/s);
``bw_bytes_per_s`` in bytes per second; both per direction. Links are full
duplex (two directed edges) unless ``directed: true``. Link ``kind`` defaults
to ``"link"`` and ``efficiency`` to 1.0.
"""
from __future__ import annotations

from pathlib import Path

from topologies import _validate as v
from topologies.check import check
from topologies.digraph import DiGraph
from topologies.errors import TopologyError
from topologies.graph import LINK_KINDS, NODE_KINDS, SWITCH_TIERS, new_graph

_TOP_KEYS = frozenset({"name", "gpus_per_node", "gpu", "gpu_transit", "nodes", "links"})
_NODE_KEYS = frozenset({"id", "kind", "host", "local", "tier"})
_LINK_KEYS = frozenset({"a", "b", "bw_gbps", "bw_bytes_per_s", "latency_us", "latency_s",
                        "kind", "efficiency", "directed"})


def from_yaml(path: str | Path) -> DiGraph:
    """Read a topology from a YAML file (see the module docstring for the format)."""
    label = str(path)
    data = v.load_yaml(v.read_text(path, label), label)
    return from_dict(data, source=label, default_name=Path(path).stem)


def from_dict(data: dict, source: str = "<dict>", default_name: str | None = None) -> DiGraph:
    """Build and :func:`check` a topology from a mapping; errors name ``source``."""
    f = source
    v.mapping(data, "<top level>", f)
    v.known_keys(data, _TOP_KEYS, "", f)
    gpn = v.int_at_least(data.get("gpus_per_node", 1), 1, "gpus_per_node", f)
    name = data.get("name", default_name or source)
    if not isinstance(name, str) or not name:
        raise TopologyError("must be a non-empty string", file=f, field="name", value=name)
    transit = data.get("gpu_transit", False)
    if not isinstance(transit, bool):
        raise TopologyError("must be true or false", file=f, field="gpu_transit", value=transit)
    nodes = v.required(data, "nodes", "", f)
    links = v.required(data, "links", "", f)
    for key, value in (("nodes", nodes), ("links", links)):
        if not isinstance(value, list):
            raise TopologyError("must be a list", file=f, field=key, value=value)

    G = DiGraph()
    for i, entry in enumerate(nodes):
        _add_node(G, entry, f"nodes[{i}]", gpn, f)
    gpus = sorted(n for n, k in G.nodes(data="kind") if k == "gpu")
    if gpus != list(range(len(gpus))) or not gpus:
        raise TopologyError(f"GPU ids must be exactly 0..n-1 (n = {len(gpus)}, at least 1)",
                            file=f, field="nodes", value=gpus)
    if len(gpus) % gpn:
        raise TopologyError(f"the number of GPUs ({len(gpus)}) is not a multiple of it",
                            file=f, field="gpus_per_node", value=gpn)
    first_seen: dict[tuple, int] = {}
    for i, entry in enumerate(links):
        _add_link(G, entry, i, first_seen, f)

    H = new_graph(name, len(gpus), gpn, gpu=data.get("gpu"), gpu_transit=transit)
    H.add_nodes_from(G.nodes(data=True))
    H.add_edges_from(G.edges(data=True))
    check(H, source=f)
    return H


def _add_node(G: DiGraph, entry: object, where: str, gpn: int, f: str) -> None:
    v.mapping(entry, where, f)
    v.known_keys(entry, _NODE_KEYS, where, f)
    node_id = v.required(entry, "id", where, f)
    kind = v.required(entry, "kind", where, f)
    if not isinstance(kind, str) or kind not in NODE_KINDS:
        raise TopologyError(f"must be one of {', '.join(sorted(NODE_KINDS))}",
                            file=f, field=f"{where}.kind", value=kind)
    attrs: dict = {"kind": kind}
    if kind == "gpu":
        v.int_at_least(node_id, 0, f"{where}.id", f)
        implied = dict(zip(("host", "local"), divmod(node_id, gpn)))
        for key, want in implied.items():
            if key in entry and entry[key] != want:
                raise TopologyError(f"must be {want} for GPU {node_id} with gpus_per_node {gpn}",
                                    file=f, field=f"{where}.{key}", value=entry[key])
        attrs.update(implied)
    else:
        if not isinstance(node_id, str) or not node_id:
            raise TopologyError(f"{kind} ids must be non-empty strings (integers are GPUs)",
                                file=f, field=f"{where}.id", value=node_id)
        if kind in ("nvswitch", "nic"):
            attrs["host"] = v.int_at_least(v.required(entry, "host", where, f), 0,
                                           f"{where}.host", f)
        if kind == "nic":
            attrs["local"] = v.int_at_least(v.required(entry, "local", where, f), 0,
                                            f"{where}.local", f)
    if node_id in G:
        raise TopologyError("duplicate node id", file=f, field=f"{where}.id", value=node_id)
    if kind == "switch":
        tier = entry.get("tier", "leaf")
        if not isinstance(tier, str) or tier not in SWITCH_TIERS:
            raise TopologyError(f"must be one of {', '.join(sorted(SWITCH_TIERS))}",
                                file=f, field=f"{where}.tier", value=tier)
        attrs["tier"] = tier
    for key in ("host", "local", "tier"):
        if key in entry and key not in attrs:
            raise TopologyError(f"not used by {kind} nodes", file=f, field=f"{where}.{key}",
                                value=entry[key])
    G.add_node(node_id, **attrs)


def _one_of(entry: dict, keys: tuple[str, str], where: str, f: str) -> str:
    given = [k for k in keys if k in entry]
    if len(given) != 1:
        raise TopologyError(f"give exactly one of {keys[0]}, {keys[1]}", file=f, field=where,
                            value={k: entry[k] for k in given} if given else ...)
    return given[0]


def _add_link(G: DiGraph, entry: object, i: int, first_seen: dict, f: str) -> None:
    where = f"links[{i}]"
    v.mapping(entry, where, f)
    v.known_keys(entry, _LINK_KEYS, where, f)
    ends = []
    for key in ("a", "b"):
        node = v.required(entry, key, where, f)
        if isinstance(node, (list, dict)) or node not in G:
            raise TopologyError("unknown node", file=f, field=f"{where}.{key}", value=node)
        ends.append(node)
    a, b = ends
    if a == b:
        raise TopologyError("a link cannot join a node to itself", file=f, field=f"{where}.b",
                            value=b)
    if _one_of(entry, ("bw_gbps", "bw_bytes_per_s"), where, f) == "bw_gbps":
        bw = v.positive_float(entry["bw_gbps"], f"{where}.bw_gbps", f) * 1e9 / 8
    else:
        bw = v.positive_float(entry["bw_bytes_per_s"], f"{where}.bw_bytes_per_s", f)
    if _one_of(entry, ("latency_us", "latency_s"), where, f) == "latency_us":
        lat = v.nonneg_float(entry["latency_us"], f"{where}.latency_us", f) * 1e-6
    else:
        lat = v.nonneg_float(entry["latency_s"], f"{where}.latency_s", f)
    kind = entry.get("kind", "link")
    if not isinstance(kind, str) or kind not in LINK_KINDS:
        raise TopologyError(f"must be one of {', '.join(sorted(LINK_KINDS))}",
                            file=f, field=f"{where}.kind", value=kind)
    eff = v.fraction(entry.get("efficiency", 1.0), f"{where}.efficiency", f)
    directed = entry.get("directed", False)
    if not isinstance(directed, bool):
        raise TopologyError("must be true or false", file=f, field=f"{where}.directed",
                            value=directed)
    for u, w in ([(a, b)] if directed else [(a, b), (b, a)]):
        if (u, w) in first_seen:
            raise TopologyError(f"duplicate link {u!r} -> {w!r} (also in links[{first_seen[(u, w)]}])",
                                file=f, field=where)
        first_seen[(u, w)] = i
        G.add_edge(u, w, bw_bytes_per_s=bw, latency_s=lat, kind=kind, efficiency=eff)


def to_dict(G: DiGraph) -> dict:
    """The data form of ``G`` (inverse of :func:`from_dict`).

    Pairs of opposite edges with equal attributes become one full-duplex link;
    any other edge is written with ``directed: true``.
    """
    out: dict = {"name": G.graph["name"], "gpus_per_node": G.graph["gpus_per_node"]}
    if G.graph.get("gpu") is not None:
        out["gpu"] = G.graph["gpu"]
    if G.graph.get("gpu_transit"):
        out["gpu_transit"] = True
    nodes = []
    for node, attrs in G.nodes(data=True):
        entry = {"id": node, "kind": attrs["kind"]}
        entry.update({k: attrs[k] for k in ("host", "local", "tier") if k in attrs})
        nodes.append(entry)
    links, done = [], set()
    for u, w, d in G.edges(data=True):
        if (u, w) in done:
            continue
        entry = {"a": u, "b": w, "bw_bytes_per_s": float(d["bw_bytes_per_s"]),
                 "latency_s": float(d["latency_s"]), "kind": d["kind"],
                 "efficiency": float(d["efficiency"])}
        done.add((u, w))
        if G.has_edge(w, u) and G[w][u] == d:
            done.add((w, u))
        else:
            entry["directed"] = True
        links.append(entry)
    out["nodes"], out["links"] = nodes, links
    return out
