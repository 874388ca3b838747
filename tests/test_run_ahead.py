"""Timing fixed-length ops ahead of the clock changes nothing but speed.

The executor times compute and private-family collectives directly from the
known ends of what they wait for (``run_ahead``); the reference path makes
every op an event of its own. Both must give the same spans (to rounding of
the last bits), folded, unfolded and with a straggler, on layouts with
pipeline, interleaved, context-parallel, expert and ZeRO traffic.
"""
import numpy as np
import pytest

import topologies
from sim.compute import compute_model
from sim.scenario.load import parse_scenario
from sim.scenario.workload import generate_workload
from sim.simulate import simulate_trace

from test_folding import LAYOUTS

JOBS = [LAYOUTS[0], LAYOUTS[1], LAYOUTS[3], LAYOUTS[4], LAYOUTS[5], LAYOUTS[7]]


def _setup(model, gpus, par, batch):
    scn = parse_scenario({"model": model, "cluster": {"gpu": "a100-80gb", "gpus": gpus},
                          "parallelism": par,
                          "training": {"global_batch": batch, "micro_batch": 1}}, "test")
    trace = generate_workload(scn)[0]
    graph = topologies.build_cluster("a100-80gb", gpus, gpus_per_node=min(8, gpus))
    spec = topologies.gpu_spec("a100-80gb")
    return trace, graph, compute_model("a100-80gb", spec.peak_dense_flops,
                                       spec.hbm_bw_bytes_per_s)


def _same(fast, ref):
    a = sorted((s.cls, s.stream, s.op, s.start, s.end, s.sync) for s in fast.spans)
    b = sorted((s.cls, s.stream, s.op, s.start, s.end, s.sync) for s in ref.spans)
    assert [x[:3] for x in a] == [x[:3] for x in b]
    np.testing.assert_allclose([x[3:] for x in a], [x[3:] for x in b], rtol=1e-12, atol=1e-15)
    assert fast.makespan_s == pytest.approx(ref.makespan_s, rel=1e-12)
    assert fast.network.flows == ref.network.flows
    assert fast.events < ref.events


@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS, ids=[j[0] for j in JOBS])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_run_ahead_gives_the_same_spans(name, model, gpus, par, batch, fold):
    trace, graph, compute = _setup(model, gpus, par, batch)
    _same(simulate_trace(trace, graph, compute, fold=fold),
          simulate_trace(trace, graph, compute, fold=fold, run_ahead=False))


@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS[:2], ids=[j[0] for j in JOBS[:2]])
def test_run_ahead_gives_the_same_spans_with_a_straggler(name, model, gpus, par, batch):
    trace, graph, compute = _setup(model, gpus, par, batch)
    speeds = [1.0] * trace.world_size
    speeds[3] = 0.8
    fast = simulate_trace(trace, graph, compute, speeds=speeds)
    assert len(fast.classes) > 1
    _same(fast, simulate_trace(trace, graph, compute, speeds=speeds, run_ahead=False))
