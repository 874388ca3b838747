"""NCCL's algorithms beyond the ring, against closed forms on idle topologies.

Every expected time below is latency + busiest link's bytes / its capacity,
written out from the algorithm's definition (module docstrings of
sim/collectives/*), not read back from the code under test.
"""
import pytest

import topologies
from sim.collectives import PROTOCOLS, Chunking, TopologyView
from sim.collectives.nvls import NVLS_SETUP_S
from sim.collectives.pipeline import chunk_count, fill_factor
from sim.collectives.timing import simulate_collective
from sim.collectives.tree import double_tree, tree_depth

S = 2**30
INTRA, INTER, LAT = 400e9, 50e9, 0.5e-6       # two_level defaults: 0.5 us per hop
P = PROTOCOLS["simple"]
NV_STEP = 2 * LAT + P.intra_step_s             # GPU - NVSwitch - GPU
NET_STEP = 4 * LAT + P.inter_step_s            # GPU - NIC - switch - NIC - GPU


def _two_level(nodes, k=8):
    return topologies.two_level(nodes, k, INTRA, INTER)


@pytest.mark.parametrize("m", [2, 3, 4, 5, 8, 12, 16, 33, 128])
def test_double_binary_tree_uses_every_rank_at_most_four_times(m):
    # interior (3 edges) in one tree and leaf (1 edge) in the other: each NIC
    # carries 4 half-buffers per direction, the same 2S/k as a ring
    first, second = double_tree(m)
    for t in (first, second):
        assert sum(p is None for p in t) == 1
        assert tree_depth(t) <= max(1, (m - 1).bit_length())
    deg = [0] * m
    for t in (first, second):
        for r, p in enumerate(t):
            if p is not None:
                deg[r] += 1
                deg[p] += 1
    assert max(deg) <= 4


def test_host_aware_tree_bandwidth_and_latency():
    # 4 hosts x 8 GPUs: 8 channels (one per rail), each two trees over the hosts
    # with a 7-hop NVLink chain inside each host. Busiest link: a NIC, 2S/8 per
    # direction, stretched by the pipeline fill of 2 x (7 + 2) stages.
    m, k = 4, 8
    g = _two_level(m, k)
    t, algo, _ = simulate_collective(g, "all_reduce", S, list(range(m * k)), "tree", "simple")
    depth = tree_depth(double_tree(m)[0])
    stages = 2 * (k - 1 + depth)
    chunks = chunk_count(S / k, stages, P, Chunking())
    latency = 2 * ((k - 1) * NV_STEP + depth * NET_STEP) + P.base_latency_s
    expected = latency + 2 * S / k / INTER * fill_factor(stages, chunks)
    assert algo == "tree"
    assert t == pytest.approx(expected, rel=1e-6)


def test_tree_without_chunking_is_store_and_forward():
    # one chunk crosses all 2(k-1+depth) stages one after the other
    m, k = 4, 8
    g = _two_level(m, k)
    gpus = list(range(m * k))
    t1, _, _ = simulate_collective(g, "all_reduce", S, gpus, "tree", "simple", Chunking(1))
    stages = 2 * (k - 1 + 2)
    latency = 2 * ((k - 1) * NV_STEP + 2 * NET_STEP) + P.base_latency_s
    assert t1 == pytest.approx(latency + stages * 2 * S / k / INTER, rel=1e-6)


def test_chunks_in_waves_pay_the_latency_path_once_per_wave():
    # 8 chunks, 2 in flight: 4 waves of the ring's latency path; a ring has no fill
    n = 8
    g = topologies.ring(n, 50e9, LAT)
    t, _, _ = simulate_collective(g, "all_reduce", S, list(range(n)), "ring", "simple",
                                  Chunking(chunks=8, active=2))
    step = LAT + P.inter_step_s
    assert t == pytest.approx(2 * (n - 1) / n * S / 50e9 + 4 * 2 * (n - 1) * step
                              + P.base_latency_s, rel=1e-6)


def test_chunking_can_come_from_the_graph():
    # an imported system description sets the chunk count on the graph
    n = 8
    g = topologies.ring(n, 50e9, LAT)
    g.graph.update(collective_chunks=8, collective_active_chunks=2)
    t, _, _ = simulate_collective(g, "all_reduce", S, list(range(n)), "ring", "simple", None)
    t_explicit, _, _ = simulate_collective(topologies.ring(n, 50e9, LAT), "all_reduce", S,
                                           list(range(n)), "ring", "simple", Chunking(8, 2))
    assert t == t_explicit


def test_nvls_on_one_h100_node_matches_published_busbw():
    # S(1 + 1/8) per GPU link and direction at the NVLS efficiency, 2 NVLink steps
    g = topologies.build_cluster("h100-sxm", 8)
    node = topologies.node_spec("dgx-h100")
    t, algo, proto = simulate_collective(g, "all_reduce", S, list(range(8)), "nvls")
    assert (algo, proto) == ("nvls", "simple")
    step = 2 * node.nvlink_latency_s + P.intra_step_s
    bw = S * (1 + 1 / 8) / (node.nvlink_bw_bytes_per_s * node.nvls_efficiency)
    assert t == pytest.approx(bw + 2 * step + NVLS_SETUP_S + P.base_latency_s, rel=1e-6)
    busbw = S / t * 2 * 7 / 8 / 1e9
    assert busbw == pytest.approx(480, rel=0.01)   # nccl-tests H100 NVLS, published.yaml


def test_nvls_needs_nvswitch_sharp():
    assert TopologyView(topologies.build_cluster("h100-sxm", 8)).nvls
    assert not TopologyView(topologies.build_cluster("a100-80gb", 8)).nvls
    with pytest.raises(Exception, match="cannot run"):
        simulate_collective(topologies.build_cluster("a100-80gb", 8), "all_reduce", S,
                            list(range(8)), "nvls")


def _h100_paths():
    node = topologies.node_spec("dgx-h100")
    fab = topologies.fabric_spec("ndr-rail")
    nv_step = 2 * node.nvlink_latency_s + P.intra_step_s
    # GPU - NIC (PCIe) - rail leaf - NIC - GPU: hosts of one leaf group
    net_path = 2 * node.pcie_latency_s + 2 * fab.hop_latency_s
    nic = min(node.nic_bw_bytes_per_s, fab.link_bw_bytes_per_s) * node.nic_efficiency
    nvls_bw = node.nvlink_bw_bytes_per_s * node.nvls_efficiency
    nvls_vol = node.nvlink_efficiency / node.nvls_efficiency
    return node, nv_step, net_path, nic, nvls_bw, nvls_vol


def test_nvls_tree_across_h100_hosts():
    # NVLS inside each host (S(1+1/8) per link), per rail a double binary tree on
    # S/8 across 4 hosts (2S/8 per NIC and direction): the NIC is the bottleneck
    m, k = 4, 8
    node, nv_step, net_path, nic, nvls_bw, nvls_vol = _h100_paths()
    g = topologies.build_cluster("h100-sxm", m * k)
    t, _, _ = simulate_collective(g, "all_reduce", S, list(range(m * k)), "nvls_tree")
    depth = tree_depth(double_tree(m)[0])
    stages = 2 + 2 * depth
    chunks = chunk_count(S * (1 + 1 / k) * nvls_vol, stages, P, Chunking())
    latency = (2 * nv_step + 2 * depth * (net_path + P.inter_step_s) + NVLS_SETUP_S
               + P.base_latency_s)
    bw = max(2 * S / k / nic, S * (1 + 1 / k) / nvls_bw)
    assert t == pytest.approx(latency + bw * fill_factor(stages, chunks), rel=1e-6)


@pytest.mark.parametrize("m", [2, 4])
def test_collnet_sends_each_shard_once_whatever_the_host_count(m):
    # SHARP: each NIC carries S/8 per direction for any host count; inside the
    # host NVLS moves S(1+1/8) per link, which is the bottleneck here
    k = 8
    node, nv_step, net_path, nic, nvls_bw, nvls_vol = _h100_paths()
    g = topologies.build_cluster("h100-sxm", m * k)
    assert TopologyView(g).sharp
    t, _, _ = simulate_collective(g, "all_reduce", S, list(range(m * k)), "collnet")
    chunks = chunk_count(S * (1 + 1 / k) * nvls_vol, 3, P, Chunking())
    # hosts of one leaf group: one trip up to the leaf and back
    latency = 2 * nv_step + net_path + P.inter_step_s + NVLS_SETUP_S + P.base_latency_s
    bw = max(S / k / nic, S * (1 + 1 / k) / nvls_bw)
    assert t == pytest.approx(latency + bw * fill_factor(3, chunks), rel=1e-6)


def test_collnet_needs_a_sharp_fabric():
    g = topologies.build_cluster("a100-80gb", 16)         # hdr-rail: sharp false
    with pytest.raises(Exception, match="cannot run"):
        simulate_collective(g, "all_reduce", S, list(range(16)), "collnet")


def test_pxn_keeps_inter_host_traffic_on_its_rail():
    from sim.collectives.direct import PxnAllToAll
    g = topologies.build_cluster("a100-80gb", 32)
    topo = TopologyView(g)
    (phase,) = PxnAllToAll().phases("all_to_all", S, list(range(32)), topo)
    inter = [(a, b) for a, b, _ in phase.flows if topo.host_of(a) != topo.host_of(b)]
    assert inter and all(topo.local_of(a) == topo.local_of(b) for a, b in inter)
    # every byte still arrives: per destination, (n-1)/n of a buffer from others
    recv = {}
    for a, b, s in phase.flows:
        if topo.host_of(a) != topo.host_of(b) or topo.local_of(b) != topo.local_of(a):
            recv[b] = recv.get(b, 0.0) + s
    assert all(v >= 31 / 32 * S - 1 for v in recv.values())


def test_pxn_beats_direct_on_an_oversubscribed_spine_and_the_tuner_takes_it():
    # 4 nodes on rail leaves with one spine uplink each (4:1): direct all-to-all
    # pushes 21 of 32 shares per GPU across the spine, PXN none
    g = topologies.build_cluster("a100-80gb", 32, nodes_per_leaf=4, oversubscription=4)
    gpus = list(range(32))
    t_direct, _, _ = simulate_collective(g, "all_to_all", S, gpus, "direct", "simple")
    t_pxn, _, _ = simulate_collective(g, "all_to_all", S, gpus, "pxn", "simple")
    _, algo, _ = simulate_collective(g, "all_to_all", S, gpus)
    assert t_pxn < t_direct / 2 and algo == "pxn"
