"""Timing fixed-length ops ahead of the clock changes nothing but speed.

The executor times compute and private-family collectives directly from the
known ends of what they wait for (``run_ahead``); the reference path makes
every op an event of its own. Both must give the same spans (to rounding of
the last bits), folded, unfolded and with a straggler, on layouts with
pipeline, interleaved, context-parallel, expert and ZeRO traffic.
"""
import numpy as np
import pytest

from sim.simulate import simulate_trace

from test_folding import LAYOUTS
from tests.helpers import small_job, span_rows

JOBS = [LAYOUTS[0], LAYOUTS[1], LAYOUTS[3], LAYOUTS[4], LAYOUTS[5], LAYOUTS[7]]


def _same(fast, ref):
    a, b = span_rows(fast), span_rows(ref)
    assert [x[:3] for x in a] == [x[:3] for x in b]
    np.testing.assert_allclose([x[3:] for x in a], [x[3:] for x in b], rtol=1e-12, atol=1e-15)
    assert fast.makespan_s == pytest.approx(ref.makespan_s, rel=1e-12)
    assert fast.network.flows == ref.network.flows
    assert fast.events < ref.events


@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS, ids=[j[0] for j in JOBS])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_run_ahead_gives_the_same_spans(name, model, gpus, par, batch, fold):
    trace, graph, compute = small_job(model, gpus, par, batch)
    _same(simulate_trace(trace, graph, compute, fold=fold),
          simulate_trace(trace, graph, compute, fold=fold, run_ahead=False))


@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS[:2], ids=[j[0] for j in JOBS[:2]])
def test_run_ahead_gives_the_same_spans_with_a_straggler(name, model, gpus, par, batch):
    trace, graph, compute = small_job(model, gpus, par, batch)
    speeds = [1.0] * trace.world_size
    speeds[3] = 0.8
    fast = simulate_trace(trace, graph, compute, speeds=speeds)
    assert len(fast.classes) > 1
    _same(fast, simulate_trace(trace, graph, compute, speeds=speeds, run_ahead=False))
