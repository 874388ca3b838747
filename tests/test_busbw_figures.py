"""Smoke test of the busbw figure script: CSV, figures, one tuner choice per size."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_figures_mark_one_choice_per_size(tmp_path):
    spec = importlib.util.spec_from_file_location("busbw_figures",
                                                  ROOT / "benchmarks" / "busbw_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    paths = mod.main(["--quick", "--out", str(tmp_path)])
    names = {p.name for p in paths}
    assert {"busbw_a100-80gb_16.png", "busbw_a100-80gb_16.pdf", "busbw_h100-sxm_8.png",
            "busbw_h100-sxm_8.pdf"} <= names
    assert all(p.stat().st_size > 1000 for p in paths)
    from sim.plots.style import read_rows
    rows = read_rows(tmp_path / "busbw.csv")
    for system, n in {(r["system"], r["gpus"]) for r in rows}:
        for size in {r["bytes"] for r in rows}:
            sel = [r for r in rows if (r["system"], r["gpus"], r["bytes"]) == (system, n, size)]
            chosen = [r for r in sel if str(r["chosen"]) in ("True", "true", "1")]
            assert len(chosen) == 1
            # the tuner's pick is within 5% of the best simulated curve at that size
            best = max(float(r["busbw_gb_s"]) for r in sel)
            assert float(chosen[0]["busbw_gb_s"]) >= best / 1.05
