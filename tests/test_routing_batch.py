"""Routing many pairs with arrays gives exactly what the per-pair router gives.

The array router (:mod:`sim.network.fabric`) and the twin-quotient hop table
are speed only: links, shares, their order and latencies must be identical to
``Router(graph, vectorised=False)``, and so must whole simulated steps.
"""
import itertools

import numpy as np
import pytest

import topologies
from sim.network.fabric import HopTable
from sim.network.routing import Router, _hop_distances

from test_fast_paths import JOBS, _setup
from sim.simulate import simulate_trace

GRAPHS = {
    "rail-multigroup": lambda: topologies.build_cluster("a100-80gb", 8 * 24, nodes_per_leaf=4),
    "rail-h100-64-nodes": lambda: topologies.build_cluster("h100-sxm", 8 * 64),
    "rail-oversubscribed": lambda: topologies.build_cluster("h100-sxm", 8 * 12, nodes_per_leaf=4,
                                                            oversubscription=2.0),
    "fat-tree-k4": lambda: topologies.fat_tree(4, 25e9, 1e-6),
    "switch": lambda: topologies.single_switch(6, 25e9, 1e-6),
    "two-level": lambda: topologies.two_level(4, 4, 300e9, 25e9),
}


def _gpus(graph):
    return sorted(n for n, d in graph.nodes(data=True) if d["kind"] == "gpu")


@pytest.mark.parametrize("name", GRAPHS)
def test_batch_routes_equal_per_pair_routes(name):
    graph = GRAPHS[name]()
    gpus = _gpus(graph)
    rng = np.random.default_rng(7)
    # random pairs (some repeated, some src == dst) and every pair of a ring
    pairs = [tuple(int(x) for x in rng.choice(gpus, 2)) for _ in range(1500)]
    pairs += list(zip(gpus, gpus[1:] + gpus[:1]))
    pairs = tuple(pairs)
    fast, slow = Router(graph), Router(graph, vectorised=False)
    assert fast.structured and len(pairs) >= fast.BATCH
    a, b = fast.routes(pairs), slow.routes(pairs)
    for field in ("ptr", "flat", "share", "latency", "unique_links"):
        x, y = getattr(a, field), getattr(b, field)
        assert x.dtype == y.dtype and x.shape == y.shape, field
        assert np.array_equal(x, y), field
    assert len(a) == len(pairs) and a.flat.size > len(pairs)


@pytest.mark.parametrize("name", ["rail-multigroup", "rail-h100-64-nodes", "fat-tree-k4"])
def test_twin_quotient_hop_counts_equal_the_full_table(name):
    graph = GRAPHS[name]()
    router = Router(graph)
    assert router.structured
    core = router._core
    n = len(core["nodes"])
    rows = [a for a, vs in enumerate(core["succ"]) for _ in vs]
    cols = [b for vs in core["succ"] for b in vs]
    full = _hop_distances(core["succ"], rows, cols)
    table = HopTable(core["succ"], _hop_distances)
    assert len(table.q) < n                            # twins were collapsed
    for a, b in itertools.product(range(n), repeat=2):
        assert table[a, b] == full[a, b]
    idx = np.arange(n)
    for b in range(n):
        assert np.array_equal(table[idx, b], full[:, b])
        assert np.array_equal(table.pairwise(idx, np.full(n, b)), full[:, b])


def test_unreachable_switches_stay_unreachable():
    # two one-way switch chains that never meet: 0 -> 1 -> 2, 3 -> 4
    succ = [[1], [2], [], [4], []]
    rows = [a for a, vs in enumerate(succ) for _ in vs]
    cols = [b for vs in succ for b in vs]
    full = _hop_distances(succ, rows, cols)
    table = HopTable(succ, _hop_distances)
    for a, b in itertools.product(range(5), repeat=2):
        assert table[a, b] == full[a, b]
    assert np.isinf(table[0, 3]) and table[0, 2] == 2


@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS[:3], ids=[j[0] for j in JOBS[:3]])
def test_steps_equal_with_and_without_batch_routing(name, model, gpus, par, batch):
    trace, graph, compute = _setup(model, gpus, par, batch)
    router = Router(graph)
    router.BATCH = 1                       # route every batch of pairs with arrays
    fast = simulate_trace(trace, graph, compute, router=router)
    ref = simulate_trace(trace, graph, compute, router=Router(graph, vectorised=False))
    assert fast.makespan_s == ref.makespan_s
    assert fast.network.flows == ref.network.flows
    assert fast.network.solves == ref.network.solves
    key = lambda s: (s.cls, s.stream, s.op, s.start, s.end, s.sync)
    assert sorted(map(key, fast.spans)) == sorted(map(key, ref.spans))


def _equal_routes(a, b):
    for field in ("ptr", "flat", "share", "latency", "unique_links"):
        x, y = getattr(a, field), getattr(b, field)
        assert x.dtype == y.dtype and x.shape == y.shape, field
        assert np.array_equal(x, y), field


def test_batches_of_one_kind_equal_per_pair_routes_and_share_their_shares():
    # pipeline-like sends: every GPU to the GPU of the same rail some hosts on
    # (other leaf groups: the whole spine spread), and one batch that also
    # has pairs behind one NVSwitch
    graph = GRAPHS["rail-multigroup"]()
    fast, slow = Router(graph), Router(graph, vectorised=False)
    n = len(_gpus(graph))
    batches = [tuple((g, (g + k * 32) % n) for g in range(64 * j, 64 * j + 96))
               for j, k in ((0, 1), (1, 2), (0, 3))]
    batches.append(batches[0][:-20] + tuple((g, g + 1) for g in range(0, 40, 2)))
    got = [fast.routes(b) for b in batches]
    for a, b in zip(got, batches):
        _equal_routes(a, slow.routes(b))
    # one array for one shape
    assert np.shares_memory(got[0].share, got[1].share)
    assert np.shares_memory(got[0].share, got[2].share)
    assert not got[0].share.flags.writeable
    assert not np.shares_memory(got[3].share, got[0].share) and got[3].share.flags.writeable


def _mixed_graph():
    """Links with and without efficiency and latency, GPUs with int and
    string names and a negative one."""
    from topologies.digraph import DiGraph
    g = DiGraph()
    for name in (0, 1, -3, "g"):
        g.add_node(name, kind="gpu")
    g.add_node("s", kind="switch")
    for gpu in (0, 1, -3, "g"):
        g.add_edge(gpu, "s", bw_bytes_per_s=10e9, latency_s=1e-6)
        g.add_edge("s", gpu, bw_bytes_per_s=20e9, efficiency=0.5)
    return g


@pytest.mark.parametrize("name", list(GRAPHS) + ["mixed"])
def test_link_tables_and_gpu_numbers_equal_edge_by_edge_reads(name):
    from sim.network.fabric import FabricIndex
    graph = _mixed_graph() if name == "mixed" else GRAPHS[name]()
    router = Router(graph)
    edges = list(graph.edges(data=True))
    cap = [d["bw_bytes_per_s"] * d.get("efficiency", 1.0) for _, _, d in edges]
    lat = [d.get("latency_s", 0.0) for _, _, d in edges]
    assert router.capacity.tolist() == cap and router.link_latency.tolist() == lat
    assert router.link_latency.flags.c_contiguous
    nodes = list(graph.nodes)
    labels = {x: i for i, x in enumerate(nodes)
              if graph.nodes[x].get("kind") == "gpu" and isinstance(x, int) and x >= 0}
    if router.structured:
        nid = FabricIndex(router).gpu_nid
        assert len(nid) == max(labels) + 1
        assert {x: int(i) for x, i in enumerate(nid) if i >= 0} == labels
