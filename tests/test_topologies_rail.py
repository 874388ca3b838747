"""Rail-optimized fabric: rail wiring, spine capacity, paths, scale."""
import math
import time

import networkx as nx
import pytest

import topologies as T


def gpu_free_paths(G, a, b):
    view = nx.subgraph_view(G, filter_node=lambda n: G.nodes[n]["kind"] != "gpu" or n in (a, b))
    return list(nx.all_shortest_paths(view, a, b))


def uplink_bytes_per_s(G, leaf):
    return sum(d["bw_bytes_per_s"] for _, w, d in G.out_edges(leaf, data=True)
               if G.nodes[w].get("tier") == "spine")


def downlink_bytes_per_s(G, leaf):
    return sum(d["bw_bytes_per_s"] for _, w, d in G.out_edges(leaf, data=True)
               if G.nodes[w]["kind"] == "nic")


def test_counts_closed_form():
    nodes, npl = 64, 32
    G = T.rail_optimized(nodes, "dgx-a100", nodes_per_leaf=npl)
    T.check(G)
    groups, rails, spines = 2, 8, 32
    leaves = groups * rails
    assert G.number_of_nodes() == nodes * (8 + 1 + 8) + leaves + spines
    assert G.number_of_edges() == 2 * (nodes * 8 * 3 + leaves * spines)
    assert G.graph["num_gpus"] == 512 and G.graph["num_hosts"] == 64
    assert G.graph["spines"] == spines


def test_nic_j_of_every_node_in_a_group_shares_one_leaf():
    npl = 4
    G = T.rail_optimized(10, "dgx-h100", nodes_per_leaf=npl)   # groups of 4, 4, 2
    for h in range(10):
        for j in range(8):
            nic = f"h{h}.nic{j}"
            switches = [w for w in G.successors(nic) if G.nodes[w]["kind"] == "switch"]
            assert switches == [f"leaf.r{j}.g{h // npl}"]
    for g, members in enumerate([range(0, 4), range(4, 8), range(8, 10)]):
        for j in range(8):
            leaf = f"leaf.r{j}.g{g}"
            nics = sorted(w for w in G.successors(leaf) if G.nodes[w]["kind"] == "nic")
            assert nics == sorted(f"h{h}.nic{j}" for h in members)


@pytest.mark.parametrize("spines", [None, 4])
def test_full_bisection_and_oversubscription_halves_uplinks(spines):
    kw = dict(node="dgx-a100", nodes_per_leaf=8, spines=spines)
    G1 = T.rail_optimized(16, oversubscription=1.0, **kw)
    G2 = T.rail_optimized(16, oversubscription=2.0, **kw)
    for leaf in ("leaf.r0.g0", "leaf.r7.g1"):
        down = downlink_bytes_per_s(G1, leaf)
        assert down == 8 * 25e9
        assert uplink_bytes_per_s(G1, leaf) == pytest.approx(down)
        assert uplink_bytes_per_s(G2, leaf) == pytest.approx(down / 2)
    if spines is None:
        assert (G1.graph["spines"], G2.graph["spines"]) == (8, 4)
        assert G2["leaf.r0.g0"]["spine0"]["bw_bytes_per_s"] == 25e9
    else:
        assert G2["leaf.r0.g0"]["spine0"]["bw_bytes_per_s"] == pytest.approx(8 * 25e9 / 2 / 4)


def test_paths_leaf_spine_leaf_between_groups():
    G = T.rail_optimized(8, "dgx-h100", nodes_per_leaf=4, spines=3)
    T.check(G)
    # same group, same rail: one leaf hop
    assert gpu_free_paths(G, 0, 8) == [[0, "h0.nic0", "leaf.r0.g0", "h1.nic0", 8]]
    # different groups: leaf -> spine -> leaf, one path per spine
    paths = gpu_free_paths(G, 0, 4 * 8)
    assert len(paths) == 3
    for p in paths:
        assert p[:3] == [0, "h0.nic0", "leaf.r0.g0"] and p[-3:] == ["leaf.r0.g1", "h4.nic0", 32]
        assert G.nodes[p[3]]["tier"] == "spine"
    # different rails, different hosts of one group: through a spine too
    p = gpu_free_paths(G, 0, 9)[0]
    assert [G.nodes[n].get("tier") for n in p[2:5]] == ["leaf", "spine", "leaf"]
    # same host: NVSwitch only
    assert gpu_free_paths(G, 0, 5) == [[0, "h0.nvsw", 5]]


def test_link_attributes_from_presets():
    G = T.rail_optimized(2, "dgx-a100")
    e = G["h1.nic3"]["leaf.r3.g0"]
    assert (e["bw_bytes_per_s"], e["efficiency"], e["kind"]) == (25e9, 0.96, "ib")
    assert e["latency_s"] == pytest.approx(2e-7)
    H = T.rail_optimized(2, "dgx-h100")
    e = H["h0.nic0"]["leaf.r0.g0"]
    assert (e["bw_bytes_per_s"], e["efficiency"]) == (50e9, 0.94)
    assert H["leaf.r0.g0"]["spine0"]["efficiency"] == 0.94
    assert H.graph["nodes_per_leaf"] == 32 and H.graph["spines"] == 32
    # an A100 node on an NDR fabric: the NIC (HDR) is the slower end
    M = T.rail_optimized(2, "dgx-a100", fabric="ndr-rail")
    assert M["h0.nic0"]["leaf.r0.g0"]["bw_bytes_per_s"] == 25e9


def test_single_node_has_no_spines_unless_asked():
    G = T.rail_optimized(1, "dgx-h100")
    T.check(G)
    assert not any(t == "spine" for _, t in G.nodes(data="tier"))
    G = T.rail_optimized(1, "dgx-h100", spines=2)
    assert sum(1 for _, t in G.nodes(data="tier") if t == "spine") == 2


def test_16384_gpu_build():
    t0 = time.perf_counter()
    G = T.rail_optimized(2048, "dgx-h100")
    t1 = time.perf_counter()
    T.check(G)
    t2 = time.perf_counter()
    print(f"\n16,384-GPU rail-optimized: build {t1 - t0:.2f} s, check {t2 - t1:.2f} s, "
          f"{G.number_of_nodes()} nodes, {G.number_of_edges()} edges")
    groups, rails, spines = 64, 8, 32
    assert G.graph["num_gpus"] == 16384
    assert G.number_of_nodes() == 2048 * 17 + groups * rails + spines
    assert G.number_of_edges() == 2 * (2048 * 8 * 3 + groups * rails * spines)
    assert math.isclose(uplink_bytes_per_s(G, "leaf.r5.g63"), downlink_bytes_per_s(G, "leaf.r5.g63"))


def test_a_built_fabric_goes_to_the_oldest_collector_generation():
    """The build's long-lived dicts skip the young generations (no scan of
    millions of fresh containers at the next collection); the collector's
    on/off state is as before."""
    import gc
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            G = T.rail_optimized(4, "dgx-h100", nodes_per_leaf=2)
            assert gc.isenabled() == enabled
            young = {id(o) for o in gc.get_objects(generation=0)}
            young |= {id(o) for o in gc.get_objects(generation=1)}
            assert not any(id(d) in young for d in (G._succ, G._pred, *G._succ.values()))
            assert all(gc.is_tracked(d) for d in G._succ.values())
    finally:
        (gc.enable if was else gc.disable)()


def test_a_build_keeps_what_the_caller_froze_frozen():
    """Objects a caller froze stay frozen across a build (the built fabric
    joins them), and thaw when the caller unfreezes."""
    import gc
    held = [{"a": 1} for _ in range(100)]
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        G = T.rail_optimized(4, "dgx-h100", nodes_per_leaf=2)
        assert gc.get_freeze_count() >= before + len(G._succ)
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0 and held
