"""Builders against closed forms: node/edge counts, attributes, paths."""
import networkx as nx
import pytest

import topologies as T
from topologies.graph import LINK_KINDS


def gpu_free_paths(G, a, b):
    """All shortest paths from GPU a to GPU b that pass through no other GPU."""
    view = nx.subgraph_view(G, filter_node=lambda n: G.nodes[n]["kind"] != "gpu" or n in (a, b))
    return list(nx.all_shortest_paths(view, a, b))


def assert_full_duplex(G):
    for u, w, d in G.edges(data=True):
        assert G.has_edge(w, u), (u, w)
        assert G[w][u] == d
        assert d["kind"] in LINK_KINDS


def kinds(G):
    out = {}
    for _, k in G.nodes(data="kind"):
        out[k] = out.get(k, 0) + 1
    return out


@pytest.mark.parametrize("n", [2, 3, 8, 17])
def test_ring_counts_and_attributes(n):
    G = T.ring(n, 25e9, 1e-6)
    T.check(G)
    assert_full_duplex(G)
    assert G.number_of_nodes() == n
    assert G.number_of_edges() == (2 if n == 2 else 2 * n)
    assert all(G.has_edge(i, (i + 1) % n) for i in range(n))
    assert all(d == {"bw_bytes_per_s": 25e9, "latency_s": 1e-6, "kind": "link", "efficiency": 1.0}
               for _, _, d in G.edges(data=True))
    assert G.graph == {"name": f"ring{n}", "num_gpus": n, "gpus_per_node": 1,
                       "num_hosts": n, "gpu_transit": True}
    assert all(G.nodes[i] == {"kind": "gpu", "host": i, "local": 0} for i in range(n))


@pytest.mark.parametrize("n", [1, 4, 64])
def test_single_switch_counts(n):
    G = T.single_switch(n, 50e9, 5e-7)
    T.check(G)
    assert_full_duplex(G)
    assert kinds(G) == {"gpu": n, "switch": 1}
    assert G.number_of_edges() == 2 * n
    assert G.nodes["sw"]["tier"] == "leaf"
    if n > 1:
        assert gpu_free_paths(G, 0, n - 1) == [[0, "sw", n - 1]]


@pytest.mark.parametrize("call, message", [
    (lambda: T.ring(1, 1e9, 0.0), "ring.n = 1: must be an integer >= 2"),
    (lambda: T.ring(4, -1.0, 0.0), "ring.link_bw_bytes_per_s = -1.0"),
    (lambda: T.single_switch(4, 1e9, -1e-6), "single_switch.latency_s = -1e-06"),
    (lambda: T.fat_tree(5, 1e9, 0.0), "fat_tree.k = 5: must be even"),
    (lambda: T.fat_tree(4, 1e9, 0.0, gpus_per_host=2), "fat_tree.nvlink_bw_bytes_per_s"),
    (lambda: T.dgx_node("dgx-v100"), "node = 'dgx-v100': unknown node preset (known: dgx-a100"),
    (lambda: T.rail_optimized(0), "rail_optimized.nodes = 0"),
    (lambda: T.rail_optimized(4, spines=0), "rail_optimized.spines = 0: several nodes need"),
    (lambda: T.rail_optimized(4, oversubscription=0), "rail_optimized.oversubscription = 0"),
])
def test_builder_input_errors_name_field_and_value(call, message):
    with pytest.raises(T.TopologyError) as err:
        call()
    assert message in str(err.value)


@pytest.mark.parametrize("preset, nvlink, pcie, eff", [
    ("dgx-a100", 300e9, 31.5e9, 232 / 300),
    ("dgx-h100", 450e9, 63e9, 370 / 450),
    ("dgx-h200", 450e9, 63e9, 370 / 450),
    ("dgx-b200", 900e9, 63e9, 370 / 450),
])
def test_dgx_node(preset, nvlink, pcie, eff):
    G = T.dgx_node(preset)
    T.check(G)
    assert_full_duplex(G)
    assert kinds(G) == {"gpu": 8, "nvswitch": 1, "nic": 8}
    assert G.number_of_edges() == 2 * (8 + 8)
    assert G.graph["num_hosts"] == 1 and G.graph["gpus_per_node"] == 8
    for j in range(8):
        nv = G[j]["h0.nvsw"]
        assert nv["kind"] == "nvlink" and nv["bw_bytes_per_s"] == nvlink
        assert nv["efficiency"] == pytest.approx(eff, abs=1e-4)
        pc = G[j][f"h0.nic{j}"]
        assert pc["kind"] == "pcie" and pc["bw_bytes_per_s"] == pcie
        assert G.nodes[f"h0.nic{j}"] == {"kind": "nic", "host": 0, "local": j}
    assert gpu_free_paths(G, 0, 7) == [[0, "h0.nvsw", 7]]
    assert G[0]["h0.nvsw"]["latency_s"] + G["h0.nvsw"][7]["latency_s"] == pytest.approx(1e-6)


def test_dgx_nodes_compose_into_disjoint_hosts():
    G = nx.compose_all([T.dgx_node("dgx-h100", host=h) for h in range(3)])
    assert sorted(n for n, k in G.nodes(data="kind") if k == "gpu") == list(range(24))
    assert G.nodes[19] == {"kind": "gpu", "host": 2, "local": 3}
    assert G.has_edge(19, "h2.nvsw") and G.has_edge(19, "h2.nic3")


@pytest.mark.parametrize("k", [2, 4, 8])
def test_fat_tree_closed_forms(k):
    G = T.fat_tree(k, 12.5e9, 1e-7)
    T.check(G)
    assert_full_duplex(G)
    half = k // 2
    hosts = k ** 3 // 4
    tiers = {}
    for n, t in G.nodes(data="tier"):
        if t:
            tiers[t] = tiers.get(t, 0) + 1
    assert tiers == {"edge": k * half, "agg": k * half, "core": half * half}
    assert sum(tiers.values()) == 5 * k * k // 4
    assert kinds(G) == {"gpu": hosts, "nic": hosts, "switch": 5 * k * k // 4}
    # 3k^3/4 fabric links plus one GPU-NIC link per host, two directions each
    assert G.number_of_edges() == 2 * (3 * k ** 3 // 4 + hosts)
    # every switch has exactly k ports
    for n, kind in G.nodes(data="kind"):
        if kind == "switch":
            assert G.out_degree(n) == k and G.in_degree(n) == k


def test_fat_tree_4_counts_and_paths():
    G = T.fat_tree(4, 12.5e9, 1e-7)
    assert G.graph["num_gpus"] == 16
    assert sum(1 for _, k in G.nodes(data="kind") if k == "switch") == 20
    # hosts 0 and 1 share edge switch pod0.edge0: one path of 4 hops
    assert gpu_free_paths(G, 0, 1) == [[0, "h0.nic0", "pod0.edge0", "h1.nic0", 1]]
    # hosts in different pods: (k/2)^2 = 4 equal-cost paths of 8 hops through the core
    paths = gpu_free_paths(G, 0, 15)
    assert len(paths) == 4 and all(len(p) == 9 for p in paths)
    assert sorted(p[4] for p in paths) == ["core0", "core1", "core2", "core3"]
    # same pod, different edge: (k/2) paths of 6 hops through an aggregation switch
    paths = gpu_free_paths(G, 0, 2)
    assert len(paths) == 2 and all(len(p) == 7 for p in paths)


def test_fat_tree_multi_gpu_hosts():
    G = T.fat_tree(4, 12.5e9, 1e-7, gpus_per_host=4, nvlink_bw_bytes_per_s=300e9)
    T.check(G)
    assert kinds(G) == {"gpu": 64, "nic": 64, "nvswitch": 16, "switch": 20}
    assert G.graph["gpus_per_node"] == 4 and G.graph["num_hosts"] == 16
    assert G.nodes[13] == {"kind": "gpu", "host": 3, "local": 1}
    assert gpu_free_paths(G, 12, 13) == [[12, "h3.nvsw", 13]]
    assert G["h3.nic1"]["pod0.edge1"]["bw_bytes_per_s"] == 12.5e9
