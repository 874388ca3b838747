"""How often should a job checkpoint? Goodput against the checkpoint interval.

For a few job MTBFs, simulates the run-level model (:mod:`sim.reliability`:
exponential failures, sync checkpoints stalling ``--stall-s``, detection plus
restart ``--restart-s`` that failures can also interrupt) over a grid of
checkpoint intervals around the optimum, and draws the simulated goodput
(mean and 95% confidence interval over replicas) next to Daly's closed form

    goodput = tau / (M e^{R/M} (e^{(tau + delta)/M} - 1))

and marks Daly's optimum interval and Young's sqrt(2 delta M) (J. W. Young,
CACM 1974; J. T. Daly, FGCS 2006).

    python experiments/checkpoint_interval.py --out out/checkpoint_interval
    python experiments/checkpoint_interval.py --mtbf-h 0.5,3 --points 5 --replicas 20 \\
        --days 5 --out /tmp/ckpt

Writes ``checkpoint_interval.csv`` (one row per MTBF and interval) and
``checkpoint_interval.{png,pdf}`` into ``--out`` (default out/checkpoint_interval).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):                 # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from experiments.plotting import (PALETTE, figure, read_rows, save, styled,  # noqa: E402
                                  write_rows)

COLUMNS = ["mtbf_h", "interval_s", "goodput", "goodput_ci_lo", "goodput_ci_hi",
           "goodput_daly", "daly_interval_s", "young_interval_s", "best_simulated"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mtbf-h", default="1,3,10", help="job MTBFs, hours, comma-separated")
    p.add_argument("--stall-s", type=float, default=120.0, help="sync checkpoint stall, s")
    p.add_argument("--restart-s", type=float, default=600.0,
                   help="detection + restart after a failure, s")
    p.add_argument("--points", type=int, default=9, help="intervals per MTBF (log-spaced "
                   "from 1/8 to 8 times Daly's optimum, never below the stall)")
    p.add_argument("--days", type=float, default=30.0, help="wall-clock days per replica")
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--gpus", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/checkpoint_interval")
    return p


def compute(args) -> list[dict]:
    """Simulate every (MTBF, interval) point; rows of :data:`COLUMNS`."""
    from sim.reliability import (CheckpointConfig, FaultConfig, RunConfig, daly_goodput,
                                 daly_interval_s, simulate_run, young_interval_s)
    from sim.progress import progress
    rng = np.random.default_rng(args.seed)
    rows = []
    mtbfs = [float(x) for x in args.mtbf_h.split(",")]
    bar = progress(total=len(mtbfs) * args.points, desc="checkpoint intervals", unit="point")
    for mtbf_h in mtbfs:
        m_s = mtbf_h * 3600.0
        opt = daly_interval_s(args.stall_s, m_s)
        faults = FaultConfig(job_mtbf_h=mtbf_h, detection_s=0.0, restart_s=args.restart_s)
        run = RunConfig(days=args.days, replicas=args.replicas)
        block = []
        # symmetric around the optimum in log space; the interval never goes
        # below the stall (the simulator's floor for sync checkpoints)
        span = min(8.0, opt / args.stall_s) if args.stall_s > 0 else 8.0
        for tau in opt * np.geomspace(1 / span, span, args.points):
            bar.update()
            ckpt = CheckpointConfig(mode="sync", stall_s=args.stall_s, interval_s=float(tau))
            res = simulate_run(10.0, 1.0, args.gpus, 8, faults, ckpt, run, rng).to_json()
            lo, hi = res["ci95"]["goodput_fraction"]
            block.append({"mtbf_h": mtbf_h, "interval_s": float(tau),
                          "goodput": res["goodput_fraction"], "goodput_ci_lo": lo,
                          "goodput_ci_hi": hi,
                          "goodput_daly": daly_goodput(float(tau), args.stall_s,
                                                       args.restart_s, m_s),
                          "daly_interval_s": opt,
                          "young_interval_s": young_interval_s(args.stall_s, m_s),
                          "best_simulated": False})
        max(block, key=lambda r: r["goodput"])["best_simulated"] = True
        rows += block
    bar.close()
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    write_rows(rows, path, COLUMNS)


@styled
def plot(rows: list[dict], out_dir: Path, *, stall_s: float | None = None,
         restart_s: float | None = None, gpus: int | None = None) -> list[Path]:
    """Goodput vs interval from CSV rows (no engine imports).

    Colour encodes the MTBF; marker and line style encode simulated points,
    Daly's closed form and the two optima, explained in a second legend.
    """
    from matplotlib.lines import Line2D
    fig, (ax,) = figure(1, width_in=5.0, height_in=2.9)
    mtbfs = sorted({r["mtbf_h"] for r in rows})
    handles = []
    for i, m in enumerate(mtbfs):
        rs = sorted((r for r in rows if r["mtbf_h"] == m), key=lambda r: r["interval_s"])
        c = PALETTE[i % len(PALETTE)]
        x = [r["interval_s"] / 60 for r in rs]
        ax.plot(x, [100 * r["goodput_daly"] for r in rs], color=c, lw=1.0, alpha=0.8)
        ax.errorbar(x, [100 * r["goodput"] for r in rs],
                    yerr=[[100 * (r["goodput"] - r["goodput_ci_lo"]) for r in rs],
                          [100 * (r["goodput_ci_hi"] - r["goodput"]) for r in rs]],
                    fmt="o", color=c, ms=3, capsize=1.5)
        ax.axvline(rs[0]["daly_interval_s"] / 60, color=c, ls="--", lw=0.8)
        ax.axvline(rs[0]["young_interval_s"] / 60, color=c, ls=":", lw=0.8)
        handles.append(Line2D([], [], color=c, marker="s", ls="", label=f"{m:g} h"))
    grey = "#555555"
    kinds = [Line2D([], [], color=grey, marker="o", ms=3, ls="", label="simulated (95% CI)"),
             Line2D([], [], color=grey, lw=1.0, label="Daly closed form"),
             Line2D([], [], color=grey, lw=0.8, ls="--", label="Daly optimum"),
             Line2D([], [], color=grey, lw=0.8, ls=":", label="Young optimum")]
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_xlabel("Checkpoint interval (min of training)")
    ax.set_ylabel("Goodput (%)")
    first = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                      title="Job MTBF", fontsize=6, title_fontsize=6, frameon=False)
    ax.add_artist(first)
    ax.legend(handles=kinds, loc="lower left", bbox_to_anchor=(1.02, 0.0), fontsize=6,
              frameon=False)
    parts = ["Sync checkpoints"]
    if stall_s is not None:
        parts.append(f"stall {stall_s:g} s")
    if restart_s is not None:
        parts.append(f"restart {restart_s:g} s")
    if gpus is not None:
        parts.append(f"{gpus:,} GPUs")
    ax.set_title(", ".join(parts))
    return save(fig, out_dir, "checkpoint_interval")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    csv_path = out / "checkpoint_interval.csv"
    write_csv(compute(args), csv_path)
    rows = read_rows(csv_path)
    plot(rows, out, stall_s=args.stall_s, restart_s=args.restart_s, gpus=args.gpus)
    for r in rows:
        if r["best_simulated"]:
            print(f"MTBF {r['mtbf_h']:g} h: best simulated interval {r['interval_s'] / 60:.1f} "
                  f"min (goodput {r['goodput']:.4f}); Daly optimum "
                  f"{r['daly_interval_s'] / 60:.1f} min, Young {r['young_interval_s'] / 60:.1f} min")
    print(f"wrote {csv_path} and checkpoint_interval.png/pdf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
