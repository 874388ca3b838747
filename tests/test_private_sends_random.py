"""Private sends on randomly drawn pipeline jobs: whatever the layout, the
placement of stages on leaves, the routing, the stragglers and folding, timing
private sends in closed form (round trips, never-binding spine links) gives
the spans of the flow network, to the last bit."""
import numpy as np
import pytest

import topologies
from sim.simulate import simulate_trace
from tests.helpers import small_job, span_rows

from test_folding import TINY


def _draw(seed: int):
    rng = np.random.default_rng(seed)
    pp = int(rng.choice([2, 3, 4]))
    tp = int(rng.choice([1, 2]))
    dp = int(rng.choice([1, 2]))
    vpp = int(rng.choice([1, 2]))
    par = {"tp": tp, "pp": pp}
    if vpp > 1:
        par.update(vpp=vpp, schedule="interleaved")
    if dp > 1 and rng.random() < 0.5:
        par["zero"] = 1
    gpus = tp * pp * dp
    per_node = int(rng.choice([g for g in (1, 2, 4) if gpus % g == 0]))
    micro = int(rng.choice([pp, 2 * pp]))
    model = dict(TINY, layers=pp * vpp * 2)
    speeds = None
    if rng.random() < 0.4:
        speeds = [1.0] * gpus
        speeds[int(rng.integers(gpus))] = float(rng.uniform(0.5, 0.95))
    return dict(model=model, gpus=gpus, par=par, batch=micro * dp, per_node=per_node,
                npl=int(rng.choice([1, 2])), routing=str(rng.choice(["spray", "ecmp"])),
                fold=bool(rng.random() < 0.7), speeds=speeds)


@pytest.mark.parametrize("seed", range(32))
def test_random_pipelines_time_private_sends_as_the_network_does(seed):
    job = _draw(seed)
    trace, _, compute = small_job(job["model"], job["gpus"], job["par"], job["batch"],
                                  gpus_per_node=job["per_node"])
    graph = topologies.build_cluster("a100-80gb", job["gpus"], gpus_per_node=job["per_node"],
                                     nodes_per_leaf=job["npl"])
    graph.graph["routing"] = job["routing"]
    kw = dict(fold=job["fold"], speeds=job["speeds"])
    fast = simulate_trace(trace, graph, compute, **kw)
    ref = simulate_trace(trace, graph, compute, p2p_fast_path=False, **kw)
    assert span_rows(fast) == span_rows(ref), job
    assert fast.makespan_s == ref.makespan_s
