"""Scenario-level reliability: run --json end to end, checkpoint size from the model,
defaults from the step simulation, the run timeline in the Chrome trace."""
import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.cli import main
from sim.reliability import daly_goodput
from sim.chrome_trace import timeline_events
from sim.scenario.cluster import resolve_cluster
from sim.scenario.config import Scenario
from sim.scenario.load import parse_scenario
from sim.summary import StepMetrics
from sim.scenario.reliability import checkpoint_bytes, run_reliability
from workloads import models
from workloads.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[1] / "workloads" / "examples" / "data_parallel_4gpu.json"
MTBF_H, STALL_S, INTERVAL_S = 2.0, 30.0, 1800.0


def _scenario_file(tmp_path, **extra):
    data = {"name": "dp4-faults", "trace": str(EXAMPLE),
            "faults": {"job_mtbf_h": MTBF_H},
            "checkpoint": {"stall_s": STALL_S, "interval_s": INTERVAL_S},
            "run": {"days": 20, "replicas": 100}}
    data.update(extra)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _run_json(capsys, *argv):
    assert main(["run", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_json_reliability_keys_ranges_and_daly(tmp_path, capsys):
    res = _run_json(capsys, _scenario_file(tmp_path), "--seed", "5")
    rel = res["reliability"]
    for key in ("goodput_fraction", "ettr", "interruptions", "wasted_gpu_hours",
                "time_to_train_days", "ci95", "checkpoint_interval_s"):
        assert key in rel
    assert 0 < rel["goodput_fraction"] <= rel["ettr"] <= 1
    assert set(rel["wasted_gpu_hours"]) >= {"lost_work", "restart", "checkpoint_stall",
                                            "detection"}
    # conservation: useful + every waste category = wall time x GPUs
    wasted = sum(rel["wasted_gpu_hours"].values())
    assert rel["training_gpu_hours"] + wasted == pytest.approx(20 * 24 * 4, rel=1e-9)
    # about one failure per MTBF of wall time
    assert rel["interruptions"] == pytest.approx(20 * 24 / MTBF_H, rel=0.05)
    # Daly (2006) with restart = detection + restart, both defaults of FaultConfig
    expected = daly_goodput(INTERVAL_S, STALL_S, 300.0 + 600.0, MTBF_H * 3600)
    lo, hi = rel["ci95"]["goodput_fraction"]
    half = (hi - lo) / 2
    assert abs(rel["goodput_fraction"] - expected) < 4 * half + 0.002
    assert rel["step_time_s"] == res["step_time_s"]
    assert rel["tokens_per_step_source"].startswith("unknown")


def test_run_json_is_deterministic_in_the_seed(tmp_path, capsys):
    path = _scenario_file(tmp_path)
    a = _run_json(capsys, path, "--seed", "7")["reliability"]
    b = _run_json(capsys, path, "--seed", "7")["reliability"]
    c = _run_json(capsys, path, "--seed", "8")["reliability"]
    assert a == b
    assert a["interruptions"] != c["interruptions"]


def test_bad_faults_key_exits_2_with_one_line_naming_it(tmp_path, capsys):
    path = _scenario_file(tmp_path, faults={"job_mtbf": 3})
    assert main(["run", path, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "faults.job_mtbf" in lines[0]


def test_chrome_trace_run_timeline_is_a_file_of_its_own(tmp_path, capsys):
    out = tmp_path / "t.json"
    path = _scenario_file(tmp_path, run={"days": 1, "replicas": 2})
    assert main(["run", path, "--chrome-trace", str(out)]) == 0
    step = json.loads(out.read_text())["traceEvents"]
    assert all(e["args"]["name"] != "run timeline (replica 0)" for e in step
               if e.get("name") == "process_name")
    events = json.loads((tmp_path / "t.run.json").read_text())["traceEvents"]
    names = {e["args"]["name"]: e["pid"] for e in events if e.get("name") == "process_name"}
    pid = names["run timeline (replica 0)"]
    spans = [e for e in events if e["pid"] == pid and e["ph"] == "X"]
    assert {e["cat"] for e in spans} >= {"training", "checkpoint", "detection", "restart"}
    assert sum(e["dur"] for e in spans) == pytest.approx(86400e6, rel=1e-9)


def test_timeline_events_tile_wall_time_and_mark_each_failure():
    timeline = [("train", "training", 0.0, 100.0), ("checkpoint", "checkpoint", 100.0, 5.0),
                ("train", "training", 105.0, 20.0), ("failure", "failure", 125.0, 0.0),
                ("detection", "detection", 125.0, 10.0), ("restart", "restart", 135.0, 15.0)]
    ev = timeline_events(timeline, pid=9)
    xs = [e for e in ev if e["ph"] == "X"]
    assert [e["ts"] for e in xs] == [0.0, 100e6, 105e6, 125e6, 135e6]
    assert all(a["ts"] + a["dur"] == pytest.approx(b["ts"]) for a, b in zip(xs, xs[1:]))
    inst = [e for e in ev if e["ph"] == "i"]
    assert len(inst) == 1 and inst[0]["ts"] == 125e6 and inst[0]["tid"] == 1
    assert all(e["pid"] == 9 for e in ev)


# -- defaults filled from the model and the step --------------------------------------

def _scn(**kw):
    base = {"model": "gpt3-175b", "cluster": {"gpu": "a100-80gb"},
            "parallelism": {"tp": 8, "pp": 8, "dp": 2},
            "training": {"global_batch": 32, "tokens": 1e9},
            "faults": {"job_mtbf_h": 5}, "run": {"replicas": 20}}
    base.update(kw)
    return Scenario.model_validate(base)


def _reliability(scn, gpus, step_time_s, tokens_per_step, seed=0):
    """run_reliability on a step of ``step_time_s`` on ``gpus`` GPUs."""
    step = StepMetrics(step_time_s=step_time_s, gpus=gpus, peak_flops_per_gpu=1.0,
                       model_flops_per_step=0.0, hardware_flops_per_step=0.0,
                       tokens_per_step=tokens_per_step, memory_gb_per_gpu=None, breakdown={})
    return run_reliability(scn, step, resolve_cluster(scn.cluster, gpus),
                           np.random.default_rng(seed))


def test_checkpoint_bytes_are_14_per_parameter_and_match_megatron_1t():
    spec = models.get_model("gpt3-175b")
    assert checkpoint_bytes(_scn()) == pytest.approx(14 * models.param_count(spec))
    # Megatron-LM's 1T model (Narayanan et al. 2021, Table 1) writes 13.8 TB
    one_t = {"layers": 128, "hidden": 25600, "heads": 160, "vocab": 51200, "seq_len": 2048}
    published = float(yaml.safe_load(resources.files("sim").joinpath("data/published.yaml")
                               .read_text())["checkpoint"]["megatron_1t_bytes"])
    assert checkpoint_bytes(_scn(model=one_t)) == pytest.approx(published, rel=0.03)
    assert checkpoint_bytes(_scn(model=None, trace="x.json", training=None)) is None


def test_model_checkpoint_size_sets_the_costs_and_tokens_target_the_run():
    scn = _scn(checkpoint={"mode": "sync", "save_bytes_per_s": 1e11, "load_bytes_per_s": 4e11,
                           "interval_s": 3600})
    rel, timeline = _reliability(scn, 128, 2.0, 32 * 2048)
    size = checkpoint_bytes(scn)
    assert rel["checkpoint_size_bytes"] == size
    assert rel["checkpoint_stall_s"] == pytest.approx(size / 1e11)
    assert rel["restore_s"] == pytest.approx(size / 4e11)
    assert rel["target_tokens"] == 1e9 and rel["tokens_per_step"] == 32 * 2048
    failure_free_days = 1e9 / (32 * 2048 / 2.0) / 86400
    assert rel["time_to_train_days"] > failure_free_days
    assert rel["time_to_train_days"] == pytest.approx(
        failure_free_days / rel["goodput_fraction"], rel=0.25)
    assert timeline and timeline[0][1] == "training"


def test_model_checkpoint_without_bandwidths_names_the_missing_field():
    with pytest.raises(InputError) as e:
        _scn().check()          # when the scenario is loaded, before any simulation
    assert e.value.field == "checkpoint.save_bytes_per_s" and "TB" in str(e.value)


def test_bad_run_section_names_the_field():
    with pytest.raises(InputError) as e:
        parse_scenario({"model": "gpt3-175b", "training": {"global_batch": 32},
                        "faults": {"job_mtbf_h": 5}, "checkpoint": {"stall_s": 10},
                        "run": {"days": -1}}, "s.yaml")
    assert e.value.field == "run.days" and e.value.file == "s.yaml"


def test_partial_node_jobs_round_up_to_whole_nodes():
    scn = _scn(model=None, trace="x.json", training=None, checkpoint={"stall_s": 10},
               run={"days": 1, "replicas": 3})
    rel, _ = _reliability(scn, 12, 1.0, 1.0)
    assert rel["job_gpus"] == 16 and rel["gpus_per_node"] == 8
    assert rel["total_gpu_hours"] == pytest.approx(24 * 16)
    assert math.isfinite(rel["goodput_fraction"])


def test_llama3_preset_reproduces_the_54_day_interruption_count():
    from sim.scenario.load import load_scenario
    scn, _, _ = load_scenario("llama3-405b-16k-faults", ["run.replicas=50"])
    assert scn.cluster.gpus == 16384 and scn.training.global_batch * 8192 == 2048 * 8192
    rel, _ = _reliability(scn, 16384, 13.0, 2048 * 8192)
    assert rel["interruptions"] == pytest.approx(419, rel=0.04)      # Llama 3: 419
    assert 0.8 < rel["goodput_fraction"] < 0.95
    assert rel["checkpoint_size_bytes"] == pytest.approx(
        14 * models.param_count(models.get_model("llama3-405b")))
