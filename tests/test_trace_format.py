"""Our Chrome traces follow the Trace Event Format (what Perfetto and chrome://tracing read).

Perfetto's trace processor (the ``perfetto`` package) downloads a native binary
on first use, which cannot work without network access, so the format's rules
are checked here instead (:mod:`sim.trace_format_check`).
"""
import json
from pathlib import Path

import pytest
import yaml

from sim.chrome_trace import run_timeline_path
from sim.cli import main
from sim.trace_format_check import problems

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "workloads" / "examples"


def _trace(tmp_path, *args):
    out = tmp_path / "t.json"
    assert main([*args, "--chrome-trace", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("args", [
    ["run", str(EX / "tp_dp_16gpu.json")],
    ["run", str(EX / "pipeline_2stage.json")],
    ["run", "--chakra", str(EX / "chakra" / "dp_64"), "--network",
     str(EX / "chakra" / "switch_2d_8x8.yml"), "--system",
     str(EX / "chakra" / "system_2d_chunked.json")],
])
def test_step_traces_follow_the_format(tmp_path, capsys, args):
    trace = _trace(tmp_path, *args)
    assert problems(trace) == []
    assert any(e["ph"] == "X" for e in trace["traceEvents"])


def test_run_timeline_trace_follows_the_format(tmp_path, capsys):
    scn = {"name": "t", "trace": str(EX / "data_parallel_4gpu.json"),
           "faults": {"job_mtbf_h": 2.0, "detection_s": 60, "restart_s": 120},
           "checkpoint": {"mode": "sync", "interval_s": 1800, "stall_s": 30},
           "run": {"days": 1, "replicas": 2}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scn))
    assert problems(_trace(tmp_path, "run", str(path))) == []
    timeline = json.loads(run_timeline_path(tmp_path / "t.json").read_text())
    assert problems(timeline) == []
    assert any(e["ph"] == "i" for e in timeline["traceEvents"])


@pytest.mark.parametrize("event,needle", [
    ({"ph": "Q", "name": "a", "pid": 0, "tid": 0, "ts": 0}, "unknown phase"),
    ({"ph": "X", "name": "a", "pid": 0, "tid": 0, "ts": 0}, "dur"),
    ({"ph": "X", "name": "a", "pid": 0, "tid": 0, "ts": 0, "dur": -1}, "dur"),
    ({"ph": "X", "name": "a", "pid": 0, "tid": 0, "ts": float("nan"), "dur": 1}, "ts"),
    ({"ph": "X", "name": 3, "pid": 0, "tid": 0, "ts": 0, "dur": 1}, "name"),
    ({"ph": "X", "name": "a", "pid": [0], "tid": 0, "ts": 0, "dur": 1}, "pid"),
    ({"ph": "M", "name": "thread_name", "pid": 0, "tid": 0, "args": {"label": "x"}}, "args.name"),
    ({"ph": "M", "name": "process_sort_index", "pid": 0, "args": {"sort_index": "1"}},
     "sort_index"),
    ({"ph": "M", "name": "colour", "pid": 0, "args": {}}, "unknown metadata"),
    ({"ph": "i", "s": "q", "name": "a", "pid": 0, "tid": 0, "ts": 0}, "scope"),
    ({"ph": "s", "name": "a", "pid": 0, "tid": 0, "ts": 0}, "needs an id"),
    ({"ph": "C", "name": "a", "pid": 0, "tid": 0, "ts": 0, "args": {"v": "x"}}, "counter"),
])
def test_each_rule_catches_its_violation(event, needle):
    found = problems({"traceEvents": [event]})
    assert len(found) == 1 and needle in found[0]


def test_overlapping_slices_of_one_thread_are_caught_nested_ones_are_not():
    x = lambda ts, dur, tid=0: {"ph": "X", "name": "a", "pid": 0, "tid": tid,  # noqa: E731
                                "ts": ts, "dur": dur}
    assert problems([x(0, 10), x(2, 3), x(5, 5), x(10, 4)]) == []
    assert problems([x(0, 10), x(5, 10, tid=1)]) == []
    found = problems([x(0, 10), x(5, 10)])
    assert len(found) == 1 and "without nesting" in found[0]
    assert problems({"traceEvents": [], "displayTimeUnit": "s"})[0].startswith("displayTimeUnit")
