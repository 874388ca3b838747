"""Executor semantics: streams, overlap, rendezvous, matching, stuck traces, folding."""
import networkx as nx
import pytest

import topologies
from sim.collectives import PROTOCOLS
from sim.errors import SimulationStuck, UserError
from sim.simulate import simulate_trace
from tests.helpers import UNIT_COMPUTE, trace

B, ALPHA, S = 50e9, 0.5e-6, 2**30
RING4 = topologies.ring(4, B, ALPHA)
# the tuner runs a 1 GiB all-reduce as a Simple-protocol ring: its per-step
# overhead and base latency come on top of the ring's closed form
_SIMPLE = PROTOCOLS["simple"]
AR4 = (2 * 3 / 4 * S / B + 2 * 3 * (ALPHA + _SIMPLE.inter_step_s)
       + _SIMPLE.base_latency_s)


def _overlap_trace(dependent: bool, a_s: float):
    ops = [{"id": "c", "kind": "compute", "duration_s": a_s},
           {"id": "ar", "kind": "all_reduce", "group": "w", "bytes": S,
            "deps": ["c"] if dependent else []}]
    return trace(4, [{"ranks": [0, 1, 2, 3], "ops": ops}], {"w": [[0, 1, 2, 3]]})


@pytest.mark.parametrize("a_s", [0.005, 0.02, 0.08])
@pytest.mark.parametrize("fold", [True, False])
def test_independent_streams_overlap_to_max(a_s, fold):
    r = simulate_trace(_overlap_trace(False, a_s), RING4, UNIT_COMPUTE, fold=fold)
    assert r.makespan_s == pytest.approx(max(a_s, AR4), rel=1e-9)


@pytest.mark.parametrize("fold", [True, False])
def test_dependency_serialises_to_sum(fold):
    r = simulate_trace(_overlap_trace(True, 0.02), RING4, UNIT_COMPUTE, fold=fold)
    assert r.makespan_s == pytest.approx(0.02 + AR4, rel=1e-9)
    rt = r.ranks[0]
    assert rt.compute_s + rt.exposed_comm_s + rt.idle_s == pytest.approx(r.makespan_s)
    assert rt.exposed_comm_s == pytest.approx(AR4, rel=1e-9)


def test_ops_of_one_stream_run_in_order():
    ops = [{"id": "a", "kind": "compute", "flops": 1e10},
           {"id": "b", "kind": "compute", "flops": 2e10}]
    r = simulate_trace(trace(1, [{"ranks": [0], "ops": ops}]), RING4, UNIT_COMPUTE)
    assert r.makespan_s == pytest.approx(0.03)


def test_collective_waits_for_the_slowest_member():
    progs = [{"ranks": [r], "ops": [
        {"id": "c", "kind": "compute", "duration_s": 0.01 * (r + 1)},
        {"id": "ar", "kind": "all_reduce", "group": "w", "bytes": S, "deps": ["c"]}]}
        for r in range(4)]
    r = simulate_trace(trace(4, progs, {"w": [[0, 1, 2, 3]]}), RING4, UNIT_COMPUTE)
    assert r.makespan_s == pytest.approx(0.04 + AR4, rel=1e-9)
    fastest = r.ranks[0]
    assert fastest.wait_s == pytest.approx(0.03, rel=1e-9)


def test_send_recv_time_is_latency_plus_bytes_over_bandwidth():
    ops0 = [{"id": "s", "kind": "send", "peer": 1, "bytes": 1e9, "tag": 7}]
    ops1 = [{"id": "r", "kind": "recv", "peer": 0, "bytes": 1e9, "tag": 7}]
    r = simulate_trace(trace(2, [{"ranks": [0], "ops": ops0}, {"ranks": [1], "ops": ops1}]),
                       topologies.ring(2, B, ALPHA), UNIT_COMPUTE)
    assert r.makespan_s == pytest.approx(ALPHA + 1e9 / B, rel=1e-9)


@pytest.mark.parametrize("fast", [True, False])
def test_sends_waiting_on_one_tag_pair_first_come_first_served(fast):
    """Three sends of one tag wait for their receives (posted later, one after
    another): each pairs with the receive of its rank (different sizes, so a
    wrong pairing is a mismatch error), in both the closed form and the network."""
    sizes = (1e9, 2e9, 3e9)
    ops0 = [{"id": f"s{i}", "kind": "send", "peer": 1, "bytes": b, "tag": 7,
             "stream": f"out{i}"} for i, b in enumerate(sizes)]
    ops1 = [{"id": "c", "kind": "compute", "duration_s": 0.5}]
    ops1 += [{"id": f"r{i}", "kind": "recv", "peer": 0, "bytes": b, "tag": 7,
              "stream": "in", "deps": ["c"]} for i, b in enumerate(sizes)]
    tr = trace(2, [{"ranks": [0], "ops": ops0}, {"ranks": [1], "ops": ops1}])
    r = simulate_trace(tr, topologies.ring(2, B, ALPHA), UNIT_COMPUTE, p2p_fast_path=fast)
    ends = {s.op: s.end for s in r.spans}
    assert ends["s0"] == ends["r0"] == pytest.approx(0.5 + ALPHA + 1e9 / B, rel=1e-9)
    assert ends["r2"] == pytest.approx(ends["r1"] + ALPHA + 3e9 / B, rel=1e-9)


def _dumbbell():
    """GPUs 0,1 on switch a, GPUs 2,3 on switch b, one a-b link of bandwidth B."""
    g = nx.DiGraph(num_gpus=4, gpus_per_node=1, num_hosts=4, name="dumbbell")
    for gpu, sw in ((0, "a"), (1, "a"), (2, "b"), (3, "b")):
        g.add_node(gpu, kind="gpu", host=gpu, local=0)
        g.add_node(sw, kind="switch", tier="leaf")
        for u, v in ((gpu, sw), (sw, gpu)):
            g.add_edge(u, v, bw_bytes_per_s=10 * B, latency_s=0.0, kind="link")
    for u, v in (("a", "b"), ("b", "a")):
        g.add_edge(u, v, bw_bytes_per_s=B, latency_s=0.0, kind="link")
    return g


def test_concurrent_groups_contend_on_a_shared_link():
    def pair(src, dst):
        return [{"ranks": [src], "ops": [{"id": "s", "kind": "send", "peer": dst, "bytes": 1e9}]},
                {"ranks": [dst], "ops": [{"id": "r", "kind": "recv", "peer": src, "bytes": 1e9}]}]
    alone = simulate_trace(trace(4, pair(0, 2) + [
        {"ranks": [1], "ops": []}, {"ranks": [3], "ops": []}]), _dumbbell(), UNIT_COMPUTE)
    both = simulate_trace(trace(4, pair(0, 2) + pair(1, 3)), _dumbbell(), UNIT_COMPUTE)
    assert alone.makespan_s == pytest.approx(1e9 / B, rel=1e-9)
    assert both.makespan_s == pytest.approx(2 * 1e9 / B, rel=1e-9)


def test_mismatched_collective_names_both_ops():
    progs = [{"ranks": [0], "ops": [{"id": "x_ar", "kind": "all_reduce", "group": "w",
                                     "bytes": 1e6}]},
             {"ranks": [1], "ops": [{"id": "y_ag", "kind": "all_gather", "group": "w",
                                     "bytes": 1e6}]}]
    with pytest.raises(UserError, match="mismatched collective.*x_ar.*y_ag"):
        simulate_trace(trace(2, progs, {"w": [[0, 1]]}), RING4, UNIT_COMPUTE)


def test_unmatched_send_is_reported_not_hung():
    progs = [{"ranks": [0], "ops": [{"id": "lonely_send", "kind": "send", "peer": 1,
                                     "bytes": 1e6, "tag": 3}]},
             {"ranks": [1], "ops": [{"id": "c", "kind": "compute", "duration_s": 0.001}]}]
    with pytest.raises(SimulationStuck, match="lonely_send.*matching recv"):
        simulate_trace(trace(2, progs), RING4, UNIT_COMPUTE)


def test_member_that_never_arrives_is_reported():
    progs = [{"ranks": [0, 1, 2], "ops": [{"id": "ar", "kind": "all_reduce", "group": "w",
                                           "bytes": 1e6}]},
             {"ranks": [3], "ops": [{"id": "c", "kind": "compute", "duration_s": 0.001}]}]
    with pytest.raises(SimulationStuck, match="'ar'.*waiting for group 'w'"):
        simulate_trace(trace(4, progs, {"w": [[0, 1, 2, 3]]}), RING4, UNIT_COMPUTE)


def test_folded_and_unfolded_agree_with_a_straggler():
    g = topologies.build_cluster("a100-80gb", 16)
    ops = [{"id": f"c{i}", "kind": "compute", "flops": 1e10, **({"deps": [f"tp{i-1}"]} if i else {})}
           for i in range(3)]
    for i in range(3):
        ops.append({"id": f"tp{i}", "kind": "all_reduce", "group": "tp", "bytes": 2**24,
                    "deps": [f"c{i}"], "stream": "tp"})
    ops.append({"id": "dp", "kind": "all_reduce", "group": "dp", "bytes": 2**28, "deps": ["tp2"]})
    groups = {"tp": [list(range(8)), list(range(8, 16))], "dp": [[i, i + 8] for i in range(8)]}
    t = trace(16, [{"ranks": list(range(16)), "ops": ops}], groups)
    speeds = [1.0] * 16
    speeds[3] = 0.5
    folded = simulate_trace(t, g, UNIT_COMPUTE, fold=True, speeds=speeds)
    flat = simulate_trace(t, g, UNIT_COMPUTE, fold=False, speeds=speeds)
    assert len(folded.classes) < 16 and len(flat.classes) == 16
    assert folded.makespan_s == pytest.approx(flat.makespan_s, rel=1e-9)
    fast = simulate_trace(t, g, UNIT_COMPUTE, fold=True)
    assert len(fast.classes) == 1 and fast.makespan_s < folded.makespan_s
