"""Reliability inputs: validation errors, checkpoint cost formulas, presets, formulas."""
import numpy as np
import pytest

from sim.reliability import (CheckpointConfig, FaultConfig, RunConfig, daly_goodput,
                             daly_interval_s, load_llama3_counts, parse_section,
                             resolve_costs, resolve_sources, simulate_run, young_interval_s)
from workloads.errors import InputError


@pytest.mark.parametrize("model,key,data,field,value", [
    (FaultConfig, "faults", {"job_mtbf_h": 2, "preset": "llama3-54day"}, "faults", ...),
    (FaultConfig, "faults", {"job_mtbf_h": -1}, "faults.job_mtbf_h", -1),
    (FaultConfig, "faults", {"preset": "llama2"}, "faults.preset", "llama2"),
    (FaultConfig, "faults", {"job_mtbf_h": 2, "detection": 5}, "faults.detection", 5),
    (FaultConfig, "faults", {"components": {"gpu": {"units": "gpu"}}},
     "faults.components.gpu", ...),
    (FaultConfig, "faults", {"components": {"sw": {"mtbf_h_per_unit": 9, "units": 0}}},
     "faults.components.sw", ...),
    (FaultConfig, "faults", {"job_mtbf_h": 2, "distribution": "weibull"}, "faults", ...),
    (CheckpointConfig, "checkpoint", {"mode": "lazy", "stall_s": 1}, "checkpoint.mode", "lazy"),
    (CheckpointConfig, "checkpoint", {"interval_s": 60}, "checkpoint", ...),
    (CheckpointConfig, "checkpoint", {"size_bytes": 1e12, "save_bytes_per_s": 1e9},
     "checkpoint", ...),
    (CheckpointConfig, "checkpoint", {"stall_s": 5, "interval_s": 0}, "checkpoint", ...),
    (RunConfig, "run", {"replicas": 10}, "run", ...),
    (RunConfig, "run", {"days": 5, "replicas": 0}, "run.replicas", 0),
])
def test_bad_sections_name_file_field_and_value(model, key, data, field, value):
    with pytest.raises(InputError) as err:
        parse_section(model, data, key=key, file="job.yaml")
    assert err.value.file == "job.yaml"
    assert err.value.field == field
    if value is not ...:
        assert err.value.value == value
    assert str(err.value).startswith("job.yaml: " + field)


def test_good_sections_parse_with_documented_defaults():
    f = parse_section(FaultConfig, {"job_mtbf_h": 3}, key="faults")
    assert (f.detection_s, f.restart_s, f.restart_can_fail, f.spares) == (300.0, 600.0, True, None)
    c = parse_section(CheckpointConfig, {"stall_s": 20}, key="checkpoint")
    assert (c.mode, c.interval_s) == ("sync", "auto")
    r = parse_section(RunConfig, {"days": 54}, key="run")
    assert r.replicas == 100 and r.tokens is None
    with pytest.raises(InputError, match="must be a mapping"):
        parse_section(RunConfig, [1, 2], key="run")


@pytest.mark.parametrize("kwargs,field", [
    (dict(step_time_s=0.0), "step_time_s"),
    (dict(gpus=100), "cluster.gpus"),
    (dict(gpus_per_node=0), "cluster.gpus_per_node"),
])
def test_simulate_run_rejects_impossible_jobs(kwargs, field):
    args = dict(step_time_s=1.0, tokens_per_step=1e6, gpus=64, gpus_per_node=8,
                faults=FaultConfig(job_mtbf_h=1), checkpoint=CheckpointConfig(stall_s=1),
                run=RunConfig(days=1, replicas=1), rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(InputError) as err:
        simulate_run(**args)
    assert err.value.field == field


def test_checkpoint_costs_follow_size_and_bandwidths():
    size, nodes = 8e12, 100
    base = dict(size_bytes=size, save_bytes_per_s=2e11, load_bytes_per_s=5e11,
                host_copy_bytes_per_s_per_node=4e10, peer_copy_bytes_per_s_per_node=2e10)
    sync = resolve_costs(CheckpointConfig(**base), nodes, 3600.0, 1.0)
    assert (sync.stall_s, sync.persist_s, sync.restore_s) == (40.0, 0.0, 16.0)
    asy = resolve_costs(CheckpointConfig(mode="async", **base), nodes, 3600.0, 1.0)
    assert (asy.stall_s, asy.persist_s, asy.restore_s) == (2.0, 40.0, 16.0)
    mem = resolve_costs(CheckpointConfig(mode="in-memory", **base), nodes, 3600.0, 1.0)
    assert (mem.stall_s, mem.persist_s, mem.restore_s, mem.memory_restore_s) == \
        (4.0, 40.0, 16.0, 4.0)
    explicit = resolve_costs(CheckpointConfig(stall_s=7.0, **base), nodes, 3600.0, 1.0)
    assert explicit.stall_s == 7.0
    assert sync.interval_s == pytest.approx(daly_interval_s(40.0, 3600.0))
    fixed = resolve_costs(CheckpointConfig(stall_s=0.0), nodes, 3600.0, 2.5)
    assert fixed.interval_s == 2.5 and fixed.restore_s == 0.0


def test_daly_interval_is_near_the_true_optimum_and_reduces_to_young():
    from scipy.optimize import minimize_scalar   # here: a second to import
    for delta, mtbf in ((10.0, 36000.0), (60.0, 3600.0), (300.0, 3600.0)):
        best = minimize_scalar(lambda tau: -daly_goodput(tau, delta, 0.0, mtbf),
                               bounds=(1.0, mtbf), method="bounded").x
        assert daly_interval_s(delta, mtbf) == pytest.approx(best, rel=0.02)
    assert daly_interval_s(1e-3, 1e6) == pytest.approx(young_interval_s(1e-3, 1e6), rel=1e-4)
    assert daly_interval_s(5000.0, 2000.0) == 2000.0


def test_llama3_preset_rates_reproduce_the_published_counts():
    data = load_llama3_counts()
    assert sum(c["count"] for c in data["causes"].values()) == 419
    assert "Llama 3" in data["source"]
    sources = resolve_sources(FaultConfig(preset="llama3-54day",
                                          spares={"nodes": 1, "repair_h": 1}), 16384, 8)
    window_s = 54 * 86400.0
    for s in sources:
        assert s.rate_per_s * window_s == pytest.approx(data["causes"][s.name]["count"])
    assert sum(s.rate_per_s for s in sources) * window_s == pytest.approx(419)
    half = resolve_sources(FaultConfig(preset="llama3-54day",
                                       spares={"nodes": 1, "repair_h": 1}), 8192, 8)
    by = {s.name: s.rate_per_s * window_s for s in half}
    assert by["faulty_gpu"] == pytest.approx(74) and by["software_bug"] == pytest.approx(54)
    assert by["host_maintenance"] == pytest.approx(16)
