"""``clustersim sweep``: table, --json object, exit status, example sweep files."""
import argparse
import json
from pathlib import Path

import pytest

from sim.cli import main
from sim.commands.sweep import BACKEND_CHOICES, add_sweep_arguments, cmd_sweep
from sim.sweep import BACKENDS, expand_points, load_sweep, resolve_base
from sim.sweep.point import check_keys
from tests.helpers import one_line_error, run_cli

SWEEPS = Path(__file__).resolve().parents[1] / "sim" / "data" / "sweeps"
TINY_SWEEP = """
base:
  model: {layers: 4, hidden: 1024, heads: 16, ffn_hidden: 4096, vocab: 32000, seq_len: 1024}
  cluster: {gpu: a100-80gb, gpus: 16}
  training: {global_batch: 16, micro_batch: 1}
grid:
  parallelism.tp: [1, 2]
  parallelism.pp: [2, 8]
metrics: [step_time_s, mfu, tokens_per_s]
"""


def parse(argv):
    p = argparse.ArgumentParser()
    add_sweep_arguments(p)
    return p.parse_args(argv)


@pytest.fixture
def sweep_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SWEEP)
    return path


def test_cli_prints_table_and_best_point(sweep_file, tmp_path, capsys):
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["#", "parallelism.tp", "parallelism.pp", "status", "step_time_s",
                              "mfu", "tokens_per_s"]
    assert [line.split()[3] for line in out[1:5]] == ["ok", "error", "ok", "error"]
    best = [line for line in out if line.startswith("best by mfu (max): #")]
    assert len(best) == 1
    assert out[-1].startswith("4 points: 2 ok, 2 errors, 0 crashed, 0 resumed")
    assert (tmp_path / "o" / "results.csv").exists()


def test_json_summary_is_one_object_and_ranks_by_choice(sweep_file, tmp_path, capsys):
    out_dir = tmp_path / "o"
    assert cmd_sweep(parse([str(sweep_file), "--out", str(out_dir), "--json"])) == 0
    info = json.loads(capsys.readouterr().out)
    assert {k: info[k] for k in ("points", "ok", "errors", "crashes", "resumed")} == \
        {"points": 4, "ok": 2, "errors": 2, "crashes": 0, "resumed": 0}
    assert info["out"] == str(out_dir) and info["backend"] == "inline"
    rows = [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines()]
    ok = [r for r in rows if r["status"] == "ok"]
    fastest = min(ok, key=lambda r: r["result"]["step_time_s"])
    assert cmd_sweep(parse([str(sweep_file), "--out", str(out_dir), "--json",
                            "--rank-by", "step_time_s"])) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["resumed"] == 4 and again["rank_by"] == "step_time_s"
    assert again["best"]["index"] == fastest["index"]
    assert again["best"]["metrics"]["step_time_s"] == fastest["result"]["step_time_s"]
    assert again["best"]["varied"] == fastest["varied"]
    # the best MFU point is the one with the highest MFU
    top = max(ok, key=lambda r: r["result"]["mfu"])
    assert info["best"]["index"] == top["index"]


def test_crashed_point_gives_exit_1(sweep_file, tmp_path, monkeypatch, capsys):
    import sim.scenario.execute as runner
    monkeypatch.setattr(runner, "run_scenario", lambda *a, **k: 1 / 0)
    assert cmd_sweep(parse([str(sweep_file), "--out", str(tmp_path / "o"), "--json"])) == 1
    info = json.loads(capsys.readouterr().out)
    # two points are impossible layouts, found before the engine runs: errors, not crashes
    assert info["crashes"] == 2 and info["errors"] == 2 and info["best"] is None


def test_bad_sweep_file_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: default\ngrids: {parallelism.tp: [1]}\n")
    proc = run_cli("sweep", str(path), "--out", str(tmp_path / "o"))
    one_line_error(proc, "bad.yaml", "grids", "unknown key")


@pytest.mark.parametrize("text, needles", [
    ("base: default\ngrid: {parallelism.tpp: [1, 2]}\n",
     ["bad.yaml", "grid.parallelism.tpp = 1", "not a scenario key"]),
    ("base: nope\n", ["bad.yaml", "base = 'nope'", "no such scenario"]),
    ("grid: {parallelism.tp: [1]}\nseeds: [1, 1]\n", ["bad.yaml", "seeds", "distinct"]),
])
def test_bad_sweeps_exit_2_naming_file_and_field(tmp_path, capsys, text, needles):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr()
    assert err.out == "" and len(err.err.strip().splitlines()) == 1
    for n in needles:
        assert n in err.err
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_backend_choices_match_the_backends():
    assert BACKEND_CHOICES == BACKENDS


@pytest.mark.parametrize("name", sorted(p.name for p in SWEEPS.glob("*.yaml")))
def test_example_sweeps_are_valid(name):
    spec = load_sweep(SWEEPS / name)
    points = expand_points(spec)
    check_keys(spec, resolve_base(spec, SWEEPS / name), points, name)
    assert len(points) >= 2


def test_tiny_example_sweep_runs(tmp_path, capsys):
    assert main(["sweep", str(SWEEPS / "tiny-tp-pp.yaml"), "--out", str(tmp_path)]) == 0
    assert "best by mfu (max)" in capsys.readouterr().out
