"""build_cluster: defaults per GPU type, fabric overrides, input errors."""
import pytest

import topologies as T


def nic_link(G, host=0, rail=0):
    leaf = next(w for w in G.successors(f"h{host}.nic{rail}") if G.nodes[w]["kind"] == "switch")
    return G[f"h{host}.nic{rail}"][leaf]


@pytest.mark.parametrize("gpu, node, fabric, nvlink, nic_bw, nic_eff, npl", [
    ("a100-40gb", "dgx-a100", "hdr-rail", 300e9, 25e9, 0.96, 20),
    ("a100-80gb", "dgx-a100", "hdr-rail", 300e9, 25e9, 0.96, 20),
    ("h100-sxm", "dgx-h100", "ndr-rail", 450e9, 50e9, 0.94, 32),
    ("h200-sxm", "dgx-h200", "ndr-rail", 450e9, 50e9, 0.94, 32),
    ("b200", "dgx-b200", "ndr-rail", 900e9, 50e9, 0.94, 32),
])
def test_defaults_per_gpu_type(gpu, node, fabric, nvlink, nic_bw, nic_eff, npl):
    G = T.build_cluster(gpu, 64)
    T.check(G)
    assert (G.graph["gpu"], G.graph["node"], G.graph["fabric"]) == (gpu, node, fabric)
    assert G.graph["num_gpus"] == 64 and G.graph["num_hosts"] == 8
    assert G.graph["nodes_per_leaf"] == npl and G.graph["spines"] == npl
    assert G[5]["h0.nvsw"]["bw_bytes_per_s"] == nvlink
    e = nic_link(G, host=7, rail=3)
    assert (e["bw_bytes_per_s"], e["efficiency"]) == (nic_bw, nic_eff)


def test_single_node_has_no_fabric():
    G = T.build_cluster("h100-sxm", 8)
    T.check(G)
    assert G.graph["fabric"] is None and G.graph["num_hosts"] == 1
    assert not any(k == "switch" for _, k in G.nodes(data="kind"))


def test_gpus_per_node_override():
    G = T.build_cluster("a100-80gb", 16, gpus_per_node=4)
    T.check(G)
    assert G.graph["num_hosts"] == 4 and G.graph["gpus_per_node"] == 4
    assert sum(1 for _, k in G.nodes(data="kind") if k == "nic") == 16
    assert set(G.successors("leaf.r3.g0")) == {f"h{h}.nic3" for h in range(4)} | \
        {f"spine{s}" for s in range(20)}
    G = T.build_cluster("b200", 2, gpus_per_node=2)
    assert G.graph["num_hosts"] == 1 and G.graph["fabric"] is None


def test_fabric_preset_and_overrides():
    G = T.build_cluster("a100-80gb", 64, fabric="ndr-rail")
    assert G.graph["fabric"] == "ndr-rail" and G.graph["nodes_per_leaf"] == 32
    assert nic_link(G)["bw_bytes_per_s"] == 25e9          # the HDR NIC is the slower end
    assert G["leaf.r0.g0"]["spine0"]["efficiency"] == 0.94
    G = T.build_cluster("a100-80gb", 64, nic_bw_bytes_per_s=50e9, nodes_per_leaf=4,
                        oversubscription=2, hop_latency_s=0.5e-6)
    T.check(G)
    assert nic_link(G)["bw_bytes_per_s"] == 50e9
    assert nic_link(G)["latency_s"] == pytest.approx(5e-7)
    assert G.graph["nodes_per_leaf"] == 4 and G.graph["spines"] == 2
    up = sum(d["bw_bytes_per_s"] for _, w, d in G.out_edges("leaf.r1.g1", data=True)
             if w.startswith("spine"))
    assert up == pytest.approx(4 * 50e9 / 2)
    G = T.build_cluster("h100-sxm", 32, fabric="hdr-rail", spines=3, link_efficiency=0.5,
                        nic_efficiency=0.9)
    assert G.graph["spines"] == 3 and G["leaf.r0.g0"]["spine2"]["efficiency"] == 0.5
    assert nic_link(G)["efficiency"] == 0.9 and nic_link(G)["bw_bytes_per_s"] == 25e9


@pytest.mark.parametrize("kwargs, message", [
    (dict(gpu="v100", gpus=8), "cluster.gpu = 'v100': unknown GPU preset (known: a100-40gb"),
    (dict(gpu="h100-sxm", gpus=12), "cluster.gpus = 12: must be a multiple of gpus_per_node (8)"),
    (dict(gpu="h100-sxm", gpus=0), "cluster.gpus = 0: must be an integer >= 1"),
    (dict(gpu="h100-sxm", gpus=16, gpus_per_node=0), "cluster.gpus_per_node = 0"),
    (dict(gpu="h100-sxm", gpus=16, fabric="infiniband"),
     "cluster.fabric = 'infiniband': unknown fabric preset (known: hdr-rail, ndr-rail)"),
    (dict(gpu="h100-sxm", gpus=16, fabric="x"), "cluster.fabric = 'x'"),
    (dict(gpu="h100-sxm", gpus=16, nodes_per_leaf=0), "rail_optimized.nodes_per_leaf = 0"),
    (dict(gpu="h100-sxm", gpus=16, oversubscription=-1),
     "rail_optimized.oversubscription = -1: must be a positive finite number"),
    (dict(gpu="h100-sxm", gpus=16, spines=0), "rail_optimized.spines = 0"),
    (dict(gpu="h100-sxm", gpus=16, hop_latency_s=-1), "rail_optimized.hop_latency_s = -1"),
    (dict(gpu="h100-sxm", gpus=16, fabric=5), "cluster.fabric = 5: unknown fabric preset"),
    (dict(gpu="h100-sxm", gpus=16, nic_efficiency=2), "rail_optimized.nic_efficiency = 2"),
])
def test_input_errors(kwargs, message):
    with pytest.raises(T.TopologyError) as err:
        T.build_cluster(**kwargs)
    assert message in str(err.value)
