"""Topologies as data: YAML/dict round trips and every error path."""
import textwrap

import networkx as nx
import pytest
import yaml

import topologies as T


def same_graph(G, H):
    assert dict(G.nodes(data=True)) == dict(H.nodes(data=True))
    assert {(u, w): d for u, w, d in G.edges(data=True)} == \
        {(u, w): d for u, w, d in H.edges(data=True)}
    for key in ("name", "num_gpus", "gpus_per_node", "num_hosts", "gpu_transit"):
        assert G.graph[key] == H.graph[key], key
    assert G.graph.get("gpu") == H.graph.get("gpu")


@pytest.mark.parametrize("build", [
    lambda: T.ring(5, 25e9, 1e-6),
    lambda: T.dgx_node("dgx-h100"),
    lambda: T.fat_tree(4, 12.5e9, 2e-7),
    lambda: T.rail_optimized(3, "dgx-a100", nodes_per_leaf=2, spines=2),
])
def test_yaml_round_trip(tmp_path, build):
    G = build()
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(T.to_dict(G), sort_keys=False))
    same_graph(G, T.from_yaml(path))


def test_directed_links_round_trip():
    G = T.single_switch(2, 10e9, 1e-6)
    G["sw"][1]["bw_bytes_per_s"] = 5e9              # asymmetric link
    d = T.to_dict(G)
    assert sum(1 for link in d["links"] if link.get("directed")) == 2
    same_graph(G, T.from_dict(d))


TWO_HOSTS = textwrap.dedent("""\
    name: two-hosts
    gpus_per_node: 1
    gpu: h100-sxm
    nodes:
      - {id: 0, kind: gpu}
      - {id: 1, kind: gpu, host: 1, local: 0}
      - {id: h0.nic0, kind: nic, host: 0, local: 0}
      - {id: h1.nic0, kind: nic, host: 1, local: 0}
      - {id: sw, kind: switch}
    links:
      - {a: 0, b: h0.nic0, bw_bytes_per_s: 6.3e+10, latency_s: 5.0e-7, kind: pcie}
      - {a: 1, b: h1.nic0, bw_bytes_per_s: 6.3e+10, latency_s: 5.0e-7, kind: pcie}
      - {a: h0.nic0, b: sw, bw_gbps: 400, latency_us: 0.2, kind: ib, efficiency: 0.94}
      - {a: h1.nic0, b: sw, bw_gbps: 400, latency_us: 0.2, kind: ib, efficiency: 0.94}
""")


def test_hand_written_yaml_units_and_defaults(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(TWO_HOSTS)
    G = T.from_yaml(path)
    assert G.graph["name"] == "two-hosts" and G.graph["gpu"] == "h100-sxm"
    assert G.graph["num_hosts"] == 2 and G.graph["gpu_transit"] is False
    e = G["h0.nic0"]["sw"]
    assert e["bw_bytes_per_s"] == pytest.approx(50e9)       # 400 Gb/s
    assert e["latency_s"] == pytest.approx(2e-7)
    assert G["sw"]["h0.nic0"] == e                           # full duplex
    assert G.nodes["sw"]["tier"] == "leaf"
    assert G.nodes[1] == {"kind": "gpu", "host": 1, "local": 0}
    assert nx.shortest_path(G, 0, 1) == [0, "h0.nic0", "sw", "h1.nic0", 1]


def _edit(text, old, new):
    assert old in text
    return text.replace(old, new)


LINK3 = "  - {a: h1.nic0, b: sw, bw_gbps: 400, latency_us: 0.2, kind: ib, efficiency: 0.94}\n"


@pytest.mark.parametrize("text, message", [
    (TWO_HOSTS + "  - {a: sw, b: [\n", "net.yaml: not valid YAML (line "),
    ("- just\n- a list\n", "net.yaml: <top level> = ['just', 'a list']: must be a mapping"),
    (TWO_HOSTS + "colour: red\n", "net.yaml: colour = 'red': unknown key (allowed: gpu, gpu_transit"),
    (_edit(TWO_HOSTS, LINK3, LINK3.replace("b: sw", "b: h9.nic0")),
     "net.yaml: links[3].b = 'h9.nic0': unknown node"),
    (_edit(TWO_HOSTS, LINK3, LINK3.replace("b: sw, ", "")), "net.yaml: links[3].b: missing required field"),
    (_edit(TWO_HOSTS, LINK3, LINK3.replace("bw_gbps: 400", "bw_gbps: -400")),
     "net.yaml: links[3].bw_gbps = -400: must be a positive finite number"),
    (_edit(TWO_HOSTS, LINK3, LINK3.replace("bw_gbps: 400", "bw_gbps: 4, bw_bytes_per_s: 5")),
     "links[3] = {'bw_gbps': 4, 'bw_bytes_per_s': 5}: give exactly one of bw_gbps, bw_bytes_per_s"),
    (_edit(TWO_HOSTS, LINK3, LINK3.replace("latency_us: 0.2, ", "")),
     "links[3]: give exactly one of latency_us, latency_s"),
    (_edit(TWO_HOSTS, LINK3, LINK3.replace("kind: ib", "kind: wifi")), "links[3].kind = 'wifi'"),
    (_edit(TWO_HOSTS, LINK3, LINK3.replace("0.94", "1.2")), "links[3].efficiency = 1.2"),
    (_edit(TWO_HOSTS, LINK3, LINK3.replace("kind: ib", "colour: red")), "links[3].colour = 'red'"),
    (_edit(TWO_HOSTS, LINK3, LINK3.replace("b: sw", "b: h1.nic0")), "links[3].b = 'h1.nic0': a link cannot"),
    (TWO_HOSTS + LINK3.replace("kind: ib", "kind: link"),
     "links[4]: duplicate link 'h1.nic0' -> 'sw' (also in links[3])"),
    (_edit(TWO_HOSTS, "{id: 1, kind: gpu, host: 1", "{id: 2, kind: gpu, host: 2"),
     "net.yaml: nodes = [0, 2]: GPU ids must be exactly 0..n-1"),
    (_edit(TWO_HOSTS, "{id: 1, kind: gpu, host: 1", "{id: 1, kind: gpu, host: 0"),
     "nodes[1].host = 0: must be 1 for GPU 1 with gpus_per_node 1"),
    (_edit(TWO_HOSTS, "{id: sw, kind: switch}", "{id: h0.nic0, kind: switch}"),
     "nodes[4].id = 'h0.nic0': duplicate node id"),
    (_edit(TWO_HOSTS, "{id: sw, kind: switch}", "{id: 7, kind: switch}"),
     "nodes[4].id = 7: switch ids must be non-empty strings"),
    (_edit(TWO_HOSTS, "{id: sw, kind: switch}", "{id: sw, kind: router}"), "nodes[4].kind = 'router'"),
    (_edit(TWO_HOSTS, "{id: sw, kind: switch}", "{id: sw, kind: switch, tier: top}"),
     "nodes[4].tier = 'top'"),
    (_edit(TWO_HOSTS, "{id: sw, kind: switch}", "{id: sw, kind: switch, host: 0}"),
     "nodes[4].host = 0: not used by switch nodes"),
    (_edit(TWO_HOSTS, "{id: h1.nic0, kind: nic, host: 1, local: 0}", "{id: h1.nic0, kind: nic, host: 1}"),
     "nodes[3].local: missing required field"),
    (_edit(TWO_HOSTS, "gpus_per_node: 1", "gpus_per_node: 0"), "gpus_per_node = 0: must be an integer >= 1"),
    (_edit(TWO_HOSTS, "gpus_per_node: 1", "gpus_per_node: 2"), "nodes[1].host = 1: must be 0"),
    (TWO_HOSTS.replace(LINK3, ""), "net.yaml: reachability = (0, 1): GPU 1 cannot be reached"),
    ("name: x\nnodes: []\nlinks: []\n", "nodes = []: GPU ids must be exactly 0..n-1"),
    ("name: x\nnodes: {}\nlinks: []\n", "nodes = {}: must be a list"),
])
def test_yaml_errors_name_file_field_value(tmp_path, text, message):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    with pytest.raises(T.TopologyError) as err:
        T.from_yaml(path)
    assert message in str(err.value).replace(str(tmp_path) + "/", "")
    assert isinstance(err.value, ValueError)


def test_missing_file_and_dict_source():
    with pytest.raises(T.TopologyError, match=r"nope\.yaml: cannot read file"):
        T.from_yaml("/nonexistent/nope.yaml")
    with pytest.raises(T.TopologyError, match=r"^<dict>: nodes: missing required field"):
        T.from_dict({"links": []})
    with pytest.raises(T.TopologyError, match=r"^scenario\.yaml: links: missing"):
        T.from_dict({"nodes": [{"id": 0, "kind": "gpu"}]}, source="scenario.yaml")
