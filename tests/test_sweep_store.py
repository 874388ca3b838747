"""Sweep folders: base and point hashes, refusal of a different base, torn lines, the lock."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from sim.sweep import parse_sweep, run_sweep
from sim.sweep.store import LOCK, RESULTS_JSONL, ResultStore, scenario_sha256
from sim.sweep.summary import check_rank_by
from workloads.errors import InputError

TINY = {"name": "tiny", "model": {"layers": 4, "hidden": 1024, "heads": 16, "ffn_hidden": 4096,
                                  "vocab": 32000, "seq_len": 1024},
        "cluster": {"gpu": "a100-80gb", "gpus": 16}, "parallelism": {"tp": 2, "pp": 2},
        "training": {"global_batch": 16, "micro_batch": 1}}


def sweep(base=TINY, **extra):
    return parse_sweep({"base": base, "grid": {"parallelism.tp": [1, 4]}, **extra}, "s.yaml")


def records(out):
    return [json.loads(line) for line in (out / RESULTS_JSONL).read_text().splitlines()]


def test_folder_records_base_and_point_hashes(tmp_path):
    outcome = run_sweep(sweep(), tmp_path, progress=False)
    manifest = yaml.safe_load((tmp_path / "sweep.yaml").read_text())
    assert manifest["base_sha256"] == scenario_sha256(TINY, tmp_path)
    hashes = [r["point_sha256"] for r in records(tmp_path)]
    assert len(set(hashes)) == 2 and all(len(h) == 64 for h in hashes)
    assert outcome.resumed == 0
    assert run_sweep(sweep(), tmp_path, progress=False).resumed == 2


def test_resume_with_a_different_base_is_refused_and_says_why(tmp_path):
    run_sweep(sweep(), tmp_path, progress=False)
    before = (tmp_path / RESULTS_JSONL).read_text()
    changed = {**TINY, "model": {**TINY["model"], "hidden": 2048}}
    with pytest.raises(InputError, match="computed from a different base scenario.*--fresh"):
        run_sweep(sweep(changed), tmp_path, progress=False)
    # the folder still describes the results it holds
    assert (tmp_path / RESULTS_JSONL).read_text() == before
    assert yaml.safe_load((tmp_path / "sweep.yaml").read_text())["base"]["model"]["hidden"] == 1024
    fresh = run_sweep(sweep(changed), tmp_path, progress=False, resume=False)
    assert fresh.resumed == 0 and fresh.count("ok") == 2


def test_changed_fixed_overrides_recompute_points(tmp_path):
    first = run_sweep(sweep(), tmp_path, progress=False)
    second = run_sweep(sweep(set={"training.global_batch": 32}), tmp_path, progress=False)
    assert second.resumed == 0
    assert second.records[0]["result"]["step_time_s"] != first.records[0]["result"]["step_time_s"]


def test_edited_trace_file_changes_the_hash(tmp_path):
    trace = tmp_path / "t.json"
    trace.write_text('{"a": 1}')
    h1 = scenario_sha256({"trace": "t.json"}, tmp_path)
    trace.write_text('{"a": 2}')
    assert scenario_sha256({"trace": "t.json"}, tmp_path) != h1
    assert scenario_sha256({"trace": "t.json"}, tmp_path, seed=1) != \
        scenario_sha256({"trace": "t.json"}, tmp_path, seed=2)


def test_torn_last_line_is_repaired_on_resume(tmp_path):
    run_sweep(sweep(), tmp_path, progress=False)
    with open(tmp_path / RESULTS_JSONL, "a") as f:
        f.write('{"index": 1, "key": "tor')
    again = run_sweep(sweep(), tmp_path, progress=False)
    assert again.resumed == 2
    lines = (tmp_path / RESULTS_JSONL).read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_second_sweep_on_a_locked_folder_stops(tmp_path):
    store = ResultStore(tmp_path, ["index"])
    with store.locked():
        assert (tmp_path / LOCK).read_text() == str(os.getpid())
        # another process (flock locks are per open file, so use a child)
        code = ("import sys; from sim.sweep.store import ResultStore\n"
                "try:\n    ResultStore(sys.argv[1], ['index']).locked().__enter__()\n"
                "except Exception as e:\n    print(e); sys.exit(2)\n")
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2
        assert f"another sweep (pid {os.getpid()}) is writing to this folder" in proc.stdout
    with store.locked():                       # released when the first sweep ends
        pass


def test_rank_by_an_unknown_metric_is_an_error():
    recs = [{"status": "ok", "result": {"mfu": 0.5, "breakdown": {"bubble_s": 1.0}}},
            {"status": "error", "result": None}]
    with pytest.raises(InputError, match=r"--rank-by = 'nosuchmetric': no such metric.*"
                                         r"mfu, breakdown.bubble_s"):
        check_rank_by(recs, "nosuchmetric", "s.yaml")
    check_rank_by(recs, "min:breakdown.bubble_s", "s.yaml")
    check_rank_by([{"status": "error", "result": None}], "nosuchmetric", "s.yaml")
