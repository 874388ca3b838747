"""Step-level stragglers against closed forms: a synchronous step waits for its
slowest member; episodes mix two step times; a slow NIC divides bandwidth."""
import numpy as np
import pytest

import topologies
from sim.scenario.config import Scenario
from sim.simulate import simulate_trace
from sim.stragglers import apply_stragglers, parse_stragglers, simulate_with_stragglers
from tests.helpers import UNIT_COMPUTE, trace
from workloads.errors import InputError
from workloads.trace import Trace

CLUSTER16 = topologies.build_cluster("a100-80gb", 16)   # two nodes of 8 GPUs with NICs


def _dp_trace(n=16, seconds=1.0, nbytes=2**26):
    """Every rank computes ``seconds`` (UNIT_COMPUTE) then all-reduces over all ranks."""
    ops = [{"id": "c", "kind": "compute", "flops": seconds * 1e12},
           {"id": "ar", "kind": "all_reduce", "group": "dp", "bytes": nbytes, "deps": ["c"]}]
    return trace(n, [{"ranks": list(range(n)), "ops": ops}], {"dp": [list(range(n))]})


def _cfgs(*items):
    return parse_stragglers(list(items))


def _step(stragglers, tr=None, fold=True, seed=0):
    return simulate_with_stragglers(tr or _dp_trace(), CLUSTER16, UNIT_COMPUTE,
                                    _cfgs(*stragglers), seed, fold=fold)


@pytest.fixture(scope="module")
def base_s():
    return _step([]).makespan_s


@pytest.mark.parametrize("fold", [True, False])
def test_slow_gpu_holds_the_synchronous_step_back(base_s, fold):
    r = _step([{"kind": "slow_gpu", "gpu": 5, "factor": 0.8}], fold=fold)
    assert r.makespan_s == pytest.approx(base_s + (1 / 0.8 - 1), rel=1e-9)
    slow = [c for c in r.classes if c.speed != 1.0]
    assert len(slow) == 1 and slow[0].ranks == (5,) and slow[0].speed == 0.8
    fast = [rt for c, rt in zip(r.classes, r.ranks) if c.speed == 1.0]
    assert all(rt.wait_s == pytest.approx(0.25, rel=1e-9) for rt in fast)


def test_jitter_factors_are_lognormal_and_fraction_picks_that_many_ranks():
    big = Trace(world_size=4000, programs=[])
    speeds, _ = apply_stragglers(_cfgs({"kind": "jitter", "sigma": 0.3}), big, CLUSTER16,
                                 np.random.default_rng(1))
    z = np.log(1 / np.array(speeds)) / 0.3
    from scipy import stats     # here: importing scipy.stats takes a second
    assert stats.kstest(z, "norm").pvalue > 0.01
    part, _ = apply_stragglers(_cfgs({"kind": "jitter", "sigma": 0.3, "fraction": 0.25}), big,
                               CLUSTER16, np.random.default_rng(1))
    assert sum(s != 1.0 for s in part) == 1000
    again, _ = apply_stragglers(_cfgs({"kind": "jitter", "sigma": 0.3}), big, CLUSTER16,
                                np.random.default_rng(1))
    assert again == speeds


def test_jittered_step_is_the_slowest_rank(base_s):
    cfg = {"kind": "jitter", "sigma": 0.2}
    speeds, _ = apply_stragglers(_cfgs(cfg), _dp_trace(), CLUSTER16, np.random.default_rng(3))
    r = _step([cfg], seed=3)
    assert len(r.classes) == 16
    assert r.makespan_s == pytest.approx(base_s - 1 + max(1 / s for s in speeds), rel=1e-9)


def test_slow_node_episode_mixes_normal_and_slow_steps(base_s):
    r = _step([{"kind": "slow_node_episode", "node": 1, "factor": 0.5, "fraction": 0.3}])
    slow_s = base_s + 1.0                       # node 1's GPUs take 2 s instead of 1 s
    assert r.step_time_s == pytest.approx(0.7 * base_s + 0.3 * slow_s, rel=1e-9)
    states = r.to_json()["states"]
    assert sorted(s["probability"] for s in states) == pytest.approx([0.3, 0.7])
    assert {len(s["slow"]) for s in states} == {0, 1}
    # the mixture's breakdown adds up to its own step time; the states are kept as simulated
    b = r.breakdown()
    assert b["compute_s"] + b["exposed_comm_s"] + b["bubble_s"] == pytest.approx(r.step_time_s)
    assert r.shown.makespan_s == pytest.approx(base_s, rel=1e-9)


def test_two_independent_episodes_give_four_states(base_s):
    r = _step([{"kind": "slow_node_episode", "node": 0, "factor": 0.5, "fraction": 0.2},
               {"kind": "slow_node_episode", "node": 1, "factor": 0.8, "fraction": 0.5}])
    states = r.to_json()["states"]
    assert len(states) == 4 and sum(s["probability"] for s in states) == pytest.approx(1.0)
    # the step takes as long as the slowest node: 2 s if node 0 is slow, else 1.25 or 1
    expected = 0.2 * 2.0 + 0.8 * (0.5 * 1.25 + 0.5 * 1.0)
    assert r.step_time_s == pytest.approx(base_s - 1 + expected, rel=1e-9)


def test_slow_nic_halves_the_inter_node_bandwidth():
    nbytes = 4e9
    ops0 = [{"id": "s", "kind": "send", "peer": 8, "bytes": nbytes, "tag": 0}]
    ops8 = [{"id": "r", "kind": "recv", "peer": 0, "bytes": nbytes, "tag": 0}]
    tr = trace(16, [{"ranks": [0], "ops": ops0}, {"ranks": [8], "ops": ops8},
                    {"ranks": [r for r in range(16) if r not in (0, 8)], "ops": []}])
    before = {k: dict(v) for k, v in CLUSTER16.edges.items()}
    base = simulate_trace(tr, CLUSTER16, UNIT_COMPUTE).makespan_s
    slow = _step([{"kind": "slow_link", "node": 0, "nic": 0, "factor": 0.5}], tr).makespan_s
    other = _step([{"kind": "slow_link", "node": 0, "nic": 3, "factor": 0.5}], tr).makespan_s
    assert slow == pytest.approx(2 * base, rel=1e-3)       # bandwidth-bound transfer
    assert other == pytest.approx(base, rel=1e-12)         # GPU 0 does not use NIC 3
    assert {k: dict(v) for k, v in CLUSTER16.edges.items()} == before
    _, g = apply_stragglers(_cfgs({"kind": "slow_link", "node": 1, "factor": 0.25}), tr,
                            CLUSTER16, np.random.default_rng(0))
    changed = [(u, v) for u, v in g.edges
               if g.edges[u, v]["bw_bytes_per_s"] != CLUSTER16.edges[u, v]["bw_bytes_per_s"]]
    assert changed and all("h1.nic" in f"{u}{v}" for u, v in changed)
    assert len(changed) == 8 * 4                           # 8 NICs x (2 links x 2 directions)


def test_input_imbalance_slows_a_share_of_whole_data_parallel_replicas():
    # tp 2 x dp 8: replica j = the two ranks at position j of the dp groups
    groups = {"dp": [list(range(0, 16, 2)), list(range(1, 16, 2))]}
    tr = trace(16, [{"ranks": list(range(16)), "ops": []}], groups)
    cfg = {"kind": "input_imbalance", "fraction": 0.25, "factor": 0.7}
    speeds, _ = apply_stragglers(_cfgs(cfg), tr, CLUSTER16, np.random.default_rng(2))
    slow = [r for r, s in enumerate(speeds) if s != 1.0]
    assert len(slow) == 4 and all(speeds[r] == 0.7 for r in slow)
    assert {r // 2 for r in slow} == {r // 2 for r in slow if r % 2 == 0}   # whole replicas
    assert len({r // 2 for r in slow}) == 2


def test_leaving_one_straggler_out_keeps_the_draws_of_the_others():
    tr = Trace(world_size=64, programs=[])
    cfgs = _cfgs({"kind": "slow_gpu", "gpu": 3, "factor": 0.5}, {"kind": "jitter", "sigma": 0.1})
    all_, _ = apply_stragglers(cfgs, tr, CLUSTER16, np.random.default_rng(4))
    jit, _ = apply_stragglers(cfgs, tr, CLUSTER16, np.random.default_rng(4), active=[1])
    assert all_[3] == pytest.approx(0.5 * jit[3])
    assert [a for i, a in enumerate(all_) if i != 3] == [j for i, j in enumerate(jit) if i != 3]


@pytest.mark.parametrize("cfg, field", [
    ({"kind": "slow_gpu"}, "stragglers[0].gpu"),
    ({"kind": "slow_gpu", "gpu": 16}, "stragglers[0].gpu"),
    ({"kind": "slow_node_episode", "node": 1}, "stragglers[0].fraction"),
    ({"kind": "slow_node_episode", "node": 2, "fraction": 0.1}, "stragglers[0].node"),
    ({"kind": "slow_link", "node": 0, "nic": 9}, "stragglers[0].nic"),
    ({"kind": "input_imbalance", "fraction": 0.5}, "stragglers[0].kind"),
])
def test_bad_stragglers_name_the_field(cfg, field):
    tr = trace(16, [{"ranks": list(range(16)), "ops": []}])
    with pytest.raises(InputError) as e:        # missing keys when parsed, the rest when applied
        apply_stragglers(_cfgs(cfg), tr, CLUSTER16, np.random.default_rng(0))
    assert e.value.field == field


def test_too_many_episodes_is_an_error():
    many = [{"kind": "slow_node_episode", "node": 0, "fraction": 0.1}] * 7
    with pytest.raises(InputError) as e:
        _step(many)
    assert e.value.field == "stragglers"


def test_unknown_straggler_key_is_rejected_by_the_scenario():
    with pytest.raises(Exception):
        Scenario.model_validate({"trace": "x.json", "stragglers": [{"kind": "slow_gpu",
                                                                    "gpu": 1, "speed": 0.5}]})
