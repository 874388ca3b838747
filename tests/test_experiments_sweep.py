"""Experiment scripts on the sweep machinery, and the plotting helpers they share."""
import ast
import csv
from pathlib import Path

import pytest

from experiments import parallelism_sweep, scaling
from experiments.plotting import heatmap_grid, layout_bars, layout_heatmaps, ok_rows, \
    read_rows, save, scaling_efficiency, scaling_plot

ROOT = Path(__file__).resolve().parents[1]
SEQ_LEN = parallelism_sweep.TINY_MODEL["seq_len"]


#: modules of ours a plot may use: atomic output files, the plot style and
#: labels (no engine behind them)
PLOT_SAFE = {"sim.io", "sim.plots", "sim.plots.style", "sim.plots.labels",
             "sim.plots.results", "sim.plots.check"}


@pytest.mark.parametrize("path", ["experiments/plotting.py", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "sim" / "plots").glob("*.py"))])
def test_plotting_never_imports_the_engine(path):
    tree = ast.parse((ROOT / path).read_text())
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    ours = {m for m in modules if m.split(".")[0] in {"sim", "workloads", "topologies"}}
    assert ours <= PLOT_SAFE


def test_read_rows_parses_numbers_and_blanks(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("index,status,mfu,name,error\n0,ok,0.5,1f1b,\n1,error,,x,bad layout\n")
    rows = read_rows(path)
    assert rows == [{"index": 0, "status": "ok", "mfu": 0.5, "name": "1f1b", "error": None},
                    {"index": 1, "status": "error", "mfu": None, "name": "x",
                     "error": "bad layout"}]
    assert ok_rows(rows, "mfu") == rows[:1]


def test_heatmap_grid_means_seeds_and_leaves_holes():
    rows = [{"tp": 1, "pp": 2, "mfu": 0.2}, {"tp": 1, "pp": 2, "mfu": 0.4},
            {"tp": 2, "pp": 2, "mfu": 0.5}, {"tp": 2, "pp": 4, "status": "error", "mfu": None},
            {"tp": 1, "pp": 4, "mfu": float("nan")}]
    xs, ys, grid = heatmap_grid(rows, "tp", "pp", "mfu")
    assert xs == [1, 2] and ys == [2, 4]
    assert grid[0][0] == pytest.approx(0.3) and grid[0][1] == 0.5
    assert grid[1] == [None, None]


def test_scaling_efficiency_closed_form():
    rows = [{"g": 16, "r": 400.0}, {"g": 4, "r": 100.0}, {"g": 8, "r": 180.0}]
    assert scaling_efficiency(rows, "g", "r") == pytest.approx([1.0, 1.0, 0.9])
    assert scaling_efficiency([], "g", "r") == []


def test_figures_are_written_as_png_and_pdf(tmp_path):
    rows = [{"tp": t, "pp": p, "s": sch, "mfu": 0.1 * t + 0.01 * p, "step_time_s": 1.0 / t}
            for t in (1, 2) for p in (1, 2) for sch in ("1f1b", "interleaved")]
    rows.append({"tp": 4, "pp": 4, "s": "1f1b", "status": "error", "mfu": None,
                 "step_time_s": None})
    figs = {"heat": layout_heatmaps(rows, "tp", "pp", "mfu", panel="s", scale=100),
            "bars": layout_bars(rows, ["tp", "pp"], "step_time_s"),
            "scale": scaling_plot([{"g": 4, "t": 1.0, "r": 10.0}, {"g": 8, "t": 1.1, "r": 18.0}],
                                  "g", "t", "r")}
    assert len(figs["heat"].axes) == 3           # two panels and a colour bar
    for stem, fig in figs.items():
        png, pdf = save(fig, tmp_path, stem)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert pdf.read_bytes()[:5] == b"%PDF-"


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_parallelism_sweep_quick(tmp_path, capsys):
    out = tmp_path / "p"
    assert parallelism_sweep.main(["--quick", "--tp", "1,2", "--pp", "2,16", "--out",
                                   str(out)]) == 0
    rows = _csv(out / "results.csv")
    assert len(rows) == 2 * 2 * 2                 # tp x pp x (1f1b, interleaved)
    by_status = {(r["parallelism.tp"], r["parallelism.pp"]): r["status"] for r in rows}
    assert by_status[("1", "16")] == "error"      # 16 stages > 8 layers
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 4
    for r in ok:
        assert float(r["tokens_per_s"]) * float(r["step_time_s"]) == \
            pytest.approx(16 * SEQ_LEN, rel=1e-9)
        parts = sum(float(r[f"breakdown.{k}"]) for k in ("compute_s", "exposed_comm_s",
                                                           "bubble_s"))
        assert parts == pytest.approx(float(r["step_time_s"]), rel=1e-6)
    for stem in ("parallelism_mfu", "parallelism_step_time"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").exists()
    assert "wrote" in capsys.readouterr().out


def test_weak_scaling_quick_efficiency_is_the_mfu_ratio(tmp_path):
    out = tmp_path / "s"
    assert scaling.main(["--quick", "--out", str(out)]) == 0
    rows = _csv(out / "scaling.csv")
    assert [int(r["cluster.gpus"]) for r in rows] == [4, 8, 16]
    assert [int(r["training.global_batch"]) for r in rows] == [8, 16, 32]   # 8 per replica
    mfu0 = float(rows[0]["mfu"])
    for r in rows:
        # model FLOPs per token and peak per GPU are fixed: efficiency = MFU / MFU0
        assert float(r["scaling_efficiency"]) == pytest.approx(float(r["mfu"]) / mfu0, rel=1e-9)
        tokens = int(r["training.global_batch"]) * SEQ_LEN
        assert float(r["tokens_per_s"]) * float(r["step_time_s"]) == pytest.approx(tokens)
    assert float(rows[0]["scaling_efficiency"]) == 1.0
    assert all(0 < float(r["scaling_efficiency"]) <= 1 + 1e-9 for r in rows)
    assert (out / "scaling.pdf").exists() and (out / "scaling.png").exists()


def test_scaling_rejects_gpu_counts_the_layout_cannot_use(capsys):
    with pytest.raises(SystemExit) as e:
        scaling.main(["--gpus", "96", "--tp", "8", "--pp", "8"])
    assert e.value.code == 2
    assert "--gpus 96 is not a multiple of tp*pp = 64" in capsys.readouterr().err


def test_experiment_docs_list_both_scripts():
    text = (ROOT / "experiments" / "README.md").read_text()
    for name in ("parallelism_sweep", "scaling", "--quick"):
        assert name in text
