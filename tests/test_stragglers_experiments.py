"""The straggler what-if and checkpoint-interval experiments, run tiny into tmp_path:
CSV content checked against the attribution and Daly's closed form."""
import csv
import importlib.util
from pathlib import Path

import pytest

from sim.reliability import daly_goodput

ROOT = Path(__file__).resolve().parents[1]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _run(script, *args, capsys):
    """Run ``experiments/<script>`` in-process, as ``python experiments/<script>`` would."""
    spec = importlib.util.spec_from_file_location(f"_exp_{Path(script).stem}",
                                                  ROOT / "experiments" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(list(args)) == 0
    return capsys.readouterr().out


def test_checkpoint_interval_csv_follows_daly_and_peaks_at_the_optimum(tmp_path, capsys):
    out = _run("checkpoint_interval.py", "--mtbf-h", "0.5,4", "--points", "5",
               "--replicas", "30", "--days", "6", "--stall-s", "60", "--restart-s", "300",
               "--out", str(tmp_path), capsys=capsys)
    rows = _rows(tmp_path / "checkpoint_interval.csv")
    assert len(rows) == 10 and (tmp_path / "checkpoint_interval.png").exists()
    assert (tmp_path / "checkpoint_interval.pdf").stat().st_size > 0
    for r in rows:
        tau, m_s = float(r["interval_s"]), float(r["mtbf_h"]) * 3600
        assert float(r["goodput_daly"]) == pytest.approx(daly_goodput(tau, 60, 300, m_s))
        half = (float(r["goodput_ci_hi"]) - float(r["goodput_ci_lo"])) / 2
        assert abs(float(r["goodput"]) - float(r["goodput_daly"])) < 5 * half + 0.005
    for m in ("0.5", "4.0"):
        block = sorted((r for r in rows if r["mtbf_h"] == m), key=lambda r: float(r["interval_s"]))
        best = [r for r in block if r["best_simulated"] == "True"]
        assert len(best) == 1
        # the grid is centred on Daly's optimum: the middle point wins
        assert float(best[0]["interval_s"]) == pytest.approx(float(block[2]["daly_interval_s"]))
    assert "Daly optimum" in out


def test_straggler_whatif_quick_csv_matches_its_attribution(tmp_path, capsys):
    out = _run("straggler_whatif.py", "--quick", "--factor", "0.5", "--out", str(tmp_path),
               capsys=capsys)
    steps = _rows(tmp_path / "step_time.csv")
    assert [r["case"] for r in steps] == ["no straggler", "GPU 0 at 0.5x"]
    base, slow = (float(r["step_time_s"]) for r in steps)
    assert slow > base > 0 and all(r["gpus"] == "16" for r in steps)
    classes = _rows(tmp_path / "wait_by_class.csv")
    assert sum(int(c["ranks"]) for c in classes) == 16
    slowest = [c for c in classes if float(c["speed"]) == 0.5]
    assert len(slowest) == 1 and slowest[0]["label"] == "rank 0"
    kinds = {r["kind"]: r for r in _rows(tmp_path / "by_op_kind.csv")}
    assert float(kinds["compute"]["extra_busy_rank_s"]) > 0   # only rank 0 computes longer
    text = (tmp_path / "attribution.txt").read_text()
    assert "slow_gpu gpu=0 factor=0.5" in text and text.splitlines()[0] in out
    assert (tmp_path / "straggler_whatif.png").exists()
