"""check(): passes on every builder, fails with a clear message on broken graphs."""
import networkx as nx
import pytest

import topologies as T

BUILDERS = {
    "ring": lambda: T.ring(6, 1e9, 1e-6),
    "switch": lambda: T.single_switch(5, 1e9, 1e-6),
    "dgx": lambda: T.dgx_node("dgx-b200"),
    "fat_tree": lambda: T.fat_tree(4, 1e9, 1e-6),
    "rail": lambda: T.rail_optimized(5, "dgx-a100", nodes_per_leaf=2),
    "cluster": lambda: T.build_cluster("h200-sxm", 64),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_check_passes_on_every_builder(name):
    G = BUILDERS[name]()
    assert T.check(G) is None
    for key in ("num_gpus", "gpus_per_node", "num_hosts", "name"):
        assert key in G.graph


def _break(mutate):
    G = T.dgx_node("dgx-a100")
    mutate(G)
    return G


def _set_edge(u, w, key, value):
    def mutate(G):
        G[u][w][key] = value
    return mutate


@pytest.mark.parametrize("mutate, message", [
    (lambda G: G.graph.pop("num_hosts"), "dgx-a100: graph.num_hosts: missing graph attribute"),
    (lambda G: G.graph.update(num_gpus=9), "graph.num_hosts = 1: num_hosts * gpus_per_node"),
    (_set_edge(0, "h0.nvsw", "bw_bytes_per_s", -5.0),
     "edge 0->'h0.nvsw'.bw_bytes_per_s = -5.0: must be a positive finite number"),
    (_set_edge(0, "h0.nvsw", "bw_bytes_per_s", float("inf")), "bw_bytes_per_s = inf"),
    (_set_edge(3, "h0.nic3", "latency_s", -1e-6), "edge 3->'h0.nic3'.latency_s = -1e-06"),
    (_set_edge(3, "h0.nic3", "kind", "ethernet"), ".kind = 'ethernet': link kind must be one of"),
    (_set_edge(3, "h0.nic3", "efficiency", 1.5), ".efficiency = 1.5: must be a number in (0, 1]"),
    (lambda G: G[3]["h0.nic3"].pop("efficiency"), ".efficiency = None"),
    (lambda G: G.add_node("x", kind="router"), "node 'x'.kind = 'router': node kind must be"),
    (lambda G: G.add_node("sp", kind="switch"), "node 'sp'.tier = None: switch tier"),
    (lambda G: G.add_node("h0.nic9", kind="nic", host=0), "node 'h0.nic9'.local = None"),
    (lambda G: G.add_node(8, kind="nic", host=0, local=0), "node 8 = 8: nic node ids must be strings"),
    (lambda G: G.nodes[5].update(local=4), "node 5 = 5: GPU id must equal host * gpus_per_node + local"),
    (lambda G: (nx.relabel_nodes(G, {7: 15}, copy=False), G.nodes[15].update(host=1)),
     "GPU ids = [0, 1, 2, 3, 4, 5, 6, 15]: GPU nodes must be exactly 0..7"),
    (lambda G: G.add_edge("h0.nic0", "h0.nic0", bw_bytes_per_s=1.0, latency_s=0.0, kind="link",
                          efficiency=1.0), "edge 'h0.nic0'->'h0.nic0': self-loop"),
    (lambda G: G.remove_edge(0, "h0.nvsw"), "reachability = (0, 1): GPU 1 cannot be reached from "
                                              "GPU 0 without passing through another GPU"),
    (lambda G: G.remove_edge("h0.nvsw", 6), "reachability = (0, 6)"),
])
def test_check_fails_with_clear_message(mutate, message):
    G = _break(mutate)
    with pytest.raises(T.TopologyError) as err:
        T.check(G)
    assert message in str(err.value)


def test_check_rejects_non_digraph_and_names_source():
    with pytest.raises(T.TopologyError, match="must be a topologies DiGraph or a networkx.DiGraph, got Graph"):
        T.check(nx.Graph())
    G = T.single_switch(3, 1e9, 0.0)
    G["sw"][2]["bw_bytes_per_s"] = 0.0
    with pytest.raises(T.TopologyError, match=r"^net\.yaml: edge 'sw'->2\.bw_bytes_per_s = 0\.0"):
        T.check(G, source="net.yaml")


def test_gpus_are_not_transit_nodes():
    # a line 0 - 1 - 2 of direct links: 2 is reachable from 0 only through GPU 1
    G = T.ring(3, 1e9, 0.0)
    G.remove_edges_from([(0, 2), (2, 0)])
    T.check(G)                                   # ring graphs allow GPU transit
    G.graph["gpu_transit"] = False
    with pytest.raises(T.TopologyError, match=r"reachability = \(0, 2\)"):
        T.check(G)


def test_transit_graph_must_be_strongly_connected():
    G = T.ring(4, 1e9, 0.0)
    G.remove_edges_from([(0, 3), (2, 3)])        # 3 can send but not receive
    with pytest.raises(T.TopologyError, match=r"reachability = \(0, 3\): GPU 3 cannot be reached"):
        T.check(G)


def test_one_way_fabric_link_is_found():
    G = T.rail_optimized(4, "dgx-a100", nodes_per_leaf=2, spines=1)
    T.check(G)
    G.remove_edge("spine0", "leaf.r0.g1")        # nothing reaches rail 0 of group 1
    with pytest.raises(T.TopologyError) as err:
        T.check(G)
    a, b = err.value.value
    assert G.nodes[b]["host"] in (2, 3) and G.nodes[b]["local"] == 0
    assert G.nodes[a]["host"] in (0, 1) or G.nodes[a]["local"] != 0
