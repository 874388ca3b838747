"""clustersim plot and sweep --plot: labels with units, defaults, errors, and the
overlapping-text check every figure test uses."""
import csv

import matplotlib.pyplot as plt
import pytest

from sim.cli import main
from sim.plots import labels
from sim.plots.check import text_overlaps
from sim.plots.results import plot_results
from sim.plots.style import read_rows

ROWS = [{"index": i, "status": "ok" if (tp, pp) != (8, 4) else "error",
         "parallelism.tp": tp, "parallelism.pp": pp, "parallelism.schedule": sched,
         "mfu": (0.5 - 0.02 * tp - 0.03 * pp - (0.01 if sched == "1f1b" else 0.0))
         if (tp, pp) != (8, 4) else None,
         "step_time_s": 1.0 + 0.1 * tp + pp, "error": None if (tp, pp) != (8, 4) else "oom"}
        for i, (tp, pp, sched) in enumerate(
            (tp, pp, s) for tp in (1, 2, 4, 8) for pp in (1, 2, 4) for s in ("1f1b", "zb"))]


def _write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_labels_have_units_and_scales():
    assert labels.label("parallelism.pp") == "Pipeline-parallel size"
    assert labels.label("mfu") == "MFU (%)" and labels.scale("mfu") == 100.0
    assert labels.label("cluster.gpus") == "GPUs"
    assert labels.label("reliability.goodput_fraction") == "Goodput (%)"
    assert labels.label("breakdown.bubble_s") == "Pipeline bubble per step (s)"
    # unknown keys: a label from the name and a unit from the suffix
    assert labels.label("breakdown.recv_wait_s") == "Recv wait (s)"
    assert labels.label("x.spare_fraction") == "Spare (%)"
    assert labels.label("parallelism.foo") == "Foo"


def test_plot_results_scales_values_and_has_no_overlapping_text():
    fig = plot_results(ROWS, "parallelism.tp", "mfu", hue="parallelism.pp",
                       facet="parallelism.schedule", title="toy")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Tensor-parallel size" and ax.get_ylabel() == "MFU (%)"
    line = ax.get_lines()[0]                     # pp = 1, schedule 1f1b
    expect = [100 * r["mfu"] for r in ROWS if r["parallelism.pp"] == 1
              and r["parallelism.schedule"] == "1f1b"]
    assert list(line.get_ydata()) == pytest.approx(expect)
    assert ax.get_xscale() == "log"              # powers of two spanning 8x
    assert text_overlaps(fig) == []
    plt.close(fig)
    bars = plot_results(ROWS, "parallelism.schedule", "step_time_s", hue="parallelism.tp")
    assert bars.axes[0].get_ylabel() == "Step time (s), mean"   # pp averaged over
    assert text_overlaps(bars) == []
    plt.close(bars)


def test_overlap_check_finds_overlaps():
    fig, (a, b) = plt.subplots(1, 2, figsize=(3, 2))
    a.set_xticks([0, 0.01], ["a long tick label", "another long one"])
    b.set_ylabel("a y label long enough to reach the left panel " * 2)
    problems = text_overlaps(fig)
    assert any("overlaps" in p for p in problems)
    assert any("runs into another panel" in p for p in problems)
    plt.close(fig)


def test_plot_command_defaults_and_errors(tmp_path, capsys):
    _write(tmp_path / "results.csv", ROWS)
    assert main(["plot", str(tmp_path)]) == 0
    paths = capsys.readouterr().out.split()
    assert [p.rsplit(".", 1)[1] for p in paths] == ["png", "pdf"]
    assert "plot_mfu_by_parallelism.tp_hue_parallelism.pp" in paths[0]
    assert main(["plot", str(tmp_path / "results.csv"), "--y", "nope"]) == 2
    assert "--y" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing")]) == 2


def test_sweep_plot_draws_the_ranking_metric(tmp_path, capsys):
    assert main(["sweep", "sim/data/sweeps/tiny-tp-pp.yaml", "--out", str(tmp_path),
                 "--plot", "--no-progress"]) == 0
    out = capsys.readouterr().out
    pngs = list(tmp_path.glob("plot_mfu_by_*.png"))
    assert len(pngs) == 1 and str(pngs[0]) in out
    rows = read_rows(tmp_path / "results.csv")
    assert any(r["status"] == "ok" for r in rows)
    # the Parquet table holds the same rows as the CSV, typed
    import pyarrow.parquet as pq
    table = pq.read_table(tmp_path / "results.parquet")
    assert table.schema.field("parallelism.tp").type == "int64"
    assert table.schema.field("mfu").type == "double"
    for csv_row, pq_row in zip(rows, table.to_pylist(), strict=True):
        for key, value in csv_row.items():
            assert pq_row[key] == (pytest.approx(value) if isinstance(value, float)
                                   else value)
