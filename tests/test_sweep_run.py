"""Running sweeps: error rows, agreement with ``run``, closed forms, resume, backends."""
import csv
import json

import pytest

from sim.scenario.load import load_scenario
from sim.scenario.execute import run_scenario
from sim.sweep import choose_backend, have_dask, parse_sweep, run_sweep
from sim.sweep.store import RESULTS_CSV, RESULTS_JSONL
from workloads.errors import InputError

SEQ_LEN = 1024
GLOBAL_BATCH = 16
TINY = {"name": "tiny", "model": {"layers": 4, "hidden": 1024, "heads": 16, "ffn_hidden": 4096,
                                  "vocab": 32000, "seq_len": SEQ_LEN},
        "cluster": {"gpu": "a100-80gb", "gpus": 16}, "parallelism": {"tp": 2, "pp": 2},
        "training": {"global_batch": GLOBAL_BATCH, "micro_batch": 1}}


def tiny_sweep(**extra):
    data = {"base": TINY, "grid": {"parallelism.tp": [1, 4], "parallelism.pp": [2, 8]},
            "metrics": ["step_time_s", "mfu", "tokens_per_s", "gpus", "breakdown.bubble_s"]}
    return parse_sweep({**data, **extra}, "tiny.yaml")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def jsonl(out):
    return [json.loads(line) for line in (out / RESULTS_JSONL).read_text().splitlines()]


def test_sweep_rows_errors_and_closed_forms(tmp_path):
    outcome = run_sweep(tiny_sweep(), tmp_path, progress=False)
    assert outcome.backend == "inline" and outcome.resumed == 0
    status = {(r["varied"]["parallelism.tp"], r["varied"]["parallelism.pp"]): r["status"]
              for r in outcome.records}
    # pp=8 exceeds the 4 layers: an input error row, not a crash
    assert status == {(1, 2): "ok", (1, 8): "error", (4, 2): "ok", (4, 8): "error"}
    rows = read_csv(tmp_path / RESULTS_CSV)
    assert [r["index"] for r in rows] == ["0", "1", "2", "3"]
    assert list(rows[0]) == ["index", "status", "parallelism.tp", "parallelism.pp", "step_time_s",
                             "mfu", "tokens_per_s", "gpus", "breakdown.bubble_s", "error"]
    for row in rows:
        if row["status"] == "ok":
            # tokens per step = global batch x sequence length
            assert float(row["tokens_per_s"]) * float(row["step_time_s"]) == \
                pytest.approx(GLOBAL_BATCH * SEQ_LEN, rel=1e-9)
            assert row["gpus"] == "16" and 0 < float(row["mfu"]) < 1 and row["error"] == ""
        else:
            # pp=8 exceeds the 4 layers (tp=1) or tp*pp=32 exceeds the 16 GPUs (tp=4)
            # found when the point's scenario is checked: the message names the base
            assert row["step_time_s"] == "" and row["error"].startswith(
                ("sweep: base: parallelism.pp = 8: ", "sweep: base: cluster.gpus = 16: "))
            assert "\n" not in row["error"]
    assert len(jsonl(tmp_path)) == 4


def test_point_results_equal_clustersim_run_with_the_same_overrides(tmp_path):
    outcome = run_sweep(tiny_sweep(), tmp_path, progress=False)
    base = tmp_path / "base.yaml"
    base.write_text(json.dumps(TINY))
    for rec, point in zip(outcome.records, outcome.points):
        if rec["status"] != "ok":
            with pytest.raises(InputError):
                run_scenario(load_scenario(str(base), point.set_args())[0])
            continue
        direct = run_scenario(load_scenario(str(base), point.set_args())[0]).result
        for key in ("step_time_s", "mfu", "hfu", "tokens_per_s", "memory_gb_per_gpu", "breakdown"):
            assert rec["result"][key] == direct[key]


def test_seeds_multiply_points_and_reach_the_run(tmp_path):
    outcome = run_sweep(tiny_sweep(grid={"parallelism.tp": [2]}, seeds=[3, 7]), tmp_path,
                        progress=False)
    assert [r["seed"] for r in outcome.records] == [3, 7]
    assert [r["result"]["sim"]["seed"] for r in outcome.records] == [3, 7]
    assert [row["seed"] for row in read_csv(tmp_path / RESULTS_CSV)] == ["3", "7"]


def test_resume_runs_only_new_points_and_keeps_index_order(tmp_path):
    first = run_sweep(tiny_sweep(grid={"parallelism.tp": [1, 4], "parallelism.pp": [2]}),
                      tmp_path, progress=False)
    assert [r["status"] for r in first.records] == ["ok", "ok"]
    again = run_sweep(tiny_sweep(), tmp_path, progress=False)
    assert again.resumed == 2 and len(again.records) == 4
    assert len(jsonl(tmp_path)) == 4          # each point written once
    assert [r["index"] for r in again.records] == [0, 1, 2, 3]
    assert [r["index"] for r in read_csv(tmp_path / RESULTS_CSV)] == ["0", "1", "2", "3"]
    # the resumed point (tp=4, pp=2) now has index 2 and its earlier result
    assert again.records[2]["result"] == first.records[1]["result"]
    fresh = run_sweep(tiny_sweep(), tmp_path, progress=False, resume=False)
    assert fresh.resumed == 0 and len(jsonl(tmp_path)) == 4


def test_resume_after_a_kill_mid_write_and_retry_of_crashes(tmp_path):
    run_sweep(tiny_sweep(), tmp_path, progress=False)
    lines = (tmp_path / RESULTS_JSONL).read_text().splitlines()
    crashed = json.loads(lines[1])
    crashed.update(status="crash", error="RuntimeError: lost", result=None)
    # record 0 as is, record 1 crashed, record 2 cut short, record 3 missing
    (tmp_path / RESULTS_JSONL).write_text(lines[0] + "\n" + json.dumps(crashed) + "\n"
                                          + lines[2][:40])
    outcome = run_sweep(tiny_sweep(), tmp_path, progress=False)
    assert outcome.resumed == 1
    assert [r["status"] for r in outcome.records] == ["ok", "error", "ok", "error"]
    text = (tmp_path / RESULTS_JSONL).read_text().splitlines()
    assert lines[2][:40] not in text          # the cut line is repaired away
    assert sorted(json.loads(t)["index"] for t in text[2:]) == [1, 2, 3]


def test_a_crashing_point_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import sim.scenario.execute as runner
    real = runner.run_scenario

    def flaky(scn, folder, seed=None, **kw):
        if scn.parallelism.tp == 1 and scn.parallelism.pp == 2:
            raise RuntimeError("engine bug\nsecond line")
        return real(scn, folder, seed=seed, **kw)

    monkeypatch.setattr(runner, "run_scenario", flaky)
    outcome = run_sweep(tiny_sweep(), tmp_path, progress=False)
    assert [r["status"] for r in outcome.records] == ["crash", "error", "ok", "error"]
    assert outcome.records[0]["error"] == "RuntimeError: engine bug second line"
    assert outcome.count("crash") == 1 and outcome.count("ok") == 1
    monkeypatch.setattr(runner, "run_scenario", real)
    retried = run_sweep(tiny_sweep(), tmp_path, progress=False)
    assert retried.resumed == 3 and retried.records[0]["status"] == "ok"


def test_unknown_scenario_key_in_the_sweep_fails_before_running(tmp_path):
    with pytest.raises(InputError) as e:
        run_sweep(tiny_sweep(grid={"parallelism.tpp": [1, 2]}), tmp_path, sweep_file="s.yaml",
                  progress=False)
    assert e.value.file == "s.yaml" and e.value.field == "grid.parallelism.tpp"
    assert not (tmp_path / RESULTS_JSONL).exists()
    with pytest.raises(InputError) as e:
        run_sweep(tiny_sweep(set={"parallelism.tp.x": 1}, grid={}), tmp_path,
                  sweep_file="s.yaml", progress=False)
    assert e.value.field == "set.parallelism.tp.x"


def test_base_preset_path_and_missing(tmp_path):
    (tmp_path / "scn").mkdir()
    (tmp_path / "scn" / "tiny.yaml").write_text(json.dumps(TINY))
    sweep_file = tmp_path / "s.yaml"
    spec = parse_sweep({"base": "scn/tiny.yaml", "grid": {"parallelism.tp": [2]}})
    out = run_sweep(spec, tmp_path / "o", sweep_file=sweep_file, progress=False)
    assert out.records[0]["status"] == "ok"
    with pytest.raises(InputError) as e:
        run_sweep(parse_sweep({"base": "no-such-preset"}), tmp_path / "o2",
                  sweep_file=sweep_file, progress=False)
    assert e.value.file == str(sweep_file) and e.value.field == "base"


def test_backend_choice_and_errors(monkeypatch):
    assert choose_backend(1, None) == "inline"
    assert choose_backend(2, None) == ("dask" if have_dask() else "processes")
    assert choose_backend(2, None, "processes") == "processes"
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="--workers"):
            choose_backend(bad, None)
    with pytest.raises(InputError, match="--scheduler"):
        choose_backend(2, "tcp://h:8786", "processes")
    monkeypatch.setattr("sim.sweep.backends.have_dask", lambda: False)
    assert choose_backend(2, None) == "processes"
    with pytest.raises(InputError) as e:
        choose_backend(1, "tcp://127.0.0.1:8786")
    assert e.value.field == "--scheduler" and "clustersim[sweep]" in str(e.value)


def _metric_rows(path):
    return [{k: v for k, v in r.items()} for r in read_csv(path)]


def test_processes_give_the_same_rows_as_inline(tmp_path):
    run_sweep(tiny_sweep(), tmp_path / "a", progress=False)
    out = run_sweep(tiny_sweep(), tmp_path / "b", workers=2, backend="processes", progress=False)
    assert out.backend == "processes"
    assert _metric_rows(tmp_path / "a" / RESULTS_CSV) == _metric_rows(tmp_path / "b" / RESULTS_CSV)


def test_dask_scheduler_gives_the_same_rows_as_inline(tmp_path):
    run_sweep(tiny_sweep(), tmp_path / "a", progress=False)
    if not have_dask():
        with pytest.raises(InputError, match="clustersim\\[sweep\\]"):
            run_sweep(tiny_sweep(), tmp_path / "b", scheduler="tcp://127.0.0.1:1",
                      progress=False)
        return
    from distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        out = run_sweep(tiny_sweep(), tmp_path / "b", scheduler=cluster.scheduler_address,
                        progress=False)
    assert out.backend == "scheduler"
    assert _metric_rows(tmp_path / "a" / RESULTS_CSV) == _metric_rows(tmp_path / "b" / RESULTS_CSV)
