"""Both scale benchmarks in --quick mode: table and CSV columns, sane values.

No timing assertions: wall times depend on the machine. The two runs of the
benchmark scripts themselves are ``slow`` (they run whole benchmark cases;
folding and the closed forms are checked in the unit tests too); the
helpers and preset checks run in CI.
"""
import csv
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_bench_scale_quick_table(capsys):
    rows = _load("bench_scale").main(["--quick"])
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["case", "GPUs", "fold", "step_s", "wall_s", "sim_s", "events",
                      "classes", "rss_MB"]
    assert [(r["case"], r["fold"]) for r in rows] == [
        ("gpt3-175b-small", True), ("gpt3-175b-small", False),
        ("toy-dp", True), ("toy-dp", False)]
    for r in rows:
        assert "error" not in r, r
        assert r["step_time_s"] > 0 and r["events"] > 0 and r["peak_rss_mb"] > 0
        assert r["wall_s"] >= r["sim_wall_s"] > 0
        if r["fold"]:
            assert r["rank_classes"] < r["gpus"]
        else:
            assert r["rank_classes"] == r["gpus"]
    # folded and unfolded runs of these symmetric jobs agree
    for a, b in zip(rows[::2], rows[1::2]):
        assert a["step_time_s"] == pytest.approx(b["step_time_s"], rel=5e-3)
    # GPT-3: 8 pipeline stages are 8 rank classes; the toy job is one class
    assert rows[0]["rank_classes"] == 8 and rows[2]["rank_classes"] == 1
    toy = rows[2]
    assert toy["step_time_s"] == pytest.approx(toy["closed_form"]["step_s"], rel=1e-6)
    assert "unfolded / folded wall" in out and "closed form" in out


def test_toy_closed_form_is_comm_bound_when_allreduce_is_long():
    bs = _load("bench_scale")
    cf = bs.toy_closed_form_s(128, 8, iterations=2, layers=8, fwd_s=100e-6, bwd_s=200e-6,
                              grad_bytes=16 * 2**20, inter_bw_bytes_per_s=50e9)
    from sim.collectives import PROTOCOLS
    p = PROTOCOLS["simple"]
    n, nodes = 1024, 128
    step = ((n - nodes) * (2 * 0.5e-6 + p.intra_step_s)
            + nodes * (4 * 0.5e-6 + p.inter_step_s)) / n
    t_ar = 2 * (n - 1) / n * 2**21 / 50e9 + 2 * (n - 1) * step + p.base_latency_s
    assert cf["allreduce_s"] == pytest.approx(t_ar)
    # all-reduces (> 200 us each) queue behind the first backward: F + B + 8 T_ar
    assert cf["step_s"] == pytest.approx(2 * (8 * 100e-6 + 200e-6 + 8 * t_ar))
    # with a short all-reduce only the last one is exposed: F + 8 B + T_ar
    fast = bs.toy_closed_form_s(1, 2, iterations=1, layers=8, fwd_s=100e-6, bwd_s=200e-6,
                                grad_bytes=8.0, inter_bw_bytes_per_s=50e9,
                                inter_latency_s=0.0)
    assert fast["step_s"] == pytest.approx(8 * 100e-6 + 8 * 200e-6 + fast["allreduce_s"])


@pytest.mark.slow
def test_bench_cost_vs_gpus_quick_csv_and_plot(tmp_path, capsys):
    rows = _load("bench_cost_vs_gpus").main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["gpus", "fold", "wall_s", "sim_s", "events",
                                           "classes", "step_s", "rss_MB"]
    with (tmp_path / "cost_vs_gpus.csv").open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == ("gpus", "fold", "wall_s", "sim_wall_s", "events",
                                            "rank_classes", "step_time_s", "peak_rss_mb",
                                            "status")
        table = list(reader)
    assert [(r["gpus"], r["fold"], r["status"][:7]) for r in table] == [
        ("64", "True", "ok"), ("128", "True", "ok"), ("64", "False", "ok"),
        ("128", "False", "skipped")]
    ok = [r for r in table if r["status"] == "ok"]
    for r in ok:
        assert float(r["step_time_s"]) > 0 and int(r["events"]) > 0
        assert float(r["wall_s"]) > 0 and float(r["peak_rss_mb"]) > 0
    folded = [r for r in ok if r["fold"] == "True"]
    # weak scaling: the same 8 stage classes at every size, fewer than the GPUs
    assert all(int(r["rank_classes"]) == 8 < int(r["gpus"]) for r in folded)
    unfolded = next(r for r in ok if r["fold"] == "False")
    assert int(unfolded["rank_classes"]) == 64
    assert float(unfolded["step_time_s"]) == pytest.approx(float(folded[0]["step_time_s"]),
                                                           rel=5e-3)
    assert (tmp_path / "cost_vs_gpus.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "cost_vs_gpus.pdf").read_bytes()[:5] == b"%PDF-"
    assert len(rows) == len(table)


@pytest.mark.parametrize("name, gpus, tokens", [("llama3-405b-16k", 16384, 2048 * 8192),
                                                ("mixtral-8x22b-256", 256, 1024 * 8192)])
def test_benchmark_presets_fit_with_the_least_recompute(name, gpus, tokens):
    from sim.scenario.load import load_scenario
    from sim.scenario.workload import layout_of, stage_memory, training_of
    from workloads import models
    import topologies
    scn, _, _ = load_scenario(name)
    spec = models.get_model(scn.model)
    layout, training = layout_of(scn), training_of(scn, spec)
    assert layout.tp * layout.pp * layout.dp * layout.cp == gpus == scn.cluster.gpus
    assert scn.training.global_batch * training.seq_len == tokens
    hbm = topologies.gpu_spec(scn.cluster.gpu).hbm_bytes
    m = scn.training.global_batch // (layout.dp * scn.training.micro_batch)
    assert scn.parallelism.recompute == "none"
    assert stage_memory(spec, layout, training, m)["total_bytes"] <= hbm


def test_bench_cases_keeps_the_run_with_the_least_cpu_time():
    better = _load("bench_cases")._better
    a = {"case": "c", "version": "current", "step_time_s": 1.0, "cpu_s": 2.0, "wall_s": 2.1}
    b = dict(a, cpu_s=1.5, wall_s=3.0)
    failed = {"case": "c", "version": "current", "status": "exit 3: boom"}
    assert better(None, a) is a
    assert better(a, b) is b and better(b, a) is b
    assert better(failed, a) is a and better(a, failed) is a
    with pytest.raises(SystemExit, match="step time differs between runs"):
        better(a, dict(b, step_time_s=1.5))
