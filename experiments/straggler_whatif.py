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

from experiments.plotting import (PALETTE, figure, read_rows, save, styled,  # noqa: E402
                                  write_rows)
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

    from sim.scenario.load import validate
    from sim.scenario.runner import run_scenario
    t0 = time.perf_counter()
    scn = validate(scenario_dict(args), "straggler_whatif")
    run = run_scenario(scn)
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
def plot(steps: list[dict], kinds: list[dict], out_dir: Path) -> list[Path]:
    """Step time with/without and the extra wait by op kind, from CSV rows."""
    fig, (a, b) = figure(2, height_in=2.4)
    a.bar([r["case"] for r in steps], [r["step_time_s"] for r in steps],
          color=PALETTE[:len(steps)])
    for i, r in enumerate(steps):
        a.text(i, r["step_time_s"], f"{r['step_time_s']:.3f} s", ha="center", va="bottom")
    a.set_ylabel("step time (s)")
    a.set_title(f"{steps[0]['gpus']} GPUs")
    names = [r["kind"] for r in kinds]
    b.barh(names, [r["extra_wait_rank_s"] / 3600 for r in kinds], color=PALETTE[3],
           label="extra wait")
    b.barh(names, [r["extra_busy_rank_s"] / 3600 for r in kinds], color=PALETTE[0],
           alpha=0.7, label="extra busy")
    b.set_xlabel("extra GPU-hours per step, all ranks")
    b.set_title("where the time goes")
    b.legend(loc="lower right")
    return save(fig, out_dir, "straggler_whatif")


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
    plot(read_rows(out / "step_time.csv"), read_rows(out / "by_op_kind.csv"), out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
