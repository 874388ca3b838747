"""Run-level features: Llama 3 preset, determinism, Weibull, spares, elastic,
checkpoint modes, time to train and the timeline."""
import json
import math

import numpy as np
import pytest

from sim.reliability import (CheckpointConfig, FaultConfig, RunConfig, SparesConfig,
                             daly_goodput, goodput_immune_restart, simulate_run)

CKPT_405B = dict(size_bytes=405e9 * 14,            # bf16 weights + fp32 master and Adam
                 save_bytes_per_s=2.73e11, load_bytes_per_s=1.0e12)   # published.yaml


def _se(x):
    return float(np.std(x, ddof=1) / math.sqrt(len(x)))


def test_llama3_preset_reproduces_419_interruptions_in_54_days():
    faults = FaultConfig(preset="llama3-54day", spares=SparesConfig(nodes=64, repair_h=24))
    res = simulate_run(10.0, 16e6, 16384, 8, faults, CheckpointConfig(**CKPT_405B),
                       RunConfig(days=54, replicas=300), np.random.default_rng(2))
    out = res.to_json()
    assert abs(out["interruptions"] - 419) < 4 * math.sqrt(419 / 300)
    assert out["mtbf_h"] == pytest.approx(54 * 24 / 419)
    assert abs(out["interruptions_by_cause"]["faulty_gpu"] - 148) < 4 * math.sqrt(148 / 300)
    assert out["wasted_gpu_hours"]["waiting_for_repair"] == 0.0
    # Failures during detection do not restart the recovery, those during
    # restart and restore do: the goodput lies between Daly's model with
    # R = detection + restart + restore (all interruptible) and the model
    # with an uninterruptible recovery.
    recovery = faults.detection_s + faults.restart_s + res.restore_s
    args = (res.checkpoint_interval_s, res.checkpoint_stall_s, recovery, res.mtbf_s)
    se = _se(res.goodput)
    assert daly_goodput(*args) - 4 * se < out["goodput_fraction"]
    assert out["goodput_fraction"] < goodput_immune_restart(*args) + 4 * se


def test_llama3_preset_scales_with_gpu_count():
    faults = FaultConfig(preset="llama3-54day", spares=SparesConfig(nodes=8, repair_h=24))
    res = simulate_run(10.0, 8e6, 8192, 8, faults, CheckpointConfig(**CKPT_405B),
                       RunConfig(days=54, replicas=200), np.random.default_rng(5))
    expected = (419 - 56) / 2 + 56          # software causes do not scale with size
    assert abs(res.interruptions.mean() - expected) < 4 * math.sqrt(expected / 200)


def test_same_seed_same_result_and_other_seed_differs():
    faults = FaultConfig(job_mtbf_h=2.0, blast="node", spares=SparesConfig(nodes=1, repair_h=3))
    args = (5.0, 1e6, 256, 8, faults, CheckpointConfig(mode="async", **CKPT_405B),
            RunConfig(days=20, replicas=10))
    a = simulate_run(*args, np.random.default_rng(11))
    b = simulate_run(*args, np.random.default_rng(11))
    c = simulate_run(*args, np.random.default_rng(12))
    assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    assert a.timeline == b.timeline
    assert a.to_json() != c.to_json()


def test_weibull_shape_one_matches_exponential():
    def run(**dist):
        faults = FaultConfig(components={"gpu": dict(mtbf_h_per_unit=2000.0, units="gpu",
                                                     blast="job", **dist)})
        return simulate_run(5.0, 1e6, 1024, 8, faults, CheckpointConfig(stall_s=30),
                            RunConfig(days=30, replicas=150), np.random.default_rng(4))
    exp, wei = run(), run(distribution="weibull", weibull_shape=1.0)
    for x, y in ((exp.goodput, wei.goodput), (exp.interruptions, wei.interruptions)):
        assert abs(x.mean() - y.mean()) < 4 * math.hypot(_se(x), _se(y))
    lam = 30 * 24 * 1024 / 2000.0
    assert abs(wei.interruptions.mean() - lam) < 4 * math.sqrt(lam / 150)


def test_weibull_stationary_start_keeps_the_long_run_rate_but_is_burstier():
    def run(shape):
        faults = FaultConfig(job_mtbf_h=1.0, distribution="weibull", weibull_shape=shape)
        return simulate_run(5.0, 1e6, 64, 8, faults, CheckpointConfig(stall_s=30),
                            RunConfig(days=10, replicas=300), np.random.default_rng(6))
    bursty = run(0.5).interruptions
    assert abs(bursty.mean() - 240) < 4 * _se(bursty)
    assert bursty.var(ddof=1) > 1.5 * 240         # renewal with CV > 1 is over-dispersed


def test_empty_spare_pool_waits_for_repair_exactly():
    repair_h = 2.0
    faults = FaultConfig(job_mtbf_h=5.0, blast="node", detection_s=0, restart_s=60,
                         restart_can_fail=False, spares=SparesConfig(nodes=0, repair_h=repair_h))
    res = simulate_run(5.0, 1e6, 64, 8, faults, CheckpointConfig(stall_s=10),
                       RunConfig(days=20, replicas=20), np.random.default_rng(8))
    wait = res.per_replica["waiting_for_repair"]
    short = res.interruptions * repair_h * 3600 - wait   # only the last wait may be cut
    assert np.all(res.interruptions > 0)
    assert np.all((short > -1e-6) & (short <= repair_h * 3600 + 1e-6))
    pool = simulate_run(5.0, 1e6, 64, 8, faults.model_copy(
        update={"spares": SparesConfig(nodes=8, repair_h=repair_h)}),
        CheckpointConfig(stall_s=10), RunConfig(days=20, replicas=20), np.random.default_rng(8))
    assert np.all(pool.per_replica["waiting_for_repair"] == 0.0)
    assert pool.goodput.mean() > res.goodput.mean()


def test_node_failure_without_any_repair_time_is_an_input_error():
    from workloads.errors import InputError
    faults = FaultConfig(job_mtbf_h=5.0, blast="node")
    with pytest.raises(InputError, match="wait forever") as err:
        simulate_run(5.0, 1e6, 64, 8, faults, CheckpointConfig(stall_s=10),
                     RunConfig(days=1, replicas=1), np.random.default_rng(0))
    assert err.value.field == "faults.spares"


def test_elastic_job_shrinks_instead_of_waiting_and_grows_back():
    base = dict(job_mtbf_h=3.0, blast="node", spares=SparesConfig(nodes=0, repair_h=6.0))
    run = RunConfig(days=20, replicas=20)

    def sim(**kw):
        return simulate_run(5.0, 1e6, 256, 8, FaultConfig(**base, **kw),
                            CheckpointConfig(stall_s=20), run, np.random.default_rng(9),
                            step_time_for_gpus=lambda g: 5.0 * 256 / g * 1.05)
    rigid, elastic = sim(), sim(elastic=True, elastic_unit_gpus=32)
    assert rigid.to_json()["wasted_gpu_hours"]["waiting_for_repair"] > 0
    ej = elastic.to_json()
    assert ej["wasted_gpu_hours"]["waiting_for_repair"] == 0.0
    assert ej["wasted_gpu_hours"]["elastic_slowdown"] > 0.0
    assert ej["goodput_fraction"] > rigid.to_json()["goodput_fraction"]
    assert np.all(elastic.ettr > elastic.goodput)
    # grow-back: the shrunk job returns to full size, so the slowdown lasts
    # about one repair time per failure, not for the rest of the run
    slow_h = ej["wasted_gpu_hours"]["elastic_slowdown"] / 256
    assert slow_h < ej["interruptions"] * 6.0


def test_in_memory_restores_faster_and_async_stalls_less_than_sync():
    faults = FaultConfig(job_mtbf_h=3.0, spares=SparesConfig(nodes=8, repair_h=12), blast="node")
    run = RunConfig(days=20, replicas=20)
    out = {}
    for mode in ("sync", "async", "in-memory"):
        res = simulate_run(5.0, 1e6, 1024, 8, faults,
                           CheckpointConfig(mode=mode, interval_s=900, **CKPT_405B),
                           run, np.random.default_rng(10))
        out[mode] = res.to_json()
    waste = {m: o["wasted_gpu_hours"] for m, o in out.items()}
    per = {m: waste[m]["restore"] / out[m]["interruptions"] for m in out}
    assert per["in-memory"] < 0.1 * per["sync"]
    assert waste["async"]["checkpoint_stall"] < 0.1 * waste["sync"]["checkpoint_stall"]
    assert out["async"]["goodput_fraction"] > out["sync"]["goodput_fraction"]
    assert out["in-memory"]["goodput_fraction"] > out["sync"]["goodput_fraction"]
    assert out["sync"]["checkpoint_stall_s"] == pytest.approx(405e9 * 14 / 2.73e11)


def test_in_memory_falls_back_to_storage_when_every_copy_is_lost():
    # 2 nodes, copies on both: a second node failure within one recovery
    # (long detection) loses the in-memory checkpoint; storage restores cost 1000 s.
    def sim(nodes_per_group):
        faults = FaultConfig(job_mtbf_h=0.5, blast="node", detection_s=1200, restart_s=0,
                             spares=SparesConfig(nodes=100, repair_h=1.0))
        ckpt = CheckpointConfig(mode="in-memory", stall_s=1, persist_s=0, restore_s=1000,
                                memory_restore_s=0, interval_s=300,
                                in_memory_copies=nodes_per_group)
        return simulate_run(1.0, 1e6, 16, 8, faults, ckpt, RunConfig(days=10, replicas=10),
                            np.random.default_rng(1)).to_json()["wasted_gpu_hours"]
    assert sim(2)["restore"] > 0.0
    assert sim(3)["restore"] == 0.0        # 3 copies on 2 nodes are never all lost


def test_time_to_train_exact_without_failures_and_extrapolated_with_horizon():
    quiet = FaultConfig(job_mtbf_h=1e12, detection_s=0, restart_s=0)
    ckpt = CheckpointConfig(stall_s=10.0, interval_s=90.0)
    tokens = 1e6 / 2.0 * 86400 * 3            # 3 days at full speed
    res = simulate_run(2.0, 1e6, 64, 8, quiet, ckpt, RunConfig(tokens=tokens, replicas=2),
                       np.random.default_rng(0))
    days = res.to_json()["time_to_train_days"]
    need_s = 3 * 86400.0                      # 2880 intervals; the last stall is not needed
    assert days * 86400 == pytest.approx(need_s + (need_s / 90.0 - 1) * 10.0, rel=1e-12)
    short = simulate_run(2.0, 1e6, 64, 8, quiet, ckpt, RunConfig(days=1, replicas=2),
                         np.random.default_rng(0), target_tokens=tokens)
    assert short.to_json()["time_to_train_days"] == pytest.approx(3.0 / 0.9, rel=1e-3)
    noisy = simulate_run(2.0, 1e6, 64, 8, FaultConfig(job_mtbf_h=2.0), ckpt,
                         RunConfig(tokens=tokens, replicas=10), np.random.default_rng(0))
    j = noisy.to_json()
    assert j["time_to_train_days"] > 3.0 / 0.9
    lo, hi = j["ci95"]["time_to_train_days"]
    assert lo <= j["time_to_train_days"] <= hi
    np.testing.assert_allclose(noisy.per_replica["useful_s"] * noisy.tokens_per_s, tokens)


def test_timeline_of_replica_zero_tiles_the_wall_time():
    faults = FaultConfig(job_mtbf_h=2.0, blast="node", spares=SparesConfig(nodes=0, repair_h=1))
    res = simulate_run(5.0, 1e6, 64, 8, faults, CheckpointConfig(mode="async", **CKPT_405B),
                       RunConfig(days=3, replicas=2), np.random.default_rng(2))
    spans = [s for s in res.timeline if s[1] != "failure"]
    cats = {s[1] for s in res.timeline}
    assert {"training", "checkpoint", "failure", "detection", "restart", "restore",
            "waiting_for_repair"} <= cats
    ends = [s[2] + s[3] for s in spans]
    np.testing.assert_allclose([s[2] for s in spans[1:]], ends[:-1], atol=1e-6)
    assert spans[0][2] == 0.0 and ends[-1] == pytest.approx(3 * 86400.0)
    assert sum(1 for s in res.timeline if s[1] == "failure") == res.interruptions[0]
