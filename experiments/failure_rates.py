"""What if failures were rarer or more frequent, or the job bigger? Goodput and
time-to-train against the failure rate and the cluster size.

Starts from a scenario with a per-cause failure model (default
``llama3-405b-16k-faults``: Llama 3 405B on 16,384 H100 with the failure
counts of Llama 3's 54-day snapshot) and, for sync, async and in-memory
checkpoints, each at its ``auto`` interval (Daly's optimum for the stall,
never below the stall or, for async, the persist time), simulates the
run-level model over a grid of

* failure-rate multipliers (``faults.rate_scale``, default x1/4 ... x4 of the
  scenario's rates), and
* cluster sizes (default 1,024 ... 131,072 GPUs),

with ``run.replicas`` Monte Carlo replicas per point, each training the
scenario's ``training.tokens``.

The step is simulated once, for the scenario as given. Other cluster sizes
are weak-scaled from it: the same layout with more data-parallel replicas,
the global batch growing with them, so the step time stays the simulated one
and the tokens per step grow with the GPU count (an assumption: it leaves out
the slower data-parallel collectives of a larger job). Failures that are per
GPU or per node grow with the job, software failures do not; hot spares (if
any) stay the same fraction of the job's nodes; checkpoint size
and storage bandwidth stay those of the scenario, so in-memory and async
stalls shrink with more nodes while the persist time does not.

    python -m experiments.failure_rates --out out/failure_rates
    python -m experiments.failure_rates --quick --out /tmp/failure_rates   # seconds
    python -m experiments.failure_rates --set faults.restart_s_per_node=0.1 \\
        --set checkpoint.save_bytes_per_s=1e12 --out out/failure_rates_fast_storage

Writes ``failure_rates.csv`` (one row per mode x rate x size), figures
``failure_rates.{png,pdf}`` (goodput and time-to-train against the failure
rate at the scenario's size, and against the cluster size at its rate, with
95% confidence bands and the scenario's operating point marked) and
``failure_rates_grid.{png,pdf}`` (goodput of every mode over the full grid),
and prints a table.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

if __package__ in (None, ""):                 # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.plotting import (PALETTE, grid_figure, read_rows, save,  # noqa: E402
                                  styled, write_rows)

MODES = ("sync", "async", "in-memory")
COLUMNS = ["mode", "rate_scale", "gpus", "reference", "mtbf_h", "interval_s", "stall_s",
           "persist_s", "step_time_s", "tokens_per_step", "goodput", "goodput_ci_lo",
           "goodput_ci_hi", "time_to_train_days", "ttt_ci_lo", "ttt_ci_hi",
           "ideal_days", "interruptions", "replicas"]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="failure_rates", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--scenario", default="llama3-405b-16k-faults",
                   help="scenario YAML or preset with faults, checkpoint and training.tokens")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override a scenario key (repeatable)")
    p.add_argument("--rate-scales", type=_floats, default=[0.25, 0.5, 1, 2, 4],
                   help="failure-rate multipliers (faults.rate_scale)")
    p.add_argument("--gpus", type=_ints,
                   default=[1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072],
                   help="cluster sizes, GPUs")
    p.add_argument("--modes", default=",".join(MODES), help="checkpoint modes")
    p.add_argument("--replicas", type=int, default=100, help="Monte Carlo replicas per point")
    p.add_argument("--step-time-s", type=float, default=None,
                   help="skip the step simulation: seconds per step of the scenario's job")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/failure_rates", help="output folder")
    p.add_argument("--quick", action="store_true",
                   help="3 rates x 3 sizes, 10 replicas (seconds with --step-time-s)")
    return p


def _reference(args):
    """The scenario (validated), its step time, tokens per step and GPU count."""
    from sim.scenario.execute import run_scenario
    from sim.scenario.load import load_scenario
    from workloads.errors import InputError
    scn, label, folder = load_scenario(args.scenario, args.overrides)
    for key in ("faults", "checkpoint", "training"):
        if getattr(scn, key) is None:
            raise InputError("the failure-rate study needs this section", file=label,
                             field=key, value=None)
    if scn.training.tokens is None:
        raise InputError("the failure-rate study needs a training target", file=label,
                         field="training.tokens", value=None)
    step_only = scn.model_copy(update={"faults": None})
    if args.step_time_s is not None:
        from sim.scenario.workload import generate_workload
        trace, _ = generate_workload(step_only)
        gpus = trace.world_size
        step_s = args.step_time_s
    else:
        print(f"simulating one step of {scn.name} ...", file=sys.stderr)
        res = run_scenario(step_only, folder, seed=args.seed, label=label).result
        gpus, step_s = int(res["gpus"]), float(res["step_time_s"])
        trace = None
    tokens = (trace.meta.get("tokens_per_step") if trace is not None else None) or (
        scn.training.global_batch * (scn.training.seq_len or 0))
    return scn, gpus, step_s, float(tokens)


def compute(args) -> list[dict]:
    """Simulate every (mode, rate, size) point; rows of :data:`COLUMNS`."""
    import numpy as np
    from sim.progress import progress
    from sim.reliability import (CheckpointConfig, FaultConfig, RunConfig, parse_section,
                                 simulate_run)
    from sim.scenario.cluster import resolve_cluster
    scn, ref_gpus, step_s, ref_tokens = _reference(args)
    ckpt_data = scn.reliability.checkpoint.model_dump(exclude_unset=True)
    gpn = resolve_cluster(scn.cluster, ref_gpus).job_shape(ref_gpus)[1]
    base_rate = float(dict(scn.faults).get("rate_scale", 1.0))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    points = [(m, s, g) for m in modes for s in args.rate_scales for g in args.gpus]
    run = RunConfig(tokens=scn.training.tokens, replicas=args.replicas)
    rows = []
    for i, (mode, scale, gpus) in enumerate(progress(points, desc="failure rates",
                                                     unit="point")):
        fdata = {**dict(scn.faults), "rate_scale": base_rate * scale}
        if fdata.get("spares"):     # the same fraction of spare nodes at every size
            sp = dict(fdata["spares"])
            sp["nodes"] = math.ceil(sp["nodes"] * gpus / ref_gpus)
            fdata["spares"] = sp
        faults = parse_section(FaultConfig, fdata, key="faults")
        ckpt = parse_section(CheckpointConfig, {**ckpt_data, "mode": mode,
                                                "interval_s": "auto"}, key="checkpoint")
        tokens = ref_tokens * gpus / ref_gpus
        res = simulate_run(step_s, tokens, gpus, gpn, faults, ckpt, run,
                           np.random.default_rng([args.seed, i])).to_json()
        ci = res["ci95"]
        rows.append({
            "mode": mode, "rate_scale": scale, "gpus": gpus,
            "reference": scale == 1 and gpus == ref_gpus, "mtbf_h": res["mtbf_h"],
            "interval_s": res["checkpoint_interval_s"], "stall_s": res["checkpoint_stall_s"],
            "persist_s": res["checkpoint_persist_s"], "step_time_s": step_s,
            "tokens_per_step": tokens, "goodput": res["goodput_fraction"],
            "goodput_ci_lo": ci["goodput_fraction"][0],
            "goodput_ci_hi": ci["goodput_fraction"][1],
            "time_to_train_days": res["time_to_train_days"],
            "ttt_ci_lo": ci["time_to_train_days"][0], "ttt_ci_hi": ci["time_to_train_days"][1],
            "ideal_days": scn.training.tokens / (tokens / step_s) / 86400.0,
            "interruptions": res["interruptions"], "replicas": args.replicas})
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    write_rows(rows, path, COLUMNS)


def _ref(rows: list[dict]) -> tuple[float, int]:
    refs = [r for r in rows if r["reference"] in (True, "True")]
    if refs:
        return 1.0, int(refs[0]["gpus"])
    gpus = sorted({r["gpus"] for r in rows})
    return 1.0, gpus[len(gpus) // 2]


def _slice(rows, mode, key, fixed_key, fixed):
    return sorted((r for r in rows if r["mode"] == mode and r[fixed_key] == fixed),
                  key=lambda r: r[key])


def _gpu_ticks(gpus: list[int], max_labels: int = 6) -> list[str]:
    """Tick labels 1K, 2K, ... with every other one left out when there are many."""
    step = max(1, -(-len(gpus) // max_labels))
    return [(f"{v // 1024}K" if v >= 1024 else str(v)) if i % step == 0 else ""
            for i, v in enumerate(gpus)]


def _rate_label(s: float) -> str:
    for den in (2, 4, 8):
        if s < 1 and abs(1 / s - den) < 1e-9:
            return f"×1/{den}"
    return f"×{s:g}"


@styled
def plot(rows: list[dict], out_dir: Path, *, title: str = "") -> list[Path]:
    """Goodput and time-to-train against the failure rate and against the cluster size."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
    scale_ref, gpus_ref = _ref(rows)
    modes = [m for m in MODES if any(r["mode"] == m for r in rows)]
    fig, (ax_gr, ax_gg, ax_tr, ax_tg) = grid_figure(2, 2, 6.8, 4.8)
    panels = [(ax_gr, "rate_scale", "gpus", gpus_ref, "goodput", 100.0),
              (ax_gg, "gpus", "rate_scale", scale_ref, "goodput", 100.0),
              (ax_tr, "rate_scale", "gpus", gpus_ref, "time_to_train_days", 1.0),
              (ax_tg, "gpus", "rate_scale", scale_ref, "time_to_train_days", 1.0)]
    for ax, x, fixed_key, fixed, metric, k in panels:
        lo_key, hi_key = (("goodput_ci_lo", "goodput_ci_hi") if metric == "goodput"
                          else ("ttt_ci_lo", "ttt_ci_hi"))
        for i, mode in enumerate(modes):
            rs = [r for r in _slice(rows, mode, x, fixed_key, fixed)
                  if isinstance(r[metric], (int, float))]
            if not rs:
                continue
            xs = [r[x] for r in rs]
            c = PALETTE[i]
            ax.plot(xs, [k * r[metric] for r in rs], marker="o", ms=2.5, color=c,
                    label=f"{mode} checkpoints")
            ax.fill_between(xs, [k * r[lo_key] for r in rs], [k * r[hi_key] for r in rs],
                            color=c, alpha=0.25, lw=0)
            ref = [r for r in rs if r[x] == (scale_ref if x == "rate_scale" else gpus_ref)]
            if ref:
                ax.plot([ref[0][x]], [k * ref[0][metric]], marker="*", ms=8, color=c,
                        markeredgecolor="black", markeredgewidth=0.5, ls="")
        if metric != "goodput" and x == "gpus":
            ideal = [r for r in _slice(rows, modes[0], x, fixed_key, fixed)]
            ax.set_yscale("log")
            ax.plot([r[x] for r in ideal], [r["ideal_days"] for r in ideal], color="grey",
                    ls="--", lw=0.9, label="no failures")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xscale("log", base=2)
        xs = sorted({r[x] for r in rows})
        if x == "gpus":
            ax.set_xticks(xs, _gpu_ticks(xs))
            ax.set_xlabel(f"Cluster size (GPUs), failure rate {_rate_label(scale_ref)}")
        else:
            ax.set_xticks(xs, [_rate_label(v) for v in xs])
            ax.set_xlabel(f"Failure rate (× reference), {gpus_ref:,} GPUs")
        ax.minorticks_off()
        ax.set_ylabel("Goodput (%)" if metric == "goodput" else "Time to train (days)")
    ideal = _slice(rows, modes[0], "rate_scale", "gpus", gpus_ref)
    ax_tr.plot([r["rate_scale"] for r in ideal], [r["ideal_days"] for r in ideal],
               color="grey", ls="--", lw=0.9)
    ax_gr.set_ylim(top=100)
    ax_gg.set_ylim(top=100)
    from matplotlib.lines import Line2D
    handles, _ = ax_tr.get_legend_handles_labels()
    handles.append(Line2D([], [], color="grey", ls="--", lw=0.9, label="no failures"))
    handles.append(Line2D([], [], marker="*", ms=8, color="white", markeredgecolor="black",
                          ls="", label=f"operating point (×1, {gpus_ref:,} GPUs)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               fontsize=7, bbox_to_anchor=(0.5, -0.01))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.16, wspace=0.25,
                        hspace=0.45)
    return save(fig, out_dir, "failure_rates")


@styled
def plot_grid(rows: list[dict], out_dir: Path, *, title: str = "") -> list[Path]:
    """Goodput against the cluster size, one line per failure rate, one panel per mode."""
    modes = [m for m in MODES if any(r["mode"] == m for r in rows)]
    scales = sorted({r["rate_scale"] for r in rows})
    fig, axes = grid_figure(1, len(modes), 2.3 * len(modes) + 0.8, 2.6, sharey=True)
    gpus = sorted({r["gpus"] for r in rows})
    for ax, mode in zip(axes, modes):
        for i, s in enumerate(scales):
            rs = _slice(rows, mode, "gpus", "rate_scale", s)
            ax.plot([r["gpus"] for r in rs], [100 * r["goodput"] for r in rs], marker="o",
                    ms=2, color=PALETTE[i % len(PALETTE)], label=_rate_label(s))
            ax.fill_between([r["gpus"] for r in rs], [100 * r["goodput_ci_lo"] for r in rs],
                            [100 * r["goodput_ci_hi"] for r in rs],
                            color=PALETTE[i % len(PALETTE)], alpha=0.25, lw=0)
        ax.set_xscale("log", base=2)
        ax.set_xticks(gpus, _gpu_ticks(gpus, 4))
        ax.minorticks_off()
        ax.set_xlabel("Cluster size (GPUs)")
        ax.set_title(f"{mode} checkpoints")
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("Goodput (%)")
    handles, names = axes[0].get_legend_handles_labels()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 0.75 / fig.get_figwidth(), 1))
    fig.legend(handles, names, title="Failure rate", loc="center right", frameon=False)
    return save(fig, out_dir, "failure_rates_grid")


def table_text(rows: list[dict]) -> str:
    """The reference-size and reference-rate slices as a fixed-width table."""
    scale_ref, gpus_ref = _ref(rows)
    head = (f"{'mode':<10} {'rate':>6} {'GPUs':>7} {'MTBF h':>7} {'interval':>9} "
            f"{'goodput %':>16} {'time to train, days':>22}")
    lines = [head, "-" * len(head)]
    picked = [r for r in rows if r["gpus"] == gpus_ref or r["rate_scale"] == scale_ref]
    for r in sorted(picked, key=lambda r: (MODES.index(r["mode"]) if r["mode"] in MODES
                                           else 9, r["gpus"] != gpus_ref, r["rate_scale"],
                                           r["gpus"])):
        ttt = r["time_to_train_days"]
        ttt_s = (f"{ttt:7.1f} [{r['ttt_ci_lo']:.1f}, {r['ttt_ci_hi']:.1f}]"
                 if isinstance(ttt, (int, float)) else "n/a")
        mark = " *" if r["reference"] in (True, "True") else ""
        lines.append(f"{r['mode']:<10} {_rate_label(r['rate_scale']):>6} {r['gpus']:>7} "
                     f"{r['mtbf_h']:7.2f} {r['interval_s'] / 60:7.1f} m "
                     f"{100 * r['goodput']:5.1f} [{100 * r['goodput_ci_lo']:.1f}, "
                     f"{100 * r['goodput_ci_hi']:.1f}] {ttt_s:>22}{mark}")
    lines.append("* the scenario as given; [..] 95% confidence intervals")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from workloads.errors import InputError
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.rate_scales, args.replicas = [0.5, 1.0, 2.0], min(args.replicas, 10)
        args.gpus = [4096, 16384, 65536]
    bad = [m for m in args.modes.split(",") if m.strip() and m.strip() not in MODES]
    if bad:
        parser.error(f"--modes: unknown mode {bad[0]!r} (known: {', '.join(MODES)})")
    out = Path(args.out)
    try:
        rows = compute(args)
    except InputError as e:
        print(f"failure_rates: error: {e}", file=sys.stderr)
        return 2
    csv_path = out / "failure_rates.csv"
    write_csv(rows, csv_path)
    rows = read_rows(csv_path)
    _, gpus_ref = _ref(rows)
    ref = [r for r in rows if r["gpus"] == gpus_ref][0]
    title = (f"{args.scenario}: {gpus_ref:,} GPUs, {ref['tokens_per_step'] / 1e6:.1f}M "
             f"tokens/step, {ref['step_time_s']:.2f} s/step; {args.replicas} replicas/point")
    plot(rows, out, title=title)
    plot_grid(rows, out, title=title)
    print(table_text(rows))
    print(f"wrote {csv_path}, failure_rates.png/pdf and failure_rates_grid.png/pdf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
