"""Collective times against closed forms, and busbw against published NCCL figures."""
import json

import pytest
import yaml

import topologies
from sim.collectives import ALGORITHMS, PROTOCOLS, TopologyView
from sim.collectives.ring import channel_rings
from sim.collectives.timing import collective_report, time_collective
from tests.helpers import run_cli

S = 2**30
B = 50e9
ALPHA = 0.5e-6
SIMPLE = PROTOCOLS["simple"]
# GPUs of the ring and switch graphs have no host: every step is a network step
STEP = ALPHA + SIMPLE.inter_step_s


@pytest.mark.parametrize("n", [2, 3, 4, 8, 16])
def test_ring_all_reduce_closed_form(n):
    t, _ = time_collective(topologies.ring(n, B, ALPHA), "all_reduce", S, list(range(n)),
                           "ring", "simple")
    expected = 2 * (n - 1) / n * S / B + 2 * (n - 1) * STEP + SIMPLE.base_latency_s
    assert t == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("op", ["all_gather", "reduce_scatter"])
@pytest.mark.parametrize("n", [4, 8])
def test_all_gather_and_reduce_scatter_take_half_the_bandwidth_term(op, n):
    t, _ = time_collective(topologies.ring(n, B, ALPHA), op, S, list(range(n)), "ring", "simple")
    expected = (n - 1) / n * S / B + (n - 1) * STEP + SIMPLE.base_latency_s
    assert t == pytest.approx(expected, rel=1e-6)


def test_broadcast_is_a_pipelined_chain():
    n = 6
    t, _ = time_collective(topologies.ring(n, B, ALPHA), "broadcast", S, list(range(n)),
                           "ring", "simple")
    assert t == pytest.approx(S / B + (n - 1) * STEP + SIMPLE.base_latency_s, rel=1e-6)


@pytest.mark.parametrize("proto", ["ll", "ll128", "simple"])
def test_protocols_scale_the_bandwidth_term_and_add_their_latencies(proto):
    n, p = 8, PROTOCOLS[proto]
    t, _ = time_collective(topologies.ring(n, B, ALPHA), "all_reduce", S, list(range(n)),
                           "ring", proto)
    expected = (2 * (n - 1) / n * S / B / p.bw_efficiency
                + 2 * (n - 1) * (ALPHA + p.inter_step_s) + p.base_latency_s)
    assert t == pytest.approx(expected, rel=1e-6)


def test_direct_all_to_all_on_a_switch():
    n = 8
    g = topologies.single_switch(n, B, ALPHA)
    t, algo = time_collective(g, "all_to_all", S, list(range(n)), None, "simple")
    assert algo == "direct"
    # each GPU pushes (n-1)/n of its buffer through its one uplink; one round of
    # 7 peers, each two hops away
    expected = (n - 1) / n * S / B + (2 * ALPHA + SIMPLE.inter_step_s) + SIMPLE.base_latency_s
    assert t == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("n", [9, 17, 33])
def test_all_to_all_pays_a_latency_step_per_round_of_peers(n):
    from sim.collectives.direct import PEERS_IN_FLIGHT
    g = topologies.single_switch(n, B, ALPHA)
    t, _ = time_collective(g, "all_to_all", 8.0 * n, list(range(n)), "direct", "ll")
    ll = PROTOCOLS["ll"]
    rounds = -(-(n - 1) // PEERS_IN_FLIGHT)
    expected = rounds * (2 * ALPHA + ll.inter_step_s) + ll.base_latency_s
    assert t == pytest.approx(expected, rel=1e-3)


def test_tree_latency_grows_with_log_n_and_ring_with_n():
    n = 16
    g = topologies.single_switch(n, B, ALPHA)
    tiny = 8.0
    t_tree, _ = time_collective(g, "all_reduce", tiny, list(range(n)), "tree", "simple")
    t_ring, _ = time_collective(g, "all_reduce", tiny, list(range(n)), "ring", "simple")
    step = 2 * ALPHA + SIMPLE.inter_step_s
    # 16 single-GPU hosts: the double binary tree is 4 levels deep, up and down
    assert t_tree == pytest.approx(2 * 4 * step + SIMPLE.base_latency_s, rel=1e-3)
    assert t_ring == pytest.approx(2 * (n - 1) * step + SIMPLE.base_latency_s, rel=1e-3)


def test_hierarchical_matches_its_three_phase_closed_form():
    g = topologies.build_cluster("a100-80gb", 16)
    t, _ = time_collective(g, "all_reduce", S, list(range(16)), "hierarchical", "simple")
    assert t > 0
    # reduce-scatter and all-gather inside a node each move 7/8 S over NVLink;
    # the inter-node all-reduce moves S/8 per rail: 2 * 1/2 * S/8 over each NIC
    nv = topologies.node_spec("dgx-a100")
    nvlink = nv.nvlink_bw_bytes_per_s * nv.nvlink_efficiency
    nic = nv.nic_bw_bytes_per_s * nv.nic_efficiency
    bw_term = 2 * (7 / 8) * S / nvlink + (S / 8) / nic
    assert t == pytest.approx(bw_term, rel=0.02)  # latency terms are microseconds


def test_channel_rings_are_rail_aligned_permutations():
    g = topologies.build_cluster("a100-80gb", 32)
    topo = TopologyView(g)
    rings = channel_rings(list(range(32)), topo)
    assert len(rings) == 8
    nic_out = []
    for ring in rings:
        assert sorted(ring) == list(range(32))
        hops = [(a, ring[(i + 1) % 32]) for i, a in enumerate(ring)]
        inter = [(a, b) for a, b in hops if topo.host_of(a) != topo.host_of(b)]
        assert len(inter) == 4
        assert all(topo.local_of(a) == topo.local_of(b) for a, b in inter)
        nic_out += [(topo.host_of(a), topo.local_of(a)) for a, _ in inter]
    assert len(set(nic_out)) == len(nic_out)  # every NIC sends for exactly one channel


def test_cli_collective_matches_closed_form_within_one_percent():
    out = run_cli("collective", "--op", "all_reduce", "--bytes", "1073741824", "--gpus", "8",
                  "--topology", "ring", "--link-bw", "50", "--latency-us", "0.5",
                  "--algorithm", "ring", "--json")
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    expected = 2 * 7 / 8 * S / 50e9 + 2 * 7 * 0.5e-6
    assert rep["time_s"] == pytest.approx(expected, rel=0.01)
    assert rep["busbw_gb_s"] == pytest.approx(rep["algbw_gb_s"] * 2 * 7 / 8)
    assert set(rep) >= {"time_s", "algbw_gb_s", "busbw_gb_s"}


def _published():
    from importlib import resources
    return yaml.safe_load(resources.files("sim").joinpath("data/published.yaml").read_text())


@pytest.mark.parametrize("gpu,gpus,key", [
    ("a100-80gb", 8, "a100_8gpu_intranode_allreduce"),
    ("a100-80gb", 16, "dgx_a100_internode_allreduce_8xhdr"),
    ("h100-sxm", 8, "h100_8gpu_intranode_allreduce_ring"),
])
def test_busbw_against_nccl_tests(gpu, gpus, key):
    measured = _published()["nccl_busbw_gb_s"][key]
    rep = collective_report(topologies.build_cluster(gpu, gpus), "all_reduce", S, gpus, "ring",
                            "simple")
    assert rep["busbw_gb_s"] == pytest.approx(measured, rel=0.05)


def test_every_registered_algorithm_runs_what_it_claims():
    g = topologies.build_cluster("h100-sxm", 16)
    topo = TopologyView(g)
    ran = set()
    for algo in ALGORITHMS.values():
        for op in algo.ops:
            if algo.supports(op, list(range(16)), topo):
                t, used = time_collective(g, op, 2**20, list(range(16)), algo.name)
                assert t > 0 and used == algo.name
                ran.add(algo.name)
    # an H100 pair of nodes on NDR has NVLS, SHARP and PXN; NVLS alone needs one
    # node, and ASTRA-sim's multi-dimensional algorithm an ASTRA-sim network
    assert ran == set(ALGORITHMS) - {"nvls", "astra"}


def test_merged_instances_wait_for_the_slowest_instances_hops():
    # concurrent instances of one collective run in lock step: each step of the
    # merged phase pays the latency of the slowest instance's hops, as the
    # instances would if simulated apart (pairs across the spine are slower)
    from sim.collectives.layout import lay_out, merge_instances
    from sim.collectives.pipeline import DEFAULT
    from sim.network.routing import Router
    g = topologies.build_cluster("a100-80gb", 256)
    router, topo = Router(g), TopologyView(g)

    def delay_s(instances):
        phases = merge_instances("all_reduce", 2 ** 20, instances, "ring", topo)
        return lay_out(router, topo, phases, PROTOCOLS["ll128"], DEFAULT)[0][3]

    near, far = [0, 128], [64, 192]
    assert delay_s([far]) > delay_s([near])
    assert delay_s([near, far]) == delay_s([far, near]) == delay_s([far])


INSTANCE_SETS = {
    "one host each": [[8 * h + j for j in (0, 2, 1, 3)] for h in range(6)],
    "one member per host": [[8 * h + j for h in (3, 0, 5, 1)] for j in range(8)],
    "two per host": [[0, 1, 8, 9], [2, 3, 10, 11]],            # channel rings
    "mixed": [[0, 1, 2, 3], [8, 16, 24, 32]],                 # one host / one per host
    "uneven": [[0, 1, 8], [2, 3, 10]],
    "single": [[40, 41, 42]],
    "lengths differ": [[0, 1], [8, 9, 10]],
}


@pytest.mark.parametrize("name", sorted(INSTANCE_SETS))
@pytest.mark.parametrize("op", ["all_reduce", "all_gather", "reduce_scatter", "broadcast",
                                "reduce", "barrier"])
def test_ring_instances_merged_with_arrays_equal_the_instance_by_instance_merge(
        name, op, monkeypatch):
    from sim.collectives import layout
    from sim.collectives.ring import merged_member_order_rings
    topo = TopologyView(topologies.build_cluster("a100-80gb", 64))
    instances = INSTANCE_SETS[name]
    fast = layout.merge_instances(op, 3.0 * 2 ** 20, instances, "ring", topo)
    monkeypatch.setattr(layout, "MERGE_ARRAYS", False)
    ref = layout.merge_instances(op, 3.0 * 2 ** 20, instances, "ring", TopologyView(topo.graph))
    assert fast == ref
    arrays = merged_member_order_rings(op, 3.0 * 2 ** 20, instances, topo)
    assert (arrays is None) == (name in ("two per host", "uneven", "lengths differ"))
