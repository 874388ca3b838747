"""NCCL's channel and thread counts by size, and the rate they bound a GPU's traffic to."""
import pytest

import topologies
from sim.collectives import PROTOCOLS
from sim.collectives.channels import CHANNEL_BW, LL_MAX_BW, launch, launch_on
from sim.collectives.timing import simulate_collective

MIB = 2**20


@pytest.mark.parametrize("algo,proto,nbytes,nranks,expected", [
    # Simple: 64 B per thread, 512 threads -> 32 KiB per channel
    ("ring", "simple", 1 * MIB, 8, (32, 512)),
    ("ring", "simple", 512 * 1024, 8, (16, 512)),
    ("ring", "simple", 100 * 1024, 8, (3, 512)),
    # a ring's LL threshold is 8 B x ranks per thread: 32 KiB per channel on 8 ranks
    ("ring", "ll", 64 * 1024, 8, (2, 512)),
    ("tree", "ll", 64 * 1024, 8, (16, 512)),
    # LL128: 640 threads x 8 B = 5 KiB per channel
    ("ring", "ll128", 40 * 1024, 8, (8, 640)),
    # one channel, then threads halve while a multiple of 128: 512, 256, 128, 64
    ("ring", "ll", 128, 8, (1, 64)),
    ("ring", "simple", 4096, 8, (1, 64)),
    # NVLS always runs on its own channels with the full block
    ("nvls", "simple", 128, 8, (16, 640)),
    ("nvls_tree", "simple", 8 * MIB, 16, (16, 640)),
])
def test_channels_and_threads_follow_nccls_rule(algo, proto, nbytes, nranks, expected):
    lc = launch(algo, proto, nbytes, nranks)
    assert (lc.channels, lc.threads) == expected


def test_graph_attributes_set_the_channel_counts():
    lc = launch_on({"nccl_channels": 8, "gpu": "h100-sxm"}, "ring", "simple", 1 * MIB, 8, 1)
    assert lc.channels == 8 and lc.gpu_bw_bytes_per_s == 8 * CHANNEL_BW["hopper"]["simple"]
    assert launch_on({"nccl_nvls_channels": 24}, "nvls", "simple", MIB, 8, 1).channels == 24


def test_ll_rate_depends_on_the_node_count_and_switch_or_p2p_algorithms_are_unbounded():
    for nodes, rate in zip((1, 2, 4), LL_MAX_BW["hopper"]):
        assert launch_on({"gpu": "h100-sxm"}, "ring", "ll", MIB, 8, nodes).gpu_bw_bytes_per_s == rate
    for algo in ("nvls", "collnet", "direct", "pxn"):
        assert launch_on({"gpu": "h100-sxm"}, algo, "simple", MIB, 8, 2).gpu_bw_bytes_per_s is None
    assert launch_on({}, "ring", "simple", MIB, 8, 1).gpu_bw_bytes_per_s is None   # no preset
    ampere = launch_on({"gpu": "a100-80gb"}, "ring", "simple", MIB, 8, 1)
    assert ampere.gpu_bw_bytes_per_s == 32 * CHANNEL_BW["ampere"]["simple"]


def _ring_simple_one_host(nbytes):
    g = topologies.build_cluster("h100-sxm", 8)
    t, _, _ = simulate_collective(g, "all_reduce", nbytes, list(range(8)), "ring", "simple")
    e = g.edges[0, "h0.nvsw"]
    link = e["bw_bytes_per_s"] * e["efficiency"]
    p = PROTOCOLS["simple"]
    latency = p.base_latency_s + 2 * 7 * (2 * e["latency_s"] + p.intra_step_s)
    return t, latency, link


def test_a_ring_on_few_channels_is_bounded_by_them_not_by_nvlink():
    # 256 KiB on 8 H100: 8 channels x 38.7 GB/s = 310 GB/s < 370 GB/s of NVLink
    nbytes = 256 * 1024
    t, latency, link = _ring_simple_one_host(nbytes)
    per_gpu = 2 * 7 / 8 * nbytes
    assert 8 * CHANNEL_BW["hopper"]["simple"] < link
    assert t == pytest.approx(latency + per_gpu / (8 * CHANNEL_BW["hopper"]["simple"]), rel=1e-6)


def test_a_ring_on_all_channels_is_bounded_by_nvlink():
    nbytes = 64 * MIB
    t, latency, link = _ring_simple_one_host(nbytes)
    assert t == pytest.approx(latency + 2 * 7 / 8 * nbytes / link, rel=1e-6)
