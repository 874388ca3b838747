"""The command line: JSON contract, Chrome traces, and exit status 2 on bad input."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from tests.helpers import one_line_error, run_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "workloads" / "examples"


def run_subprocess(*args):
    """``python -m sim.cli ARGS`` as a real process (the installed entry point's path)."""
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True,
                          text=True)


def test_run_trace_json_is_one_object(capsys):
    assert main(["run", str(EXAMPLES / "tp_dp_16gpu.json"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for key in ("step_time_s", "tokens_per_s", "mfu", "hfu", "tflops_per_gpu", "gpus",
                "memory_gb_per_gpu", "breakdown", "sim"):
        assert key in res
    assert res["gpus"] == 16 and res["step_time_s"] > 0
    b = res["breakdown"]
    assert b["compute_s"] + b["exposed_comm_s"] + b["bubble_s"] == pytest.approx(res["step_time_s"])
    assert res["sim"]["events"] > 0


def test_chrome_trace_has_a_track_per_rank_class_and_stream(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["run", str(EXAMPLES / "pipeline_2stage.json"), "--chrome-trace", str(out)]) == 0
    events = json.loads(out.read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    threads = {(e["pid"], e["args"]["name"]) for e in events if e.get("name") == "thread_name"}
    assert {(0, "compute"), (0, "send"), (0, "recv"), (1, "compute")} <= threads
    assert all(e["dur"] >= 0 for e in spans) and len(spans) == 16


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_mismatched_collective_exits_2_naming_the_ops(tmp_path):
    t = {"world_size": 2, "groups": {"w": [[0, 1]]}, "programs": [
        {"ranks": [0], "ops": [{"id": "grad_ar", "kind": "all_reduce", "group": "w", "bytes": 8}]},
        {"ranks": [1], "ops": [{"id": "param_ag", "kind": "all_gather", "group": "w", "bytes": 8}]}]}
    one_line_error(run_cli("run", _write(tmp_path, "m.json", json.dumps(t))),
                    "m.json", "mismatched collective", "grad_ar", "param_ag")


def test_unmatched_send_exits_2_naming_the_op(tmp_path):
    t = {"world_size": 2, "programs": [
        {"ranks": [0], "ops": [{"id": "act_send", "kind": "send", "peer": 1, "bytes": 8}]},
        {"ranks": [1], "ops": []}]}
    one_line_error(run_cli("run", _write(tmp_path, "u.json", json.dumps(t))),
                    "u.json", "act_send", "never finish")


def test_cyclic_trace_exits_2(tmp_path):
    t = {"world_size": 1, "programs": [{"ranks": [0], "ops": [
        {"id": "a", "kind": "compute", "duration_s": 1, "deps": ["b"]},
        {"id": "b", "kind": "compute", "duration_s": 1, "deps": ["a"], "stream": "x"}]}]}
    one_line_error(run_cli("run", _write(tmp_path, "c.json", json.dumps(t))),
                    "c.json", "cycle")


def test_broken_yaml_exits_2_naming_the_file(tmp_path):
    # a real process too: exit status and stderr as a shell sees them
    one_line_error(run_subprocess("run", _write(tmp_path, "s.yaml", "model: [unclosed\n")),
                   "s.yaml", "invalid YAML")
    one_line_error(run_cli("run", _write(tmp_path, "s.yaml", "model: [unclosed\n")),
                    "s.yaml", "invalid YAML")


def test_unknown_scenario_key_exits_2_naming_it(tmp_path):
    text = "trace: x.json\nclusterr: {gpu: a100-80gb}\n"
    one_line_error(run_cli("run", _write(tmp_path, "s.yaml", text)), "s.yaml", "clusterr",
                    "unknown key")


def test_bad_collective_arguments_exit_2():
    one_line_error(run_cli("collective", "--op", "all_reduce", "--bytes", "1G", "--gpus", "8",
                            "--topology", "moon"), "--topology", "moon")
    one_line_error(run_cli("collective", "--op", "all_reduce", "--bytes", "1G", "--gpus", "8",
                            "--algorithm", "magic"), "magic")


def test_unknown_routing_exits_2():
    one_line_error(run_cli("run", str(EXAMPLES / "tp_dp_16gpu.json"), "--set",
                            "cluster.fabric.routing=bogus"), "cluster.fabric.routing", "bogus")


def test_routing_modes_both_run(capsys):
    for mode in ("spray", "ecmp"):
        assert main(["run", str(EXAMPLES / "tp_dp_16gpu.json"), "--json", "--set",
                     f"cluster.fabric.routing={mode}"]) == 0
        assert json.loads(capsys.readouterr().out)["step_time_s"] > 0


def test_run_process_ends_without_teardown_yet_prints_everything(capsys):
    # `python -m sim.cli run` leaves its heap to the operating system at exit:
    # the JSON must still be whole, the exit code the command's
    path = str(EXAMPLES / "tp_dp_16gpu.json")
    p = run_subprocess("run", path, "--json")
    assert p.returncode == 0 and p.stderr == ""
    assert main(["run", path, "--json"]) == 0
    assert json.loads(p.stdout) == json.loads(capsys.readouterr().out) | {
        "sim": json.loads(p.stdout)["sim"]}
    bad = run_subprocess("run", path, "--set", "sim.fold=maybe")
    assert bad.returncode == 2 and bad.stdout == ""


def test_console_script_is_the_same_entry_as_python_m():
    # the installed `clustersim` command and `python -m sim.cli` share one entry,
    # so a user's command ends (and prints) exactly as the benchmarked one does
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert 'clustersim = "sim.cli:entry"' in text
    path = str(EXAMPLES / "tp_dp_16gpu.json")
    code = ("import sys; sys.argv = ['clustersim', 'run', %r, '--json']; "
            "from sim.cli import entry; entry()" % path)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and p.stderr == ""
    assert json.loads(p.stdout)["step_time_s"] == json.loads(
        run_subprocess("run", path, "--json").stdout)["step_time_s"]
    bad = subprocess.run([sys.executable, "-c", code.replace("'--json'", "'--set', 'sim.fold=maybe'")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1


def test_profiled_run_still_writes_its_profile(tmp_path):
    # under cProfile the run exits normally so the profile is written
    out = tmp_path / "run.prof"
    p = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "sim.cli",
                        "run", str(EXAMPLES / "tp_dp_16gpu.json"), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and json.loads(p.stdout)["step_time_s"] > 0
    assert out.stat().st_size > 0
