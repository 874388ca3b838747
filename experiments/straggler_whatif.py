"""What does one slow GPU cost a large synchronous training job?

Simulates one step of a job (default: GPT-3 175B, TP8 PP8 and data
parallelism over the rest of ``--gpus`` 4,096 A100 80GB, 24 sequences of
2,048 tokens per replica per step, sequence parallelism and selective
recomputation as in Korthikanti et al. 2022) with one GPU at ``--factor``
(0.8x) speed, and without it, and reports the attribution
(:func:`sim.stragglers.attribute`): step time with and without, and where
the other ranks wait for the slow one (per rank class and per op kind).

    python experiments/straggler_whatif.py --out out/straggler_whatif
    python experiments/straggler_whatif.py --gpus 1024 --out /tmp/whatif
    python experiments/straggler_whatif.py --quick --out /tmp/whatif   # seconds

Writes into ``--out`` (default out/straggler_whatif): ``step_time.csv`` (one
row per case), ``wait_by_class.csv``, ``by_op_kind.csv``, ``attribution.txt``
and ``straggler_whatif.{png,pdf}``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):                 # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib.ticker  # noqa: E402

from experiments.plotting import (PALETTE, grid_figure, read_rows, save,  # noqa: E402
                                  styled, write_rows)
from sim.io import write_text  # noqa: E402

QUICK = {"model": {"layers": 8, "hidden": 1024, "heads": 16, "vocab": 32000, "seq_len": 1024},
         "gpus": 16, "tp": 2, "pp": 2, "batch_per_replica": 4}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="gpt3-175b", help="model preset")
    p.add_argument("--gpu", default="a100-80gb", help="GPU preset")
    p.add_argument("--gpus", type=int, default=4096, help="GPUs in the job")
    p.add_argument("--tp", type=int, default=8)
    p.add_argument("--pp", type=int, default=8)
    p.add_argument("--batch-per-replica", type=int, default=24,
                   help="sequences per data-parallel replica per step")
    p.add_argument("--slow-gpu", type=int, default=0, help="index of the slow GPU")
    p.add_argument("--factor", type=float, default=0.8, help="its speed factor")
    p.add_argument("--quick", action="store_true", help="a tiny model on 16 GPUs")
    p.add_argument("--out", default="out/straggler_whatif")
    return p


def scenario_dict(args) -> dict:
    model, gpus, tp, pp, bpr = args.model, args.gpus, args.tp, args.pp, args.batch_per_replica
    if args.quick:
        model, gpus, tp, pp, bpr = (QUICK[k] for k in ("model", "gpus", "tp", "pp",
                                                        "batch_per_replica"))
    dp = gpus // (tp * pp)
    return {"name": "straggler-whatif", "model": model,
            "cluster": {"gpu": args.gpu, "gpus": gpus},
            "parallelism": {"tp": tp, "pp": pp, "dp": dp, "sequence_parallel": tp > 1,
                            "recompute": "selective"},
            "training": {"global_batch": bpr * dp, "micro_batch": 1},
            "stragglers": [{"kind": "slow_gpu", "gpu": args.slow_gpu, "factor": args.factor}]}


def compute(args) -> tuple[dict, object, float]:
    """Simulate; returns CSV tables, the attribution and the wall time (s)."""
    import time

    from sim.scenario.execute import run_scenario
    from sim.scenario.load import parse_scenario
    t0 = time.perf_counter()
    scn = parse_scenario(scenario_dict(args), "straggler_whatif")
    run = run_scenario(scn, progress=None)
    s = run.result["stragglers"]
    gpus = run.result["gpus"]
    steps = [{"case": "no straggler", "gpus": gpus, "step_time_s": s["baseline_step_time_s"]},
             {"case": f"GPU {args.slow_gpu} at {args.factor:g}x", "gpus": gpus,
              "step_time_s": s["step_time_s"]}]
    tables = {"step_time": steps, "wait_by_class": s["wait_by_class"],
              "by_op_kind": s["by_op_kind"]}
    return tables, s, time.perf_counter() - t0


def write_csv(rows: list[dict], path: Path) -> None:
    write_rows(rows, path, list(rows[0]))


@styled
def plot(steps: list[dict], kinds: list[dict], out_dir: Path, title: str = "") -> list[Path]:
    """Step time with/without and the extra GPU time by op kind, from CSV rows.

    The right panel has a log axis and each bar its value, so the slow GPU's
    own extra compute (one rank) stays visible next to the waiting of
    thousands of ranks; a kind whose time fell is marked "≤ 0".
    """
    fig, (a, b) = grid_figure(1, 2, 7.0, 2.8)
    base = steps[0]["step_time_s"]
    unit, k = ("ms", 1e3) if base < 1 else ("s", 1.0)
    a.bar(range(len(steps)), [k * r["step_time_s"] for r in steps], color=PALETTE[:len(steps)],
          width=0.6)
    for i, r in enumerate(steps):
        extra = f"\n(+{100 * (r['step_time_s'] / base - 1):.2f}%)" if i else ""
        a.text(i, k * r["step_time_s"], f"{k * r['step_time_s']:.4g} {unit}{extra}",
               ha="center", va="bottom", fontsize=7)
    a.set_xticks(range(len(steps)), [r["case"] for r in steps])
    a.set_ylabel(f"Step time ({unit})")
    a.set_ylim(0, k * max(r["step_time_s"] for r in steps) * 1.25)
    a.grid(axis="x", visible=False)
    names = [r["kind"] for r in kinds]
    y = list(range(len(kinds)))
    h = 0.38
    wait = [r["extra_wait_rank_s"] for r in kinds]
    busy = [r["extra_busy_rank_s"] for r in kinds]
    positive = [v for v in wait + busy if v > 0] or [1e-9]
    lo, hi = min(positive) / 4, max(positive) * 8
    for vals, off, color, name in ((wait, -h / 2, PALETTE[3], "extra waiting"),
                                   (busy, h / 2, PALETTE[0], "extra busy time")):
        b.barh([v + off for v in y], [max(v, lo) - lo for v in vals], left=lo, height=h,
               color=color, label=name)
        for yi, v in zip(y, vals):
            text = f" {v:.2g}" if v > 0 else (" ≤ 0" if v < 0 else "")
            b.text(max(v, lo), yi + off, text, va="center", ha="left", fontsize=6)
    b.set_xscale("log")
    b.set_xlim(lo, hi)
    b.set_yticks(y, names)
    b.set_xlabel("Extra GPU-seconds per step, all ranks")
    b.grid(axis="y", visible=False)
    b.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=6,
             frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save(fig, out_dir, "straggler_whatif")


def title_of(args) -> str:
    d = scenario_dict(args)
    p = d["parallelism"]
    model = "tiny model" if args.quick else d["model"]
    return (f"{model} on {d['cluster']['gpus']:,} {d['cluster']['gpu']} (TP{p['tp']} "
            f"PP{p['pp']} DP{p['dp']}), global batch {d['training']['global_batch']}: "
            f"GPU {args.slow_gpu} at {args.factor:g}x speed")


def _table_text(s: dict) -> str:
    from sim.stragglers import Attribution
    return Attribution(s["baseline_step_time_s"], s["step_time_s"], s["by_straggler"],
                       s["wait_by_class"], s["by_op_kind"]).table()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    tables, s, wall_s = compute(args)
    for name, rows in tables.items():
        write_csv(rows, out / f"{name}.csv")
    text = _table_text(s) + f"\n\nsimulated in {wall_s:.1f} s"
    write_text(out / "attribution.txt", text + "\n")
    plot(read_rows(out / "step_time.csv"), read_rows(out / "by_op_kind.csv"), out,
         title_of(args))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
