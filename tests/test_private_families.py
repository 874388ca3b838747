"""Private families: collectives timed once in closed form change nothing.

A family is private when its traffic stays on links nothing else uses and no
two of its collectives can run at once; then timing them in isolation
(``private_fast_path``) must give exactly the spans of putting them on the
network (the reference). Tensor-parallel groups under sequence parallelism
issue collectives on two streams (the re-gather overlapped with a GEMM), so
they qualify only through the serialisation proof.
"""
import numpy as np
import pytest

import topologies
from sim.collectives import TopologyView
from sim.compute import compute_model
from sim.engine.private_families import (ordered_ops, private_families, private_ops,
                                         serialised)
from sim.simulate import simulate_trace
from workloads.trace import Op
from tests.helpers import small_job, span_rows, trace as make_trace

from test_folding import TINY

TINY12 = dict(TINY, layers=12)

# (id, model, gpus, gpus per host, parallelism, global batch)
JOBS = [
    ("tp8-pp2-sp", TINY, 16, 8, {"tp": 8, "pp": 2, "sequence_parallel": True}, 8),
    ("tp8-pp4-vpp3-sp", TINY12, 32, 8, {"tp": 8, "pp": 4, "vpp": 3, "schedule": "interleaved",
                                         "sequence_parallel": True}, 8),
    ("tp4-dp2-sp-zero1", TINY, 8, 4, {"tp": 4, "zero": 1, "sequence_parallel": True}, 8),
    ("tp8-pp2-1f1b", TINY, 16, 8, {"tp": 8, "pp": 2}, 8),
    ("tp2-pp2-dp2-sp", TINY, 8, 2, {"tp": 2, "pp": 2, "sequence_parallel": True}, 8),
]


def _setup(model, gpus, per_host, par, batch):
    return small_job(model, gpus, par, batch, gpus_per_node=per_host)


_spans = span_rows


@pytest.mark.parametrize("name,model,gpus,per_host,par,batch", JOBS, ids=[j[0] for j in JOBS])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_private_fast_path_gives_the_same_spans(name, model, gpus, per_host, par, batch, fold):
    trace, graph, compute = _setup(model, gpus, per_host, par, batch)
    assert "tp" in private_families(trace, TopologyView(graph))
    fast = simulate_trace(trace, graph, compute, fold=fold)
    ref = simulate_trace(trace, graph, compute, fold=fold, private_fast_path=False)
    assert fast.network.flows < ref.network.flows        # tp collectives left the network
    a, b = _spans(fast), _spans(ref)
    assert [x[:3] for x in a] == [x[:3] for x in b]
    np.testing.assert_allclose([x[3:] for x in a], [x[3:] for x in b], rtol=1e-12, atol=0)
    assert fast.makespan_s == pytest.approx(ref.makespan_s, rel=1e-12)


def test_sequence_parallel_tp_uses_two_streams_and_stays_private():
    trace, graph, _ = _setup(TINY, 16, 8, JOBS[0][4], 8)
    streams = {op.stream for op in trace.programs[0].ops if op.group == "tp"}
    assert len(streams) == 2
    assert all(serialised(p.ops, "tp") for p in trace.programs)
    assert private_families(trace, TopologyView(graph)) == {"tp"}


def _op(oid, stream, deps=(), group=None):
    kind = "all_gather" if group else "compute"
    return Op(id=oid, kind=kind, stream=stream, deps=tuple(deps), group=group,
              bytes=1e6 if group else 0.0, flops=0.0 if group else 1e9)


def test_serialised_follows_stream_order_and_dependencies():
    # a1 on stream x; a2 on stream y waits for c, which follows a1 on x: a chain
    chain = [_op("a1", "x", group="g"), _op("c", "x"), _op("a2", "y", ["c"], "g")]
    assert serialised(chain, "g")
    # a2 waits only for c0, which precedes a1: both may run at once
    loose = [_op("c0", "x"), _op("a1", "x", ["c0"], "g"), _op("a2", "y", ["c0"], "g")]
    assert not serialised(loose, "g")
    # the same op list is a chain for a family it does not contain
    assert serialised(loose, "h")
    # a dependency on a later op proves nothing
    later = [_op("a1", "x", group="g"), _op("a2", "y", ["c"], "g"), _op("c", "x", ["a1"])]
    assert not serialised(later, "g")


def test_overlapping_streams_keep_a_family_on_the_network():
    """Two all-gathers of one group on two streams with no order between them
    share the group's links: the family is not private, and the executor lets
    them contend (each takes longer than alone)."""
    ops = [{"id": "a", "kind": "all_gather", "group": "g", "bytes": 2**28, "stream": "s1"},
           {"id": "b", "kind": "all_gather", "group": "g", "bytes": 2**28, "stream": "s2"}]
    tr = make_trace(8, [{"ranks": list(range(8)), "ops": ops}], {"g": [list(range(8))]})
    graph = topologies.build_cluster("a100-80gb", 8, gpus_per_node=8)
    assert private_families(tr, TopologyView(graph)) == set()
    chained = [dict(ops[0]), dict(ops[1], deps=["a"])]
    tr2 = make_trace(8, [{"ranks": list(range(8)), "ops": chained}], {"g": [list(range(8))]})
    assert private_families(tr2, TopologyView(graph)) == {"g"}
    spec = topologies.gpu_spec("a100-80gb")
    compute = compute_model("a100-80gb", spec.peak_dense_flops, spec.hbm_bw_bytes_per_s)
    both = simulate_trace(tr, graph, compute)
    one_after_other = simulate_trace(tr2, graph, compute)
    ref = simulate_trace(tr2, graph, compute, private_fast_path=False)
    assert one_after_other.makespan_s == pytest.approx(ref.makespan_s, rel=1e-12)
    # contending at once: each all-gather takes about twice its time alone
    alone = one_after_other.makespan_s / 2
    a_span = next(s for s in both.spans if s.op == "a")
    assert a_span.end - a_span.start > 1.5 * alone


def _two_families(chained: bool):
    """Group g = GPUs 0-3 (one host), group h = pairs (0, 4), (1, 5), ... on the
    same host: h's all-reduce loads g's GPU links. g (and h) stay private only
    when h's collective waits for g's and g's next one waits for h's."""
    ops = [{"id": "c", "kind": "compute", "duration_s": 1e-3},
           {"id": "g1", "kind": "all_gather", "group": "g", "bytes": 2**26, "deps": ["c"]},
           {"id": "h1", "kind": "all_reduce", "group": "h", "bytes": 2**26, "stream": "dp",
            "deps": ["g1"] if chained else ["c"]},
           {"id": "g2", "kind": "reduce_scatter", "group": "g", "bytes": 2**26,
            "deps": ["g1", "h1"] if chained else ["g1"]}]
    groups = {"g": [[0, 1, 2, 3], [4, 5, 6, 7]], "h": [[i, i + 4] for i in range(4)]}
    return make_trace(8, [{"ranks": list(range(8)), "ops": ops}], groups)


@pytest.mark.parametrize("chained", [True, False])
def test_other_intra_host_traffic_chained_with_the_family(chained):
    tr = _two_families(chained)
    graph = topologies.build_cluster("a100-80gb", 8, gpus_per_node=8)
    assert private_families(tr, TopologyView(graph)) == ({"g", "h"} if chained else set())
    spec = topologies.gpu_spec("a100-80gb")
    compute = compute_model("a100-80gb", spec.peak_dense_flops, spec.hbm_bw_bytes_per_s)
    fast = simulate_trace(tr, graph, compute)
    ref = simulate_trace(tr, graph, compute, private_fast_path=False)
    assert fast.makespan_s == pytest.approx(ref.makespan_s, rel=1e-12)
    assert (fast.network.flows < ref.network.flows) == chained


def test_ordered_ops_keeps_only_collectives_ordered_with_every_other_one():
    # g1; h1 on its own stream after g1; g2 after g1 only (may overlap h1);
    # g3 after both g2 and h1
    ops = [_op("g1", "x", group="g"), _op("h1", "y", ["g1"], "h"), _op("g2", "x", ["g1"], "g"),
           _op("c", "x", ["g2"]), _op("g3", "x", ["c", "h1"], "g")]
    chain = [op.group is not None for op in ops]
    assert ordered_ops(ops, chain) == [True, False, False, False, True]
    # a totally ordered chain: every chain op, no other op
    assert ordered_ops(ops[:2], [True, True]) == [True, True]
    assert ordered_ops(ops, [False] * 5) == [False] * 5


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_collectives_of_a_family_that_is_not_private_timed_one_by_one(fold):
    """Interleaved TP4 x DP2 on one 8-GPU host per stage: the data-parallel
    reduce-scatters (overlapped with the backward pass, on GPU pairs of one
    host) may overlap some TP collectives, so TP is not a private family; the
    TP collectives ordered with all of them are still timed in closed form,
    with the same spans as the network."""
    par = {"tp": 4, "pp": 2, "vpp": 3, "schedule": "interleaved", "sequence_parallel": True,
           "zero": 1}
    trace, graph, compute = _setup(TINY12, 16, 8, par, 8)
    topo = TopologyView(graph)
    assert "tp" not in private_families(trace, topo)
    mine = private_ops(trace, topo)
    for prog, ok in zip(trace.programs, mine):
        tp = {i for i, op in enumerate(prog.ops) if op.group == "tp"}
        assert 0 < len(ok & tp) < len(tp)
    fast = simulate_trace(trace, graph, compute, fold=fold)
    ref = simulate_trace(trace, graph, compute, fold=fold, private_fast_path=False)
    assert fast.network.flows < ref.network.flows
    a, b = _spans(fast), _spans(ref)
    assert [x[:3] for x in a] == [x[:3] for x in b]
    np.testing.assert_allclose([x[3:] for x in a], [x[3:] for x in b], rtol=1e-12, atol=0)


def _cross_host(kind: str):
    """g = four GPUs of one host; h = one GPU of each g on two hosts and two
    rails ([0, 4, 8, 12], ...), its collective chained between g's two."""
    ops = [{"id": "g1", "kind": "all_gather", "group": "g", "bytes": 2**24},
           {"id": "h1", "kind": kind, "group": "h", "bytes": 2**24, "stream": "dp",
            "deps": ["g1"]},
           {"id": "g2", "kind": "reduce_scatter", "group": "g", "bytes": 2**24,
            "deps": ["g1", "h1"]}]
    groups = {"g": [list(range(i, i + 4)) for i in range(0, 16, 4)],
              "h": [[i, i + 4, i + 8, i + 12] for i in range(4)]}
    return make_trace(16, [{"ranks": list(range(16)), "ops": ops}], groups)


@pytest.mark.parametrize("kind", ["all_reduce", "all_to_all"])
def test_only_all_to_alls_relay_through_other_gpus(kind):
    """Under PXN an all-to-all across hosts and rails relays messages over
    NVLink through GPUs outside its group, so no other family stays private;
    a ring or tree collective sends straight and the chained family does."""
    tr = _cross_host(kind)
    graph = topologies.build_cluster("a100-80gb", 16, gpus_per_node=8)
    topo = TopologyView(graph)
    assert topo.pxn
    assert private_families(tr, topo) == ({"g"} if kind == "all_reduce" else set())
    spec = topologies.gpu_spec("a100-80gb")
    compute = compute_model("a100-80gb", spec.peak_dense_flops, spec.hbm_bw_bytes_per_s)
    fast = simulate_trace(tr, graph, compute)
    ref = simulate_trace(tr, graph, compute, private_fast_path=False)
    assert fast.makespan_s == pytest.approx(ref.makespan_s, rel=1e-12)
    assert (fast.network.flows < ref.network.flows) == (kind == "all_reduce")


def _reaches(ops):
    """Per op, the ops certainly finished when it starts, by explicit closure."""
    pos = {op.id: i for i, op in enumerate(ops)}
    before: list[set] = []
    last: dict = {}
    for i, op in enumerate(ops):
        preds = [pos[d] for d in op.deps] + ([last[op.stream]] if op.stream in last else [])
        got = set()
        for j in preds:
            got |= before[j] | {j}
        before.append(got)
        last[op.stream] = i
    return before


@pytest.mark.parametrize("seed", range(6))
def test_ordered_ops_equals_pairwise_reachability(seed):
    rng = np.random.default_rng(seed)
    ops = []
    for i in range(80):
        # dependencies mostly on recent ops, as in training programs
        lo = max(0, i - 6)
        deps = sorted({f"o{j}" for j in rng.integers(lo, i, size=rng.integers(0, 3))}) if i else []
        ops.append(_op(f"o{i}", f"s{rng.integers(0, 2)}", deps,
                       "g" if rng.random() < 0.3 else None))
    chain = [op.group == "g" for op in ops]
    before = _reaches(ops)
    idx = [i for i, c in enumerate(chain) if c]
    want = [c and all(j == i or j in before[i] or i in before[j] for j in idx)
            for i, c in enumerate(chain)]
    assert ordered_ops(ops, chain) == want
    assert 0 < sum(want) < len(idx)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("pxn", [True, False])
def test_host_traffic_on_arrays_equals_the_reference(seed, pxn):
    """Member lists of mixed lengths under a random placement: the array path
    finds exactly the intra-host pairs and PXN relays the per-list loop finds."""
    from workloads.trace import Trace
    from sim.engine.private_families import _host_traffic, _host_traffic_reference
    rng = np.random.default_rng(seed)
    graph = topologies.build_cluster("a100-80gb", 64, gpus_per_node=8)
    topo = TopologyView(graph)
    topo.pxn = pxn
    placement = None if seed % 4 == 0 else [int(g) for g in rng.permutation(64)]
    tr = Trace(world_size=64, programs=[], placement=placement)
    for _ in range(12):
        lists = []
        for _ in range(int(rng.integers(1, 6))):
            size = int(rng.choice([1, 2, 3, 4, 8]))
            if rng.random() < 0.5:      # one rank per host, one rail (no pair, no relay)
                start = int(rng.integers(0, 8))
                lists.append([start + 8 * int(h) for h in rng.choice(8, size, replace=False)])
            else:
                lists.append([int(r) for r in rng.choice(64, size, replace=False)])
        for relays in (True, False):
            want = _host_traffic_reference(lists, tr, topo, relays)
            assert _host_traffic(lists, tr, topo, relays) == want
    assert _host_traffic([], tr, topo) == (False, False)
    rank = (list(range(64)) if placement is None
            else [int(r) for r in np.argsort(placement)])   # GPU -> rank
    # GPUs 0 and 8: two hosts, one rail; 0 and 1: one host; 0 and 9: two hosts and rails
    assert _host_traffic([[rank[0], rank[8]]], tr, topo) == (False, False)
    assert _host_traffic([[rank[0], rank[8]], [rank[0], rank[1]]], tr, topo) == (True, False)
    assert _host_traffic([[rank[0], rank[9]]], tr, topo) == (pxn, pxn)
    assert _host_traffic([[rank[0], rank[9]]], tr, topo, relays=False) == (False, False)


@pytest.mark.parametrize("seed", range(6))
def test_one_host_per_list_on_arrays_equals_the_reference(seed):
    from workloads.trace import Trace
    from sim.engine.private_families import _one_host_each, _one_host_each_reference
    rng = np.random.default_rng(seed)
    graph = topologies.build_cluster("a100-80gb", 64, gpus_per_node=8)
    topo = TopologyView(graph)
    placement = None if seed % 3 == 0 else [int(g) for g in rng.permutation(64)]
    tr = Trace(world_size=64, programs=[], placement=placement)
    rank = (list(range(64)) if placement is None
            else [int(r) for r in np.argsort(placement)])   # GPU -> rank
    seen = set()
    for _ in range(20):
        lists = []
        for _ in range(int(rng.integers(1, 5))):
            size = int(rng.choice([1, 2, 4, 8]))
            if rng.random() < 0.7:      # GPUs of one host
                host = int(rng.integers(0, 8))
                lists.append([rank[8 * host + int(j)] for j in rng.choice(8, size, replace=False)])
            else:
                lists.append([int(r) for r in rng.choice(64, size, replace=False)])
        want = _one_host_each_reference(lists, tr, topo)
        assert _one_host_each(lists, tr, topo) == want
        seen.add(want)
    assert seen == {True, False}
    assert _one_host_each([[rank[0], rank[1]], []], tr, topo) is False
    assert _one_host_each([], tr, topo) is True
