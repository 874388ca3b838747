"""Every experiment figure, drawn from small rows, has no overlapping text
(renderer bounding boxes, sim.plots.check) and is written as PNG and PDF."""
import importlib.util
from pathlib import Path

import pytest

from experiments import layout_search, parallelism_sweep, scaling
from experiments.plotting import scaling_plot
from sim.plots.check import text_overlaps

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(f"_fig_{name}", ROOT / "experiments" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def checked(monkeypatch):
    """Patch a module's ``save`` to record the overlaps of each figure it saves."""
    from sim.plots.style import save
    found = {}

    def patch(module):
        def checked_save(fig, out_dir, stem):
            found[stem] = text_overlaps(fig)
            return save(fig, out_dir, stem)
        monkeypatch.setattr(module, "save", checked_save)
        return module
    patch.found = found
    return patch


def _layout_rows():
    rows = []
    for i, (tp, pp, sched) in enumerate((tp, pp, s) for tp in (2, 4, 8) for pp in (4, 8, 16)
                                        for s in ("1f1b", "interleaved")):
        ok = (tp, pp) != (2, 4)
        rows.append({"index": i, "status": "ok" if ok else "error", "parallelism.tp": tp,
                     "parallelism.pp": pp, "parallelism.schedule": sched,
                     "parallelism.vpp": 2 if sched == "interleaved" else 1,
                     "mfu": 0.5 - 0.01 * tp - 0.004 * pp if ok else None,
                     "step_time_s": 10 + tp * 0.1 + pp * 0.05 if ok else None})
    return rows


def test_parallelism_figures(tmp_path, checked):
    paths = checked(parallelism_sweep).plot(_layout_rows(), tmp_path, "gpt3-175b, 1,024 GPUs")
    assert len(paths) == 4 and all(p.stat().st_size > 0 for p in paths)
    assert checked.found == {"parallelism_mfu": [], "parallelism_step_time": []}


def test_scaling_figure_uses_log2_gpus_and_no_cliffs():
    rows = [{"cluster.gpus": g, "step_time_s": 20.0 + 0.01 * i,
             "tokens_per_s": 1e5 * g / 128 * (1 - 0.01 * i)}
            for i, g in enumerate((128, 256, 512, 1024))]
    fig = scaling_plot(rows, "cluster.gpus", "step_time_s", "tokens_per_s", title="t")
    ax_t, ax_r = fig.axes
    assert ax_t.get_xscale() == "log" and ax_r.get_yscale() == "log"
    lo, hi = ax_t.get_ylim()
    assert lo <= 0.0 + 1e-9 and hi >= 20.03      # a 0.15% change stays small
    assert text_overlaps(fig) == []


def test_checkpoint_and_straggler_figures(tmp_path, checked):
    ck = checked(_script("checkpoint_interval.py"))
    rows = [{"mtbf_h": m, "interval_s": tau, "goodput": g, "goodput_ci_lo": g - 0.01,
             "goodput_ci_hi": g + 0.01, "goodput_daly": g, "daly_interval_s": 600 * m,
             "young_interval_s": 650 * m, "best_simulated": False}
            for m in (1.0, 3.0) for tau, g in ((300, 0.7), (900, 0.8), (2700, 0.75))]
    ck.plot(rows, tmp_path, stall_s=60, restart_s=600, gpus=1024)
    sw = checked(_script("straggler_whatif.py"))
    steps = [{"case": "no straggler", "gpus": 4096, "step_time_s": 19.8},
             {"case": "GPU 0 at 0.8x", "gpus": 4096, "step_time_s": 20.6}]
    kinds = [{"kind": k, "extra_busy_rank_s": b, "extra_wait_rank_s": w}
             for k, b, w in (("compute", 3.9, 0.0), ("all_reduce", 0.0, 2900.0),
                             ("recv", 0.0, 410.0), ("send", -0.01, 0.0))]
    sw.plot(steps, kinds, tmp_path, title="gpt3-175b on 4,096 a100-80gb")
    assert checked.found == {"checkpoint_interval": [], "straggler_whatif": []}


def test_layout_search_figure(tmp_path, checked):
    rows = [{**dict(zip(layout_search.KEYS, (tp, 8, 16, 1, 1, z, "selective", "1f1b", 1))),
             "status": "ok", "mfu": 0.4 + 0.01 * tp - 0.005 * z, "step_time_s": 10.0,
             "breakdown.compute_s": 8.0, "breakdown.exposed_comm_s": 1.0,
             "breakdown.bubble_s": 1.0, "memory_gb_per_gpu": 60.0}
            for tp in (1, 2, 4, 8) for z in (0, 1, 2)]
    checked(layout_search).plot(rows, tmp_path, 8, "llama3-70b on 512 h100-sxm")
    assert checked.found == {"layout_search": []}


def test_parallelism_sweep_options_reach_the_sweep(capsys):
    args = parallelism_sweep.build_parser().parse_args(
        ["--zero", "2", "--seq-len", "4096", "--set", "training.dtype=fp8",
         "--set", "cluster.gpus_per_node=4", "--recompute", "full"])
    spec = parallelism_sweep.sweep_spec(args)
    assert spec["base"]["parallelism"]["zero"] == 2
    assert spec["base"]["parallelism"]["recompute"] == "full"
    assert spec["base"]["training"]["seq_len"] == 4096
    assert spec["set"] == {"training.dtype": "fp8", "cluster.gpus_per_node": 4}
    with pytest.raises(SystemExit):
        parallelism_sweep.build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "(default: 1)" in text and "gpt3-175b" in text and "h100-sxm" in text


def test_layout_search_quick_ranks_layouts_that_fit(tmp_path, capsys):
    assert layout_search.main(["--quick", "--zero", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    from experiments.plotting import read_rows
    rows = read_rows(tmp_path / "layouts.csv")
    assert rows and [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    mfus = [r["mfu"] for r in rows]
    assert mfus == sorted(mfus, reverse=True)
    for r in rows:
        assert r["parallelism.tp"] * r["parallelism.pp"] * r["parallelism.dp"] == 16
        assert r["memory_gb_per_gpu"] <= 80
        if r["parallelism.schedule"] == "interleaved":
            assert r["parallelism.pp"] > 1
    assert "dropped" in out and "rank" in out
    assert (tmp_path / "layout_search.png").stat().st_size > 0


def test_layout_search_memory_filter_matches_the_run_command(capsys):
    """A layout the search drops as too big is one clustersim run refuses (exit 2)."""
    from sim.cli import main
    args = layout_search.build_parser().parse_args(
        ["--gpus", "64", "--tp", "1", "--pp", "1", "--zero", "0", "--recompute", "none",
         "--schedules", "1f1b", "--set", "training.global_batch=64"])
    _, kept, dropped = layout_search.candidates(args)
    assert kept == [] and dropped["does not fit in memory"] == 1
    assert main(["run", "--set", "cluster.gpus=64", "--set", "parallelism.tp=1",
                 "--set", "parallelism.pp=1", "--set", "parallelism.dp=null",
                 "--set", "parallelism.zero=0", "--set", "parallelism.recompute=none",
                 "--set", "training.global_batch=64"]) == 2
    assert "does not fit" in capsys.readouterr().err


def _validation_rows():
    rows = []
    for g, fit, m, p in (("A100", True, 2.0, 2.1), ("A100", False, 10.0, 9.0),
                         ("H100 FP8", True, 1.0, 1.02), ("H100 FP8", False, 30.0, 33.0)):
        rows.append({"name": f"{g} {m}", "suite": "s", "group": g, "fit": fit, "gpu": "x",
                     "gpus": 8, "measured_s": m, "predicted_s": p, "error": 0.0})
    rows.append({"name": "cannot", "suite": "s", "group": "A100", "fit": True,
                 "measured_s": 5.0, "predicted_s": None, "error": None})
    return rows


def test_validation_parity_figure(tmp_path, checked, monkeypatch):
    from sim.plots.figures import group_mape, parity_rows
    vp = checked(_script("validation_parity.py"))
    rows = parity_rows(_validation_rows())
    assert [round(r["error"], 6) for r in rows] == [0.05, -0.1, 0.02, 0.1]   # cannot-run dropped
    mape = group_mape(rows)
    assert mape == pytest.approx({"A100": 0.075, "H100 FP8": 0.06})
    saved = tmp_path / "v.json"
    saved.write_text(__import__("json").dumps({"rows": _validation_rows()}))
    assert vp.main(["--from", str(saved), "--out", str(tmp_path)]) == 0
    assert checked.found == {"validation_parity": []}
    assert all((tmp_path / f).stat().st_size > 0 for f in
               ("validation_parity.png", "validation_parity.pdf", "validation_parity.csv"))
    from experiments.plotting import read_rows
    csv_rows = read_rows(tmp_path / "validation_parity.csv")
    assert [r["error"] for r in csv_rows] == pytest.approx([0.05, -0.1, 0.02, 0.1])
    fig = vp.parity_plot(rows, title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "A100: MAPE 7.5% (n=2)" in legend and "held back" in legend and "±5%" in legend


def test_step_timeline_figure(tmp_path, checked):
    from sim.plots.figures import busy_by_stage, union_s
    assert union_s([(0, 2), (1, 3), (5, 6)]) == 4.0
    spans = [{"stage": "class 0", "kind": "compute", "start_s": 0.0, "end_s": 1.0},
             {"stage": "class 0", "kind": "wait", "start_s": 1.0, "end_s": 1.5},
             {"stage": "class 0", "kind": "communication", "start_s": 1.5, "end_s": 2.0},
             {"stage": "class 0", "kind": "compute", "start_s": 1.8, "end_s": 3.0},
             {"stage": "class 1", "kind": "wait", "start_s": 0.0, "end_s": 1.0},
             {"stage": "class 1", "kind": "compute", "start_s": 1.0, "end_s": 3.0}]
    busy = busy_by_stage(spans)
    assert busy["class 0"] == pytest.approx({"compute": 2.2, "wait": 0.5, "communication": 0.5})
    breakdown = [{"stage": "class 0", "compute_s": 2.2, "exposed_comm_s": 0.3, "bubble_s": 0.5},
                 {"stage": "class 1", "compute_s": 2.0, "exposed_comm_s": 0.0, "bubble_s": 1.0}]
    st = checked(_script("step_timeline.py"))
    fig = st.step_timeline(spans, breakdown, title="t")
    gantt = fig.axes[0]
    drawn = {}
    # drawn per stage in the order wait, compute, communication
    for coll, kind in zip(gantt.collections, ["wait", "compute", "communication", "wait",
                                              "compute"]):
        for path in coll.get_paths():
            xs = path.vertices[:, 0]
            drawn.setdefault(kind, []).append(xs.max() - xs.min())
    assert drawn["compute"] == pytest.approx([1.0, 1.2, 2.0])
    assert drawn["wait"] == pytest.approx([0.5, 1.0]) and drawn["communication"] == [0.5]
    assert text_overlaps(fig) == []
    assert [t.get_text() for t in gantt.get_yticklabels()] == ["class 0", "class 1"]


def test_step_timeline_script_simulates_a_small_step(tmp_path, checked):
    st = checked(_script("step_timeline.py"))
    assert st.main(["--set", "training.global_batch=8", "--out", str(tmp_path)]) == 0
    assert checked.found == {"step_timeline": []}
    from experiments.plotting import read_rows
    from sim.plots.figures import busy_by_stage
    spans = read_rows(tmp_path / "step_timeline_spans.csv")
    parts = read_rows(tmp_path / "step_timeline_breakdown.csv")
    assert len(parts) == 4                                   # one rank class per stage (PP4)
    busy = busy_by_stage(spans)
    for p in parts:            # the Gantt's compute spans cover exactly the stage's compute time
        assert busy[p["stage"]]["compute"] == pytest.approx(p["compute_s"], rel=1e-6)
        assert busy[p["stage"]]["communication"] == pytest.approx(p["comm_s"], rel=1e-6)


def test_png_resolution_is_300_dpi_unless_the_environment_names_another(tmp_path,
                                                                         monkeypatch):
    from PIL import Image

    import matplotlib.pyplot as plt
    from sim.plots.style import PNG_DPI, save
    assert PNG_DPI == 300
    for env, dpi in ((None, 300), ("40", 40)):
        if env is None:
            monkeypatch.delenv("CLUSTERSIM_PNG_DPI", raising=False)
        else:
            monkeypatch.setenv("CLUSTERSIM_PNG_DPI", env)
        fig = plt.figure(figsize=(2.0, 1.0))
        fig.text(0.5, 0.5, "x")
        png, pdf = save(fig, tmp_path / str(dpi), "f")
        with Image.open(png) as im:
            assert round(im.info["dpi"][0]) == dpi
        assert pdf.stat().st_size > 0
