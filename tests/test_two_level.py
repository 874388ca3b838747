"""two_level topology: structure, conventions, and collective times against closed forms."""
import pytest

import topologies
from sim.collectives import PROTOCOLS
from sim.collectives.timing import time_collective
from topologies import TopologyError

P = PROTOCOLS["simple"]

INTRA = 400e9
INTER = 50e9
LAT_INTRA = 0.3e-6
LAT_INTER = 0.7e-6
S = 2**30


def _graph(nodes=2, gpn=8):
    return topologies.two_level(nodes, gpn, INTRA, INTER, intra_latency_s=LAT_INTRA,
                                inter_latency_s=LAT_INTER)


def test_counts_and_graph_attributes():
    G = _graph(3, 4)
    topologies.check(G)
    kinds = [d["kind"] for _, d in G.nodes(data=True)]
    assert kinds.count("gpu") == 12
    assert kinds.count("nic") == 12
    assert kinds.count("nvswitch") == 3
    assert kinds.count("switch") == 1
    assert G.nodes["sw"]["tier"] == "spine"
    # per GPU: GPU-NVSwitch, GPU-NIC, NIC-switch, each in both directions
    assert G.number_of_edges() == 12 * 3 * 2
    assert G.graph["num_gpus"] == 12 and G.graph["gpus_per_node"] == 4
    assert G.graph["num_hosts"] == 3 and G.graph["name"] == "two_level3x4"


def test_link_attributes_follow_the_conventions():
    G = _graph(2, 8)
    gpu = 13                      # host 1, local 5
    assert G.nodes[gpu]["host"] == 1 and G.nodes[gpu]["local"] == 5
    for a, b, kind, bw, lat in [(gpu, "h1.nvsw", "nvlink", INTRA, LAT_INTRA),
                                (gpu, "h1.nic5", "pcie", INTER, LAT_INTER),
                                ("h1.nic5", "sw", "ib", INTER, LAT_INTER)]:
        for u, v in ((a, b), (b, a)):
            d = G.edges[u, v]
            assert d["kind"] == kind
            assert d["bw_bytes_per_s"] == bw
            assert d["latency_s"] == lat
            assert d["efficiency"] == 1.0
        assert G.edges[a, b] is not G.edges[b, a]
    assert G.nodes["h1.nic5"] == {"kind": "nic", "host": 1, "local": 5}
    assert G.nodes["h0.nvsw"] == {"kind": "nvswitch", "host": 0}


NV_STEP = 2 * LAT_INTRA + P.intra_step_s        # GPU - NVSwitch - GPU
NET_STEP = 4 * LAT_INTER + P.inter_step_s       # GPU - NIC - switch - NIC - GPU


def test_single_node_ring_all_reduce_matches_closed_form():
    # one ring of 8 over the NVSwitch: 2(n-1)/n S / B + 2(n-1) steps of 2 hops
    t, algo = time_collective(_graph(2, 8), "all_reduce", S, list(range(8)), "ring", "simple")
    assert algo == "ring"
    expected = 2 * 7 / 8 * S / INTRA + 14 * NV_STEP + P.base_latency_s
    assert t == pytest.approx(expected, rel=1e-9)


def test_two_node_ring_all_reduce_matches_closed_form():
    # 8 channel rings (one per NIC), each carrying S/8; every NIC link carries one
    # channel per direction at the inter-node rate, the NVSwitch links are faster
    # (7 flows share 400 GB/s). A ring of 16 has 14 NVLink hops and 2 network
    # hops: each of the 2(n-1) steps is charged their mean latency, so NVLink
    # steps cost NVLink latency, not the network path's.
    n = 16
    t, algo = time_collective(_graph(2, 8), "all_reduce", S, list(range(n)), "ring", "simple")
    assert algo == "ring"
    step = (14 * NV_STEP + 2 * NET_STEP) / 16
    expected = 2 * (n - 1) / n * (S / 8) / INTER + 2 * (n - 1) * step + P.base_latency_s
    assert t == pytest.approx(expected, rel=1e-9)


def test_global_switch_is_non_blocking():
    # 4 nodes, one GPU per node sending to another node at once: no shared links
    G = _graph(4, 2)
    t_one, _ = time_collective(G, "all_reduce", S, [0, 2], "ring", "simple")
    t_many, _ = time_collective(G, "all_reduce", S, [0, 2, 4, 6], "ring", "simple")
    assert t_one == pytest.approx(S / INTER + 2 * NET_STEP + P.base_latency_s, rel=1e-9)
    assert t_many == pytest.approx(2 * 3 / 4 * S / INTER + 6 * NET_STEP + P.base_latency_s,
                                   rel=1e-9)


@pytest.mark.parametrize("kwargs, field", [
    (dict(nodes=0), "two_level.nodes"),
    (dict(gpus_per_node=1.5), "two_level.gpus_per_node"),
    (dict(intra_bw_bytes_per_s=0), "two_level.intra_bw_bytes_per_s"),
    (dict(inter_bw_bytes_per_s=-1.0), "two_level.inter_bw_bytes_per_s"),
    (dict(inter_latency_s=-1e-6), "two_level.inter_latency_s"),
])
def test_bad_input_names_the_field(kwargs, field):
    args = dict(nodes=2, gpus_per_node=8, intra_bw_bytes_per_s=INTRA,
                inter_bw_bytes_per_s=INTER)
    args.update(kwargs)
    with pytest.raises(TopologyError) as e:
        topologies.two_level(**args)
    assert e.value.field == field
