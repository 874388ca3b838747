"""The engine's fast paths change nothing but speed.

* Transfers alone on their links are timed from their own max-min evolution
  (``alone_fast_path``); the reference path sends every transfer through the
  shared solve. Both must give the same spans on jobs with and without
  contention, folded and unfolded.
(Folded against unfolded runs: ``test_folding.py``.)
"""
import numpy as np
import pytest

import topologies
from sim.compute import compute_model
from sim.simulate import simulate_trace
from workloads.trace import load as load_trace

from test_folding import LAYOUTS, TINY
from tests.helpers import small_job, span_rows

# layouts with pipeline, context-parallel and expert traffic, plus a deep pipeline
JOBS = [LAYOUTS[0], LAYOUTS[1], LAYOUTS[4], LAYOUTS[5], ("pp8-dp2", TINY, 16, {"pp": 8}, 16)]


def _setup(model, gpus, par, batch):
    return small_job(model, gpus, par, batch)


_spans = span_rows


@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS, ids=[j[0] for j in JOBS])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_alone_fast_path_gives_the_same_spans(name, model, gpus, par, batch, fold):
    trace, graph, compute = _setup(model, gpus, par, batch)
    fast = simulate_trace(trace, graph, compute, fold=fold)
    ref = simulate_trace(trace, graph, compute, fold=fold, alone_fast_path=False)
    assert fast.network.alone > 0                  # the fast path was taken
    assert ref.network.alone == 0
    assert fast.network.solves < ref.network.solves
    assert fast.network.flows == ref.network.flows
    assert fast.makespan_s == ref.makespan_s
    a, b = _spans(fast), _spans(ref)
    assert [x[:3] for x in a] == [x[:3] for x in b]
    np.testing.assert_allclose([x[3:] for x in a], [x[3:] for x in b], rtol=0, atol=1e-9)


def test_alone_fast_path_on_a_replayed_trace():
    trace = load_trace("workloads/examples/tp_dp_16gpu.json")
    graph = topologies.build_cluster("a100-80gb", 16, gpus_per_node=8)
    spec = topologies.gpu_spec("a100-80gb")
    compute = compute_model("a100-80gb", spec.peak_dense_flops, spec.hbm_bw_bytes_per_s)
    fast = simulate_trace(trace, graph, compute)
    ref = simulate_trace(trace, graph, compute, alone_fast_path=False)
    assert fast.makespan_s == ref.makespan_s


def test_link_sets_meet_by_marks_as_by_binary_search():
    """The marking test of whether two batches share a link answers as the
    binary search does, for sets of every relative size, and leaves its
    table clear."""
    import simpy
    from sim.network.flows import FlowNetwork, _intersect
    from sim.network.routing import Router
    net = FlowNetwork(simpy.Environment(), Router(topologies.build_cluster("a100-80gb", 16)))
    n = len(net.router.capacity)
    rng = np.random.default_rng(2)
    answers = set()
    for _ in range(300):
        sizes = rng.choice([0, 1, 3, 20, n // 4, n // 2], 2)
        x, y = (np.unique(rng.choice(n, int(k))) for k in sizes)
        want = _intersect(x, y)
        assert net._intersect(x, y) == want == net._intersect(y, x)
        answers.add(want)
        assert net._marks is None or not net._marks.any()
    assert answers == {True, False} and net._marks is not None


def test_batch_shapes_are_equal_exactly_when_counts_are():
    """A batch's memo key names its counts by (length, value) when they are
    all alike, by their bytes otherwise: equal keys for equal counts only."""
    from sim.network.flows import _Batch
    from sim.network.routing import RouteSet
    routes = RouteSet(np.array([0, 1, 2, 3]), np.array([4, 5, 6]), np.zeros(3))
    routes.key = 7
    sizes = np.ones(3)
    counts = [np.ones(3), np.ones(3, dtype=np.int64), np.full(3, 2.0), np.array([1.0, 2.0, 1.0]),
              np.array([1.0, 2.0, 1.0]), np.ones(2)]
    keys = [_Batch(0, None, routes, sizes, c).shape for c in counts]
    for a, ka in zip(counts, keys):
        for b, kb in zip(counts, keys):
            same = a.shape == b.shape and np.array_equal(a.astype(float), b.astype(float))
            assert (ka == kb) == same
