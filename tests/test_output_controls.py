"""run's outputs: Chrome-trace size controls (micro-batch window, rank classes,
rounded timestamps, gzip), --out files, memory in bytes, MFU n/a for traces
of durations, scenario names with overrides, the dp-mismatch hint."""
import gzip
import json

import pytest

from sim.chrome_trace import microbatch_of, parse_indices, parse_range, run_timeline_path
from sim.cli import main

TINY = ["--set", "model.layers=4", "--set", "cluster.gpus=16", "--set", "parallelism.dp=null",
        "--set", "parallelism.tp=2", "--set", "parallelism.pp=2",
        "--set", "training.global_batch=16"]


def _events(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)["traceEvents"]


def test_trace_helpers():
    assert microbatch_of("F.mb12.c0.L2.qkv") == 12 and microbatch_of("dp.allreduce") is None
    assert parse_range("2:5", "f") == (2, 5) and parse_range("3", "f") == (3, 3)
    assert parse_indices("0,3:4", "f") == {0, 3, 4}
    for bad in ("5:2", "a", "-1", "1:2:3"):
        with pytest.raises(Exception):
            parse_range(bad, "f")
    assert run_timeline_path("out/t.json").name == "t.run.json"
    assert run_timeline_path("out/t.json.gz").name == "t.run.json.gz"


def test_trace_window_classes_rounding_and_gzip(tmp_path, capsys):
    full, part = tmp_path / "full.json", tmp_path / "sub" / "part.json.gz"
    assert main(["run", *TINY, "--chrome-trace", str(full)]) == 0
    assert main(["run", *TINY, "--chrome-trace", str(part), "--trace-microbatches", "1:2",
                 "--trace-classes", "0"]) == 0
    capsys.readouterr()
    ev_full = [e for e in _events(full) if e["ph"] == "X"]
    ev_part = [e for e in _events(part) if e["ph"] == "X"]
    mbs = {microbatch_of(e["name"]) for e in ev_full} - {None}
    assert len(mbs) >= 3 and min(mbs) == 0                  # 4 micro-batches per replica
    assert {e["pid"] for e in ev_part} == {0}
    assert {microbatch_of(e["name"]) for e in ev_part} - {None} == {1, 2}
    # the kept events are exactly those of the full trace in the window
    expect = [e for e in ev_full if e["pid"] == 0
              and microbatch_of(e["name"]) in (None, 1, 2)]
    assert len(ev_part) == len(expect)
    for e in ev_full:
        assert round(e["ts"], 3) == e["ts"] and round(e["dur"], 3) == e["dur"]
    assert part.read_bytes()[:2] == b"\x1f\x8b"


def test_out_writes_result_and_summary_and_bytes_are_bytes(tmp_path, capsys):
    out = tmp_path / "new" / "folder"
    assert main(["run", *TINY, "--json", "--out", str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert json.loads((out / "result.json").read_text())["step_time_s"] == res["step_time_s"]
    assert (out / "summary.txt").read_text().startswith("scenario")
    mem = res["memory"]
    assert mem["total_bytes"] == pytest.approx(res["memory_gb_per_gpu"] * 1e9)
    assert mem["total_bytes"] > 1e8
    assert res["name"].endswith("[model.layers=4, cluster.gpus=16, parallelism.dp=null, "
                                "parallelism.tp=2, parallelism.pp=2, "
                                "training.global_batch=16]")


def test_mfu_is_null_for_a_trace_of_durations(tmp_path, capsys):
    trace = {"format": "clustersim-trace", "version": 1, "name": "durations", "world_size": 2,
             "groups": {"dp": [[0, 1]]},
             "programs": [{"ranks": [0, 1], "ops": [
                 {"id": "a", "kind": "compute", "duration_s": 0.01},
                 {"id": "ar", "kind": "all_reduce", "group": "dp", "bytes": 1e6,
                  "deps": ["a"]}]}]}
    path = tmp_path / "d.json"
    path.write_text(json.dumps(trace))
    assert main(["run", str(path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["mfu"] is None and res["hfu"] is None and res["step_time_s"] > 0.01
    assert main(["run", str(path)]) == 0
    assert "MFU / HFU      n/a / n/a" in capsys.readouterr().out


def test_dp_mismatch_says_how_to_let_dp_follow(capsys):
    assert main(["run", "--set", "cluster.gpus=2048"]) == 2
    assert "parallelism.dp=null" in capsys.readouterr().err
