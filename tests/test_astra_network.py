"""ASTRA-sim network YAML -> topology graph: shape, units and conventions."""
import pytest

import topologies
from topologies.astra import astra_network, coords, dim_groups, load_astra_network
from topologies.errors import TopologyError


def test_dimension_groups_follow_astra_sim_coordinates():
    assert dim_groups([4, 3], 0) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert dim_groups([4, 3], 1) == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]
    assert coords(7, [4, 3]) == (3, 1)


def test_ring_switch_and_fully_connected_links():
    g = astra_network(["Ring", "Switch", "FullyConnected"], [4, 2, 3], [1e9, 2e9, 3e9],
                      [1e-6, 2e-6, 3e-6])
    topologies.check(g)
    kinds = {}
    for u, v, d in g.edges(data=True):
        kinds.setdefault(d["bw_bytes_per_s"], set()).add((u, v))
    # 6 rings of 4 links, 12 switches x 2 members, 8 triangles of 3 links; 2 directions each
    assert len(kinds[1e9]) == 2 * 6 * 4
    assert len(kinds[2e9]) == 2 * 12 * 2
    assert len(kinds[3e9]) == 2 * 8 * 3
    assert g.graph["num_gpus"] == 24 and g.graph["gpus_per_node"] == 4
    assert g.has_edge(0, 1) and g.has_edge(3, 0) and not g.has_edge(0, 2)
    assert g.has_edge(0, 8) and g.has_edge(8, 16) and g.has_edge(0, 16)


def test_yaml_units_are_gib_per_s_and_ns(tmp_path):
    p = tmp_path / "n.yml"
    p.write_text("topology: [Switch]\nnpus_count: [4]\nbandwidth: [25.0]\nlatency: [700]\n")
    g = load_astra_network(p, endpoint_delay_s=1e-7)
    up = g.edges[0, "d0.sw0"]
    down = g.edges["d0.sw0", 0]
    assert up["bw_bytes_per_s"] == 25 * 2**30
    assert up["latency_s"] == pytest.approx(700e-9)
    assert down["latency_s"] == pytest.approx(800e-9)   # the receiving NPU's endpoint delay


def test_bad_yaml_names_the_file_and_field(tmp_path):
    p = tmp_path / "n.yml"
    p.write_text("topology: [Switch]\nnpus_count: [0]\nbandwidth: [25.0]\nlatency: [700]\n")
    with pytest.raises(TopologyError, match=r"n\.yml: npus_count\[0\] = 0"):
        load_astra_network(p)


BOMB = "".join(f"{k}: &{k} [" + ",".join([f"*{p}" if p else '"x"'] * 10) + "]\n"
               for p, k in zip([None, "a", "b", "c", "d", "e", "f", "g"], "abcdefgh"))


@pytest.mark.parametrize("text,needle", [
    ("topology: [Switch]\nnpus_count: [8]\nnpus_count: [4]\nbandwidth: [50]\nlatency: [500]\n",
     "duplicate key 'npus_count' (line 3"),
    ("x: " + "[" * 100 + "]" * 100 + "\n", "nested more than 64 levels"),
    (BOMB + "topology: [Switch]\nnpus_count: [8]\nbandwidth: [50]\nlatency: [500]\n",
     "aliases expand to more than"),
])
def test_network_yaml_is_read_strictly(tmp_path, text, needle):
    f = tmp_path / "net.yml"
    f.write_text(text)
    with pytest.raises(TopologyError) as e:
        load_astra_network(f)
    assert needle in str(e.value) and "net.yml" in str(e.value)
    assert "\n" not in str(e.value)


def test_topology_file_with_a_repeated_key_is_refused(tmp_path):
    f = tmp_path / "topo.yaml"
    f.write_text("name: a\nname: b\nnodes: []\nlinks: []\n")
    with pytest.raises(TopologyError, match="duplicate key 'name'"):
        topologies.from_yaml(f)


def test_json_network_files_as_astra_sim_ships_them(tmp_path):
    # ASTRA-sim's examples also give the network as JSON, often indented with tabs
    # (which YAML refuses); a YAML flow mapping still reads as YAML
    texts = {"tabs.json": '{\n\t"topology": ["Switch"],\n\t"npus_count": [8],\n'
                          '\t"bandwidth": [400.0],\n\t"latency": [936.25]\n}\n',
             "flow.yml": "{topology: [Switch], npus_count: [8], bandwidth: [400.0], "
                         "latency: [936.25]}\n"}
    for name, text in texts.items():
        p = tmp_path / name
        p.write_text(text)
        g = load_astra_network(p)
        assert g.graph["astra_dims"] == [8] and g.graph["astra_topology"] == ["Switch"]
        assert g.edges[0, "d0.sw0"]["bw_bytes_per_s"] == 400 * 2**30
        assert g.edges[0, "d0.sw0"]["latency_s"] == pytest.approx(936.25e-9)
    dup = tmp_path / "dup.json"
    dup.write_text('{"topology": ["Ring"], "topology": ["Switch"], "npus_count": [8],'
                   ' "bandwidth": [50], "latency": [500]}')
    with pytest.raises(TopologyError, match=r"dup.json: not valid YAML: duplicate key "
                       r"'topology' \(line 1"):
        load_astra_network(dup)


def test_deeply_nested_json_network_is_a_clear_error(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"topology": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(TopologyError, match=r"deep.json: not valid YAML: nested more than"):
        load_astra_network(deep)
