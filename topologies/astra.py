"""ASTRA-sim's analytical network configuration as a topology graph.

ASTRA-sim describes a multi-dimensional network in YAML, one list entry per
dimension (innermost first)::

    topology: [ Ring, Switch ]      # Ring | Switch | FullyConnected
    npus_count: [ 8, 16 ]           # NPUs along each dimension
    bandwidth: [ 200.0, 25.0 ]      # GB/s per link and direction; GB = 2^30 bytes
    latency: [ 500.0, 1000.0 ]      # ns per link

NPU ``i`` has coordinate ``(i // prod(npus_count[:d])) % npus_count[d]`` along
dimension ``d``; the NPUs that differ only in that coordinate form one group
of the dimension, joined as a bidirectional ring, through one switch, or by a
direct link between every pair. Every link of dimension ``d`` carries
``bandwidth[d]`` per direction and ``latency[d]`` per hop (so a switch
crossing is two hops). Traffic between NPUs that differ in several
coordinates crosses NPUs (``gpu_transit``), as in ASTRA-sim.

Graph conventions (:mod:`topologies.graph`): the first dimension plays the
node (``gpus_per_node = npus_count[0]``); ``G.graph["astra_dims"]`` keeps the
dimension sizes and ``G.graph["astra_topology"]`` their kinds, so collective
algorithms can split a group by dimension. An optional ``endpoint_delay_s``
is added to every link into an NPU: the time an NPU spends on each message
it receives (ASTRA-sim's system key ``endpoint-delay``).
"""
from __future__ import annotations

import math
from pathlib import Path

from topologies import _validate as v
from topologies.digraph import DiGraph
from topologies.errors import TopologyError
from topologies.graph import add_gpu, add_switch, duplex, new_graph

KINDS = ("Ring", "Switch", "FullyConnected")
GIB = 2**30
MAX_NPUS = 1 << 17              # NPUs in all: the graph holds every NPU and link
MAX_LINKS = 1 << 22
KEYS = frozenset({"topology", "npus_count", "bandwidth", "latency"})


def dim_groups(dims: list[int], d: int) -> list[list[int]]:
    """The NPU groups of dimension ``d`` (each in coordinate order)."""
    stride = math.prod(dims[:d])
    total = math.prod(dims)
    groups = []
    for base in range(total):
        if (base // stride) % dims[d] == 0:
            groups.append([base + k * stride for k in range(dims[d])])
    return groups


def coords(npu: int, dims: list[int]) -> tuple[int, ...]:
    out = []
    for n in dims:
        out.append(npu % n)
        npu //= n
    return tuple(out)


def astra_network(topology: list[str], npus_count: list[int],
                  bandwidth_bytes_per_s: list[float], latency_s: list[float],
                  endpoint_delay_s: float = 0.0, name: str = "astra") -> DiGraph:
    """The multi-dimensional network (see the module docstring); SI units."""
    nd = len(topology)
    if not nd or not (len(npus_count) == len(bandwidth_bytes_per_s) == len(latency_s) == nd):
        raise TopologyError("topology, npus_count, bandwidth and latency need one entry per "
                            "dimension", field="dimensions",
                            value=[len(topology), len(npus_count), len(bandwidth_bytes_per_s),
                                   len(latency_s)])
    dims = [v.int_at_least(n, 1, f"npus_count[{d}]") for d, n in enumerate(npus_count)]
    bws = [v.positive_float(b, f"bandwidth[{d}]") for d, b in enumerate(bandwidth_bytes_per_s)]
    lats = [v.nonneg_float(x, f"latency[{d}]") for d, x in enumerate(latency_s)]
    ep = v.nonneg_float(endpoint_delay_s, "endpoint_delay_s")
    for d, kind in enumerate(topology):
        if kind not in KINDS:
            raise TopologyError(f"unknown dimension kind (known: {', '.join(KINDS)})",
                                field=f"topology[{d}]", value=kind)
    total = math.prod(dims)
    if total < 2:
        raise TopologyError("the network needs at least 2 NPUs", field="npus_count", value=dims)
    transit = nd > 1 or (topology[0] == "Ring" and dims[0] > 2)
    G = new_graph(name, total, dims[0], gpu_transit=transit)
    G.graph["astra_dims"] = list(dims)
    G.graph["astra_topology"] = list(topology)
    for i in range(total):
        add_gpu(G, i, host=i // dims[0], local=i % dims[0])
    edges = []

    def link(a, b, bw, lat):
        # each direction ends either at a switch or at an NPU (which pays the
        # endpoint delay on receipt)
        ab, ba = duplex(a, b, bw, lat, "link")
        if isinstance(b, int):
            ab[2]["latency_s"] += ep
        if isinstance(a, int):
            ba[2]["latency_s"] += ep
        edges.extend((ab, ba))

    for d, kind in enumerate(topology):
        if dims[d] == 1:
            continue
        for g, members in enumerate(dim_groups(dims, d)):
            if kind == "Switch":
                sw = f"d{d}.sw{g}"
                add_switch(G, sw, "leaf" if d == 0 else "spine")
                for m in members:
                    link(m, sw, bws[d], lats[d])
            elif kind == "Ring":
                n = len(members)
                for k in range(n if n > 2 else 1):
                    link(members[k], members[(k + 1) % n], bws[d], lats[d])
            else:
                for a_i, a in enumerate(members):
                    for b in members[a_i + 1:]:
                        link(a, b, bws[d], lats[d])
    G.add_edges_from(edges)
    return G


def _list(data: dict, key: str, file: str) -> list:
    value = v.required(data, key, "", file)
    if not isinstance(value, list) or not value:
        raise TopologyError("must be a non-empty list, one entry per dimension", file=file,
                            field=key, value=value)
    return value


def load_astra_network(path: str | Path, endpoint_delay_s: float = 0.0) -> DiGraph:
    """Read an ASTRA-sim analytical network file (YAML, or JSON as in ASTRA-sim's own
    examples); errors name the file and field."""
    label = str(path)
    text = v.read_text(path, label)
    data = v.mapping(v.load_config(text, label), "<top level>", label)
    v.known_keys(data, KEYS, "", label)
    topo = _list(data, "topology", label)
    npus = _list(data, "npus_count", label)
    bw = _list(data, "bandwidth", label)
    lat = _list(data, "latency", label)
    if not len(topo) == len(npus) == len(bw) == len(lat):
        raise TopologyError("topology, npus_count, bandwidth and latency need one entry per "
                            "dimension", file=label, field="npus_count",
                            value=[len(topo), len(npus), len(bw), len(lat)])
    for d, kind in enumerate(topo):
        if not isinstance(kind, str) or kind not in KINDS:
            raise TopologyError(f"unknown dimension kind (known: {', '.join(KINDS)})",
                                file=label, field=f"topology[{d}]", value=kind)
    dims = [v.int_at_least(n, 1, f"npus_count[{d}]", label) for d, n in enumerate(npus)]
    total = math.prod(dims)
    links = sum(total * (n - 1 if kind == "FullyConnected" else 1) for kind, n in zip(topo, dims))
    if total > MAX_NPUS or links > MAX_LINKS:
        raise TopologyError(f"more than {MAX_NPUS} NPUs or {MAX_LINKS} links in all (the graph "
                            "holds every NPU and link)", file=label, field="npus_count",
                            value=dims)
    bws = [v.positive_float(b, f"bandwidth[{d}]", label) * GIB for d, b in enumerate(bw)]
    lats = [v.nonneg_float(x, f"latency[{d}]", label) * 1e-9 for d, x in enumerate(lat)]
    try:
        return astra_network(topo, dims, bws, lats, endpoint_delay_s, name=Path(path).stem)
    except TopologyError as e:
        raise TopologyError(e.message, file=label, field=e.field, value=e.value) from None
