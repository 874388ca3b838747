"""Failure-rate what-ifs and the reliability fixes: rate_scale and per-cause
scaling, the checkpoint-interval floor, in-memory restore_s, restart time that
grows with the job, and elastic step times re-simulated per size."""
import json
import math

import numpy as np
import pytest
import yaml

from sim.cli import main
from sim.reliability import (CheckpointConfig, FaultConfig, RunConfig, SparesConfig,
                             load_llama3_counts, parse_section, resolve_costs, resolve_sources,
                             simulate_run)
from workloads.errors import InputError

SPARES = SparesConfig(nodes=32, repair_h=72)
# Llama 3 405B: params x 14 bytes, Megatron-LM's storage bandwidths
CKPT_405B = dict(size_bytes=405.85e9 * 14, save_bytes_per_s=2.73e11, load_bytes_per_s=1e12)


def _rates(faults, gpus=16384):
    return {s.name: s.rate_per_s for s in resolve_sources(faults, gpus, 8)}


def test_rate_scale_multiplies_every_cause_of_the_preset():
    base = _rates(FaultConfig(preset="llama3-54day", spares=SPARES))
    doubled = _rates(FaultConfig(preset="llama3-54day", spares=SPARES, rate_scale=2.0))
    assert set(base) == set(doubled) == set(load_llama3_counts()["causes"])
    for name, rate in base.items():
        assert doubled[name] == pytest.approx(2 * rate, rel=1e-12)
    # the preset at its own size: 419 interruptions in 54 days (the paper's count)
    assert sum(base.values()) * 54 * 86400 == pytest.approx(419, rel=1e-9)


def test_per_cause_scale_applies_on_top_and_zero_drops_the_cause():
    faults = FaultConfig(preset="llama3-54day", spares=SPARES, rate_scale=0.5,
                         scale={"faulty_gpu": 4.0, "software_bug": 0.0})
    base = _rates(FaultConfig(preset="llama3-54day", spares=SPARES))
    got = _rates(faults)
    assert "software_bug" not in got
    assert got["faulty_gpu"] == pytest.approx(2.0 * base["faulty_gpu"])
    assert got["gpu_hbm3"] == pytest.approx(0.5 * base["gpu_hbm3"])
    comps = FaultConfig(components={"gpu": {"mtbf_h_per_unit": 1000, "blast": "job"}},
                        rate_scale=3.0)
    assert _rates(comps, gpus=64)["gpu"] == pytest.approx(3 * 64 / 1000 / 3600)
    mtbf = FaultConfig(job_mtbf_h=2.0, scale={"job": 2.0})
    assert _rates(mtbf)["job"] == pytest.approx(1 / 3600)


def test_unknown_cause_and_bad_factor_are_input_errors_naming_the_field():
    with pytest.raises(InputError) as err:
        resolve_sources(FaultConfig(preset="llama3-54day", spares=SPARES,
                                    scale={"gpu": 2.0}), 1024, 8)
    assert err.value.field == "faults.scale.gpu" and "faulty_gpu" in str(err.value)
    with pytest.raises(InputError) as err:
        parse_section(FaultConfig, {"job_mtbf_h": 2, "scale": {"job": -1}}, key="faults")
    assert "faults" in str(err.value)


def test_mtbf_on_a_preset_scenario_says_how_to_scale_it():
    with pytest.raises(InputError) as err:
        parse_section(FaultConfig, {"preset": "llama3-54day", "job_mtbf_h": 1.5},
                      key="faults")
    assert "rate_scale" in str(err.value) and "preset=null" in str(err.value)


def test_rate_scale_doubles_the_simulated_interruptions():
    run = RunConfig(days=10, replicas=40)
    counts = []
    for scale in (1.0, 2.0):
        faults = FaultConfig(job_mtbf_h=4.0, rate_scale=scale, detection_s=0, restart_s=0)
        res = simulate_run(5.0, 1e6, 64, 8, faults, CheckpointConfig(stall_s=1),
                           run, np.random.default_rng(3)).to_json()
        counts.append(res["interruptions"])
        assert res["mtbf_h"] == pytest.approx(4.0 / scale)
    assert counts[0] == pytest.approx(10 * 24 / 4, rel=0.05)
    assert counts[1] == pytest.approx(2 * counts[0], rel=0.07)


def test_checkpoint_interval_never_below_persist_or_stall():
    nodes, mtbf_s = 2048, 1.55 * 3600
    asy = resolve_costs(CheckpointConfig(mode="async", **CKPT_405B), nodes, mtbf_s, 6.6)
    assert asy.persist_s == pytest.approx(20.81, abs=0.01)     # 5.7 TB at 273 GB/s
    assert asy.interval_s >= asy.persist_s and asy.interval_floor_s == asy.persist_s
    sync = resolve_costs(CheckpointConfig(stall_s=300.0, interval_s=100.0), nodes, 1e3, 1.0)
    assert sync.interval_s == 300.0
    mem = resolve_costs(CheckpointConfig(mode="in-memory", **CKPT_405B), nodes, 1e9, 1.0)
    assert mem.interval_s > mem.stall_s


def test_in_memory_restore_s_matches_its_restore_waste():
    faults = FaultConfig(job_mtbf_h=2.0, blast="job", detection_s=0, restart_s=0,
                         restart_can_fail=False)
    res = simulate_run(5.0, 1e6, 1024, 8, faults,
                       CheckpointConfig(mode="in-memory", interval_s=600, **CKPT_405B),
                       RunConfig(days=5, replicas=10), np.random.default_rng(2)).to_json()
    per_failure_s = res["wasted_gpu_hours"]["restore"] * 3600 / 1024 / res["interruptions"]
    assert res["restore_s"] == pytest.approx(405.85e9 * 14 / 128 / 1e11)
    # restores interrupted by a failure cost less than a full restore
    assert per_failure_s == pytest.approx(res["restore_s"], rel=0.01)
    assert res["storage_restore_s"] == pytest.approx(405.85e9 * 14 / 1e12)
    assert res["checkpoint_mode"] == "in-memory"


def test_restart_time_grows_with_the_node_count():
    def check_restart_waste(gpus, restart_s):
        faults = FaultConfig(job_mtbf_h=3.0, detection_s=0, restart_s=100,
                             restart_s_per_node=0.5, restart_can_fail=False)
        ckpt = CheckpointConfig(stall_s=0, restore_s=0, interval_s=600)
        run = simulate_run(5.0, 1e6, gpus, 8, faults, ckpt, RunConfig(days=3, replicas=5),
                           np.random.default_rng(4))
        assert run.to_json()["restart_s"] == 100 + 0.5 * gpus / 8 == restart_s
        # every failure costs one full restart; only a replica's last one may be
        # cut short by the horizon
        full = run.per_replica["failures"] * restart_s
        cut = full - run.per_replica["restart"]
        assert np.all(run.per_replica["failures"] > 0)
        assert np.all((cut > -1e-6) & (cut < restart_s))
        assert np.any(np.abs(cut) < 1e-6)
    check_restart_waste(64, 104.0)
    check_restart_waste(8192, 612.0)


def _elastic_file(tmp_path):
    data = {"name": "tiny-elastic",
            "model": {"layers": 4, "hidden": 1024, "heads": 16, "ffn_hidden": 4096,
                      "vocab": 32000, "seq_len": 1024},
            "cluster": {"gpu": "a100-80gb", "gpus": 32},
            "parallelism": {"tp": 2, "pp": 2},
            "training": {"global_batch": 64, "micro_batch": 1},
            "faults": {"job_mtbf_h": 2, "blast": "node", "elastic": True,
                       "spares": {"nodes": 0, "repair_h": 24}},
            "checkpoint": {"stall_s": 1, "interval_s": 600},
            "run": {"days": 5, "replicas": 5}}
    path = tmp_path / "elastic.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_elastic_step_times_are_re_simulated_per_size(tmp_path, capsys):
    path = _elastic_file(tmp_path)
    assert main(["run", str(path), "--json", "--seed", "1"]) == 0
    rel = json.loads(capsys.readouterr().out)["reliability"]
    assert rel["elastic_scaling"] == "re-simulated"
    steps = rel["elastic_step_times_s"]
    assert steps
    for gpus_text, step_s in steps.items():
        gpus = int(gpus_text)
        dp = gpus // 4
        batch = dp * math.ceil(64 / dp)
        assert main(["run", str(path), "--json", "--set", "faults=null",
                     "--set", f"cluster.gpus={gpus}", "--set", f"parallelism.dp={dp}",
                     "--set", f"training.global_batch={batch}"]) == 0
        direct = json.loads(capsys.readouterr().out)["step_time_s"]
        assert step_s == pytest.approx(direct * 64 / batch, rel=1e-9)
