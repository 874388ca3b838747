"""Routing: the structured fabric path finder agrees with breadth-first search."""
import itertools

import numpy as np
import pytest

import topologies
from sim.network.routing import Router


def _hops_bfs(router, s, d):
    return len(router._bfs_nodes(s, d, 0)) - 1


@pytest.mark.parametrize("graph", [
    topologies.build_cluster("a100-80gb", 8 * 24, nodes_per_leaf=4),
    topologies.fat_tree(4, 25e9, 1e-6),
    topologies.single_switch(6, 25e9, 1e-6),
], ids=["rail-multigroup", "fat-tree-k4", "switch"])
def test_structured_paths_are_shortest_and_valid(graph):
    router = Router(graph)
    assert router.structured
    gpus = sorted(n for n, d in graph.nodes(data=True) if d["kind"] == "gpu")
    rng = np.random.default_rng(0)
    pairs = [tuple(rng.choice(gpus, 2, replace=False)) for _ in range(150)]
    for s, d in pairs:
        nodes = router._structured_nodes(int(s), int(d), 0)
        assert nodes[0] == s and nodes[-1] == d
        assert all(graph.has_edge(u, v) for u, v in zip(nodes, nodes[1:]))
        assert not any(graph.nodes[n]["kind"] == "gpu" for n in nodes[1:-1])
        assert len(nodes) - 1 == _hops_bfs(router, int(s), int(d))


def test_ecmp_spreads_flows_over_spines():
    g = topologies.build_cluster("h100-sxm", 8 * 64)
    router = Router(g)
    spines = set()
    for host in range(32, 64):
        links, _ = router.path(0, host * 8, 0)
        for l in links:
            u, v = router.edge(int(l))
            if isinstance(v, str) and v.startswith("spine"):
                spines.add(v)
    assert len(spines) > 4


def test_ring_topology_uses_direct_links():
    g = topologies.ring(5, 1e9, 1e-6)
    router = Router(g)
    for a, b in itertools.pairwise(range(5)):
        links, lat = router.path(a, b)
        assert len(links) == 1 and lat == pytest.approx(1e-6)


def test_spray_splits_evenly_over_spines_and_conserves_flow():
    g = topologies.build_cluster("h100-sxm", 8 * 64)
    router = Router(g)                      # spray is the default
    links, share, _ = router.spread(0, 40 * 8)
    edges = [router.edge(int(l)) for l in links]
    up = [s for (u, v), s in zip(edges, share) if isinstance(v, str) and v.startswith("spine")]
    down = [s for (u, v), s in zip(edges, share) if isinstance(u, str) and u.startswith("spine")]
    assert len(up) > 1 and len(set(np.round(up, 12))) == 1
    assert sum(up) == pytest.approx(1.0) and sum(down) == pytest.approx(1.0)
    # the GPU's own uplink carries the whole flow
    assert dict(zip(edges, share))[(0, "h0.nic0")] == pytest.approx(1.0)


def test_ecmp_mode_pins_one_path():
    g = topologies.build_cluster("h100-sxm", 8 * 64)
    router = Router(g, routing="ecmp")
    links, share, _ = router.spread(0, 40 * 8)
    assert np.all(share == 1.0)
    assert router.structured and len(links) == len(router._structured_nodes(0, 320, 0)) - 1


@pytest.mark.parametrize("graph", [
    topologies.build_cluster("a100-80gb", 8 * 24, nodes_per_leaf=4),
    topologies.build_cluster("gb200", 144),
    topologies.fat_tree(4, 25e9, 1e-6),
], ids=["rail-multigroup", "gb200", "fat-tree-k4"])
def test_cached_gpu_chains_equal_fresh_ones(graph):
    """A GPU's ways to the fabric switches are kept once found: after routing,
    every cached list equals a fresh walk."""
    router = Router(graph)
    gpus = sorted(n for n, d in graph.nodes(data=True) if d["kind"] == "gpu")
    rng = np.random.default_rng(1)
    pairs = [tuple(int(g) for g in rng.choice(gpus, 2, replace=False)) for _ in range(60)]
    for s, d in pairs:
        router.spread(s, d)
    cached = router._core.get("chains", {})
    assert cached
    for (gpu, outward), chains in cached.items():
        assert chains == router._chains_of(gpu, outward)
