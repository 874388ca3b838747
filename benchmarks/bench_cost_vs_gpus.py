"""Simulation cost against GPU count, folded and unfolded (weak scaling).

Job: GPT-3 175B on A100 80GB, TP8 PP8, DP = GPUs / 64, micro-batch 1 and
global batch 8 x DP, so every pipeline runs 8 micro-batches and each rank's
program is the same at every size; only the number of ranks (and of
concurrent data-parallel groups on the fabric) grows. Sizes from 64 to 16,384
GPUs, each point in a fresh process (see bench_scale.py). Unfolded points stop
once one exceeds the time limit; larger ones are marked skipped.

    python benchmarks/bench_cost_vs_gpus.py [--quick] [--out DIR] [--limit-s S]

Writes ``cost_vs_gpus.csv`` and ``cost_vs_gpus.png`` / ``.pdf`` (log-log wall
time against GPUs, one line folded and one unfolded) to ``--out`` (default
``out/cost_vs_gpus``). Columns: gpus, fold, wall_s (trace generation and
simulation), sim_wall_s (simulation alone), events, rank_classes,
step_time_s, peak_rss_mb, status (``ok`` or why the point has no numbers).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_scale import run_case  # noqa: E402

FULL_GPUS = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
QUICK_GPUS = [64, 128]
MICROBATCHES = 8
FIELDS = ("gpus", "fold", "wall_s", "sim_wall_s", "events", "rank_classes", "step_time_s",
          "peak_rss_mb", "status")


def job(gpus: int) -> dict:
    dp = gpus // 64
    return {"name": "gpt3-175b-weak", "job": "scenario", "spec": None, "gpus": gpus,
            "overrides": [f"cluster.gpus={gpus}", f"parallelism.dp={dp}",
                          f"training.global_batch={MICROBATCHES * dp}"]}


def measure(sizes: list[int], limit_s: float, max_unfolded_gpus: int | None = None,
            echo=print) -> list[dict]:
    """Folded rows for every size, unfolded until one exceeds ``limit_s`` (or
    ``max_unfolded_gpus``)."""
    rows = []
    echo(f"{'gpus':>6} {'fold':>5} {'wall_s':>8} {'sim_s':>8} {'events':>9} {'classes':>7} "
         f"{'step_s':>8} {'rss_MB':>7}")
    for fold in (True, False):
        stopped = None
        for gpus in sizes:
            row = {"gpus": gpus, "fold": fold}
            if stopped is not None:
                row["status"] = f"skipped (unfolded {stopped} GPUs exceeded {limit_s:.0f} s)"
            elif not fold and max_unfolded_gpus is not None and gpus > max_unfolded_gpus:
                row["status"] = f"skipped (unfolded runs limited to {max_unfolded_gpus} GPUs)"
            else:
                out = run_case(dict(job(gpus), fold=fold), limit_s)
                if "error" in out:
                    row["status"] = out["error"]
                    if not fold:
                        stopped = gpus
                else:
                    row.update({k: out[k] for k in FIELDS if k in out}, status="ok")
            rows.append(row)
            if row["status"] == "ok":
                echo(f"{gpus:>6} {fold!s:>5} {row['wall_s']:>8.2f} {row['sim_wall_s']:>8.2f} "
                     f"{row['events']:>9d} {row['rank_classes']:>7d} "
                     f"{row['step_time_s']:>8.4f} {row['peak_rss_mb']:>7.0f}")
            else:
                echo(f"{gpus:>6} {fold!s:>5}  {row['status']}")
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in FIELDS})


def plot(csv_path: Path, out_stem: Path) -> list[Path]:
    """Log-log wall time against GPUs from the CSV rows (no engine imports)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with csv_path.open() as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for fold, label, marker in (("True", "folded (rank classes)", "o"),
                                ("False", "unfolded (every rank)", "s")):
        pts = sorted((int(r["gpus"]), float(r["wall_s"])) for r in rows if r["fold"] == fold)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("GPUs")
    ax.set_ylabel("wall time per simulated step (s)")
    ax.set_title("GPT-3 175B, TP8 PP8, 8 micro-batches per pipeline")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="64 and 128 GPUs, unfolded at 64 only (seconds)")
    ap.add_argument("--out", default="out/cost_vs_gpus", help="output folder")
    ap.add_argument("--limit-s", type=float, default=300.0,
                    help="time limit of one point in seconds (default 300)")
    args = ap.parse_args(argv)
    if args.limit_s <= 0:
        ap.error(f"--limit-s must be positive, got {args.limit_s}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = measure(QUICK_GPUS if args.quick else FULL_GPUS, args.limit_s,
                   max_unfolded_gpus=QUICK_GPUS[0] if args.quick else None)
    csv_path = out / "cost_vs_gpus.csv"
    write_csv(rows, csv_path)
    for p in [csv_path] + plot(csv_path, out / "cost_vs_gpus"):
        print(f"wrote {p}")
    return rows


if __name__ == "__main__":
    main()
