"""experiments/failure_rates.py on a tiny grid: CSV rows against the run-level
model's own invariants (more failures, less goodput; time to train at least
the failure-free time), the table and the figures."""
import csv

import pytest

from experiments import failure_rates


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_failure_rate_study_tiny_grid(tmp_path, capsys, monkeypatch):
    from sim.plots.check import text_overlaps
    from sim.plots.style import save
    overlaps = {}

    def checked_save(fig, out_dir, stem):
        overlaps[stem] = text_overlaps(fig)
        return save(fig, out_dir, stem)
    monkeypatch.setattr(failure_rates, "save", checked_save)
    assert failure_rates.main(["--step-time-s", "6.64", "--rate-scales", "0.5,1,2",
                               "--gpus", "8192,16384", "--replicas", "4",
                               "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = _rows(tmp_path / "failure_rates.csv")
    assert len(rows) == 3 * 3 * 2
    for stem in ("failure_rates", "failure_rates_grid"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 0
        assert (tmp_path / f"{stem}.pdf").stat().st_size > 0
    refs = [r for r in rows if r["reference"] == "True"]
    assert sorted(r["mode"] for r in refs) == ["async", "in-memory", "sync"]
    assert all(r["gpus"] == "16384" and float(r["rate_scale"]) == 1 for r in refs)
    for r in rows:
        assert float(r["time_to_train_days"]) >= float(r["ideal_days"])
        assert 0 < float(r["goodput"]) < 1
        # the interval never falls below the stall, nor below the persist time (async)
        floor = float(r["persist_s"]) if r["mode"] == "async" else float(r["stall_s"])
        assert float(r["interval_s"]) >= floor
    for mode in ("sync", "async", "in-memory"):
        g = [float(r["goodput"]) for r in sorted(
            (r for r in rows if r["mode"] == mode and r["gpus"] == "16384"),
            key=lambda r: float(r["rate_scale"]))]
        assert g[0] > g[1] > g[2]
        mtbf = {float(r["rate_scale"]): float(r["mtbf_h"]) for r in rows
                if r["mode"] == mode and r["gpus"] == "16384"}
        assert mtbf[0.5] == pytest.approx(2 * mtbf[1.0]) and mtbf[2.0] == pytest.approx(
            mtbf[1.0] / 2)
    # the preset at its own size: 419 interruptions in 54 days
    assert float(refs[0]["mtbf_h"]) == pytest.approx(54 * 24 / 419, rel=1e-6)
    assert "time to train" in out and "*" in out
    assert overlaps == {"failure_rates": [], "failure_rates_grid": []}


def test_failure_rate_study_rejects_unknown_mode(tmp_path):
    with pytest.raises(SystemExit) as err:
        failure_rates.main(["--modes", "sync,fast", "--out", str(tmp_path)])
    assert err.value.code == 2
