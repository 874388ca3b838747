"""Run-level simulation against closed forms (Daly 2006, Young 1974, Poisson).

Tolerances are 4 standard errors of the Monte Carlo mean across replicas.
"""
import math

import numpy as np
import pytest

from sim.reliability import (CheckpointConfig, FaultConfig, RunConfig, SparesConfig,
                             daly_goodput, daly_interval_s, goodput_immune_restart,
                             simulate_run)
from sim.reliability.replica import CATEGORIES

M_S = 3600.0


def _run(tau, delta, restart, can_fail, *, hours=2000.0, replicas=40, seed=1, mtbf_h=1.0):
    faults = FaultConfig(job_mtbf_h=mtbf_h, detection_s=0, restart_s=restart,
                         restart_can_fail=can_fail)
    ckpt = CheckpointConfig(stall_s=delta, interval_s=tau)
    run = RunConfig(days=hours / 24.0, replicas=replicas)
    return simulate_run(1.0, 1e6, 1024, 8, faults, ckpt, run, np.random.default_rng(seed))


def _mean_se(x):
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


@pytest.mark.parametrize("tau,delta,restart", [(600.0, 60.0, 120.0), (900.0, 120.0, 1800.0)])
def test_goodput_matches_daly_when_restarts_can_fail(tau, delta, restart):
    mean, se = _mean_se(_run(tau, delta, restart, True).goodput)
    expected = daly_goodput(tau, delta, restart, M_S)
    assert abs(mean - expected) < 4 * se
    if restart > 0.25 * M_S:     # the two models differ: the test can tell them apart
        assert abs(mean - goodput_immune_restart(tau, delta, restart, M_S)) > 10 * se


@pytest.mark.parametrize("tau,delta,restart", [(600.0, 60.0, 120.0), (900.0, 120.0, 1800.0)])
def test_goodput_matches_closed_form_with_failure_free_restarts(tau, delta, restart):
    mean, se = _mean_se(_run(tau, delta, restart, False).goodput)
    expected = goodput_immune_restart(tau, delta, restart, M_S)
    assert abs(mean - expected) < 4 * se
    if restart > 0.25 * M_S:
        assert abs(mean - daly_goodput(tau, delta, restart, M_S)) > 10 * se


def test_best_interval_of_a_sweep_is_the_daly_optimum_and_auto_picks_it():
    delta, restart = 60.0, 0.0
    taus = [150.0, 300.0, 600.0, 1200.0, 2400.0]
    sims = [_run(tau, delta, restart, True, hours=1000.0, replicas=20, seed=7).goodput.mean()
            for tau in taus]
    closed = [daly_goodput(tau, delta, restart, M_S) for tau in taus]
    optimum = daly_interval_s(delta, M_S)
    nearest = min(range(len(taus)), key=lambda i: abs(math.log(taus[i] / optimum)))
    assert int(np.argmax(sims)) == int(np.argmax(closed)) == nearest

    faults = FaultConfig(job_mtbf_h=1.0, detection_s=0, restart_s=restart)
    auto = simulate_run(1.0, 1e6, 1024, 8, faults, CheckpointConfig(stall_s=delta),
                        RunConfig(days=1000 / 24, replicas=20), np.random.default_rng(7))
    assert auto.checkpoint_interval_s == pytest.approx(optimum)
    mean, se = _mean_se(auto.goodput)
    assert mean > max(sims) - 4 * se
    assert abs(mean - daly_goodput(optimum, delta, restart, M_S)) < 4 * se


def test_without_failures_or_checkpoint_cost_goodput_is_one():
    faults = FaultConfig(job_mtbf_h=1e12, detection_s=0, restart_s=0)
    res = simulate_run(2.0, 1e6, 64, 8, faults, CheckpointConfig(stall_s=0.0, interval_s=100),
                       RunConfig(days=30, replicas=5), np.random.default_rng(0))
    assert np.all(res.interruptions == 0)
    np.testing.assert_allclose(res.goodput, 1.0, rtol=1e-12)
    with_cost = simulate_run(2.0, 1e6, 64, 8, faults,
                             CheckpointConfig(stall_s=10.0, interval_s=90),
                             RunConfig(days=30, replicas=2), np.random.default_rng(0))
    np.testing.assert_allclose(with_cost.goodput, 90.0 / 100.0, rtol=1e-6)


def test_interruptions_are_poisson_with_mean_horizon_over_mtbf():
    hours, replicas = 500.0, 200
    res = _run(600.0, 0.0, 0.0, True, hours=hours, replicas=replicas, mtbf_h=2.0)
    counts = res.interruptions
    lam = hours / 2.0
    assert abs(counts.mean() - lam) < 4 * math.sqrt(lam / replicas)
    # Poisson dispersion: variance equals the mean (sample variance SE ~ lam*sqrt(2/n))
    assert abs(counts.var(ddof=1) - lam) < 4 * lam * math.sqrt(2.0 / replicas)


@pytest.mark.parametrize("mode", ["sync", "async", "in-memory"])
@pytest.mark.parametrize("recovery", [
    dict(spares=SparesConfig(nodes=0, repair_h=2.0)),
    dict(spares=SparesConfig(nodes=1, repair_h=5.0), elastic=True),
    dict(restart_can_fail=False),
])
def test_training_plus_waste_is_wall_time_times_gpus(mode, recovery):
    faults = FaultConfig(job_mtbf_h=0.5, blast="node", detection_s=120, restart_s=300,
                         **{"spares": SparesConfig(nodes=2, repair_h=1.0), **recovery})
    ckpt = CheckpointConfig(mode=mode, size_bytes=2e12, save_bytes_per_s=1e10,
                            load_bytes_per_s=4e10, persist_every=3, interval_s=400)
    res = simulate_run(3.0, 4e6, 64, 8, faults, ckpt, RunConfig(days=10, replicas=6),
                       np.random.default_rng(3), step_time_for_gpus=lambda g: 3.0 * 64 / g)
    total = res.gpu_hours("training") + sum(res.gpu_hours(k) for k in CATEGORIES)
    np.testing.assert_allclose(total, res.gpu_hours("total"), rtol=1e-9)
    np.testing.assert_allclose(res.per_replica["wall_s"], 10 * 86400.0)
    assert np.all(res.interruptions > 0)
    for k in CATEGORIES:
        assert np.all(res.per_replica[k] >= 0.0), k
