"""The straggler what-if report: costs by re-simulation, waits by class and op kind,
and its place in ``run --json``."""
import json
from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.scenario.config import Scenario
from sim.stragglers import attribute, simulate_with_stragglers
from tests.helpers import UNIT_COMPUTE
from tests.test_stragglers import CLUSTER16, _dp_trace

EXAMPLE = Path(__file__).resolve().parents[1] / "workloads" / "examples" / "data_parallel_4gpu.json"


def _scn(*stragglers, fold=True):
    return Scenario.model_validate({"trace": "x.json", "stragglers": list(stragglers),
                                    "sim": {"fold": fold}})


@pytest.fixture(scope="module")
def two_slow():
    scn = _scn({"kind": "slow_gpu", "gpu": 2, "factor": 0.8},
               {"kind": "slow_gpu", "gpu": 9, "factor": 0.5})
    return attribute(scn, _dp_trace(), CLUSTER16, UNIT_COMPUTE, seed=0)


def test_costs_are_what_removing_each_straggler_wins_back(two_slow):
    a = two_slow
    assert a.step_time_s - a.baseline_step_time_s == pytest.approx(1.0, rel=1e-9)  # 2 s vs 1 s
    cost = {s["index"]: s["cost_s"] for s in a.by_straggler}
    assert cost[1] == pytest.approx(1 / 0.5 - 1 / 0.8, rel=1e-9)   # then the 0.8x GPU leads
    assert cost[0] == pytest.approx(0.0, abs=1e-12)                # the 0.5x GPU still leads
    assert a.slowdown == pytest.approx(a.step_time_s / a.baseline_step_time_s)


def test_waits_by_class_and_op_kind_follow_the_slowest_member(two_slow):
    a = two_slow
    by_speed = {c["speed"]: c for c in a.wait_by_class}
    assert by_speed[1.0]["wait_s"] == pytest.approx(1.0, rel=1e-9)
    assert by_speed[0.8]["wait_s"] == pytest.approx(2.0 - 1.25, rel=1e-9)
    assert by_speed[0.5]["wait_s"] == pytest.approx(0.0, abs=1e-12)
    assert all(c["baseline_wait_s"] == pytest.approx(0.0, abs=1e-12) for c in a.wait_by_class)
    assert sum(c["ranks"] for c in a.wait_by_class) == 16
    kinds = {o["kind"]: o for o in a.by_op_kind}
    assert kinds["compute"]["extra_busy_rank_s"] == pytest.approx(0.25 + 1.0, rel=1e-9)
    assert kinds["all_reduce"]["extra_wait_rank_s"] == pytest.approx(14 * 1.0 + 0.75, rel=1e-9)
    assert kinds["all_reduce"]["extra_busy_rank_s"] == pytest.approx(0.0, abs=1e-9)


def test_table_lists_every_straggler_and_json_is_serialisable(two_slow):
    text = two_slow.table()
    assert "slow_gpu gpu=2 factor=0.8" in text and "slow_gpu gpu=9 factor=0.5" in text
    js = two_slow.to_json()
    assert json.loads(json.dumps(js))["slowdown"] == pytest.approx(two_slow.slowdown)
    assert {"baseline_step_time_s", "step_time_s", "slowdown", "by_straggler",
            "wait_by_class"} <= set(js)
    # a short report keeps the longest waiters and every off-speed class
    short = two_slow.to_json(max_classes=1)["wait_by_class"]
    assert sorted(c["speed"] for c in short) == [0.5, 0.8, 1.0]


def test_folded_and_unfolded_attribution_agree():
    s = {"kind": "slow_gpu", "gpu": 4, "factor": 0.7}
    f = attribute(_scn(s), _dp_trace(), CLUSTER16, UNIT_COMPUTE, seed=0)
    u = attribute(_scn(s, fold=False), _dp_trace(), CLUSTER16, UNIT_COMPUTE, seed=0)
    assert f.step_time_s == pytest.approx(u.step_time_s, rel=1e-12)
    assert f.baseline_step_time_s == pytest.approx(u.baseline_step_time_s, rel=1e-12)
    assert len(f.wait_by_class) < len(u.wait_by_class) == 16


def test_passing_the_simulated_step_gives_the_same_report():
    scn = _scn({"kind": "jitter", "sigma": 0.2})
    step = simulate_with_stragglers(_dp_trace(), CLUSTER16, UNIT_COMPUTE, scn.stragglers, 5)
    a = attribute(scn, _dp_trace(), CLUSTER16, UNIT_COMPUTE, seed=5, step=step)
    b = attribute(scn, _dp_trace(), CLUSTER16, UNIT_COMPUTE, seed=5)
    assert a.step_time_s == b.step_time_s and a.by_straggler == b.by_straggler


def _run(tmp_path, capsys, stragglers):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"trace": str(EXAMPLE), "stragglers": stragglers}))
    assert main(["run", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_json_reports_stragglers_only_when_configured(tmp_path, capsys):
    res = _run(tmp_path, capsys, [{"kind": "slow_gpu", "gpu": 1, "factor": 0.5}])
    s = res["stragglers"]
    assert s["step_time_s"] == res["step_time_s"]
    assert s["slowdown"] > 1.5                       # compute-bound: close to 1 / 0.5
    assert s["by_straggler"][0]["cost_s"] == pytest.approx(
        s["step_time_s"] - s["baseline_step_time_s"])
    assert "stragglers" not in _run(tmp_path, capsys, [])


def test_run_with_a_bad_straggler_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"trace": str(EXAMPLE), "stragglers": [{"kind": "slow_gpu"}]}))
    assert main(["run", str(path), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stragglers[0].gpu" in err[0]
