"""The topology graph class against networkx.DiGraph, and the reachability check without networkx."""
import random

import networkx as nx
import pytest

import topologies as T
from topologies.check import _condensation, _first_unreachable
from topologies.digraph import DiGraph


def _random_pair(seed, n=14, p=0.2):
    rng = random.Random(seed)
    ours, ref = DiGraph(name=f"g{seed}"), nx.DiGraph(name=f"g{seed}")
    for g in (ours, ref):
        g.add_nodes_from([(i, {"kind": "gpu" if i < 4 else "switch"}) for i in range(n)])
    for u in range(n):
        for v in range(n):
            if u != v and rng.random() < p:
                for g in (ours, ref):
                    g.add_edge(u, v, bw_bytes_per_s=float(u + v + 1), latency_s=1e-6)
    return ours, ref


@pytest.mark.parametrize("seed", range(5))
def test_queries_match_networkx(seed):
    g, ref = _random_pair(seed)
    assert list(g.nodes) == list(ref.nodes) and len(g) == len(ref)
    assert list(g.nodes(data=True)) == list(ref.nodes(data=True))
    assert list(g.nodes(data="kind")) == list(ref.nodes(data="kind"))
    assert list(g.edges) == list(ref.edges) and len(g.edges) == len(ref.edges)
    assert list(g.edges(data=True)) == list(ref.edges(data=True))
    assert list(g.edges(data="bw_bytes_per_s")) == list(ref.edges(data="bw_bytes_per_s"))
    assert dict(g.edges.items()) == dict(ref.edges.items())
    for n in range(len(g)):
        assert list(g.successors(n)) == list(ref.successors(n))
        assert list(g.predecessors(n)) == list(ref.predecessors(n))
        assert list(g.in_edges(n, data=True)) == list(ref.in_edges(n, data=True))
        assert list(g.out_edges(n)) == list(ref.out_edges(n))
        assert g.in_degree(n) == ref.in_degree(n) and g.out_degree[n] == ref.out_degree[n]
        assert dict(g[n]) == dict(ref[n])
    assert list(g.in_edges([0, 1])) == list(ref.in_edges([0, 1]))
    assert dict(g.out_degree()) == dict(ref.out_degree())
    assert g.number_of_edges() == ref.number_of_edges()
    assert g.has_edge(0, 99) is False and 99 not in g and [0] not in g
    assert g.graph == ref.graph


@pytest.mark.parametrize("seed", range(5))
def test_networkx_algorithms_run_on_it_unchanged(seed):
    g, ref = _random_pair(seed, p=0.3)
    for target in range(1, 6):
        if nx.has_path(ref, 0, target):
            assert nx.shortest_path(g, 0, target) == nx.shortest_path(ref, 0, target)
    assert sorted(map(sorted, nx.strongly_connected_components(g))) == sorted(
        map(sorted, nx.strongly_connected_components(ref)))
    back = g.to_networkx()
    assert isinstance(back, nx.DiGraph) and nx.utils.graphs_equal(back, ref)


def test_mutation_copy_and_removal_match_networkx():
    g, ref = _random_pair(7)
    for h in (g, ref):
        h.add_edge(0, 1, kind="nvlink")
        h.add_edge(0, 1, efficiency=0.5)            # updates the same attribute dict
        h.remove_edges_from([(2, 3), (3, 2), (50, 51)])
        h.remove_node(5)
    assert list(g.edges(data=True)) == list(ref.edges(data=True))
    c = g.copy()
    c.edges[0, 1]["kind"] = "pcie"
    c.add_node(100)
    assert g.edges[0, 1]["kind"] == "nvlink" and 100 not in g
    with pytest.raises(KeyError):
        g.remove_edge(0, 5)
    with pytest.raises(KeyError):
        g.successors("nowhere")


def test_builders_return_it_and_the_router_takes_both_kinds():
    from sim.network.routing import Router
    g = T.build_cluster("a100-80gb", 16)
    assert isinstance(g, DiGraph)
    a, b = Router(g), Router(g.to_networkx())
    for src, dst in ((0, 1), (0, 9), (15, 3)):
        la, lat_a = a.path(src, dst)
        lb, lat_b = b.path(src, dst)
        assert [a.edge(i) for i in la] == [b.edge(i) for i in lb] and lat_a == lat_b
    with pytest.raises(TypeError, match="directed"):
        Router(nx.Graph())


def _unreachable_pairs(G, gpus, transit):
    """Every (a, b) with no path a -> b (through non-GPU nodes only, unless ``transit``),
    found by brute force with networkx."""
    H = G.to_networkx()
    gpu_set = set(gpus)
    out = set()
    for a in gpus:
        for b in gpus:
            if a == b or H.has_edge(a, b):
                continue
            view = H if transit else nx.subgraph_view(
                H, filter_node=lambda n, a=a, b=b: n not in gpu_set or n in (a, b))
            if not nx.has_path(view, a, b):
                out.add((a, b))
    return out


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("transit", [False, True])
@pytest.mark.parametrize("p", [0.18, 0.4])
def test_reachability_check_matches_brute_force(seed, transit, p):
    g, _ = _random_pair(seed, n=12, p=p)
    gpus = [0, 1, 2, 3]
    pair = _first_unreachable(g, gpus, transit)
    pairs = _unreachable_pairs(g, gpus, transit)
    assert (pair is None) == (not pairs)
    assert pair is None or pair in pairs


@pytest.mark.parametrize("seed", range(6))
def test_condensation_matches_networkx(seed):
    g, ref = _random_pair(seed, n=20, p=0.12)
    comp, dag = _condensation(list(g.nodes), g.successors)
    ours = {}
    for n, c in comp.items():
        ours.setdefault(c, set()).add(n)
    assert sorted(map(sorted, ours.values())) == sorted(
        map(sorted, nx.strongly_connected_components(ref)))
    C = nx.condensation(ref)
    ref_of = C.graph["mapping"]
    for u, v in ref.edges:
        if comp[u] != comp[v]:
            assert comp[v] in dag[comp[u]] and C.has_edge(ref_of[u], ref_of[v])
    assert sum(len(s) for s in dag) == C.number_of_edges()


def test_pickle_and_deepcopy_keep_the_graph_and_its_views_consistent():
    import copy
    import pickle
    g = T.build_cluster("a100-80gb", 16)
    assert len(g.nodes) and len(g.edges)                 # views cached before copying
    for h in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert list(h.edges(data=True)) == list(g.edges(data=True))
        assert h._adj is h._succ and h.nodes._g is h and h.edges._g is h
        h.add_edge(0, "extra", kind="link")
        assert h.has_edge(0, "extra") and not g.has_edge(0, "extra")
        assert (0, "extra") in h.edges and "extra" in h.nodes
