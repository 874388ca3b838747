"""How do step time and throughput scale with the number of GPUs?

Keeps the tensor x pipeline layout fixed and grows data parallelism. Weak scaling
grows the global batch with the data-parallel size (a fixed batch per replica);
strong scaling keeps the global batch fixed, so each replica gets fewer micro-batches
and the pipeline bubble grows (Narayanan et al., SC'21, Sec. 5.1 and Fig. 12).
The throughput plot shows ideal linear scaling from the smallest point and the
scaling efficiency ``(tokens/s per GPU) / (tokens/s per GPU at the smallest size)``.

    python -m experiments.scaling --model gpt3-175b --tp 8 --pp 8 \\
        --gpus 128,256,512,1024 --mode weak --batch-per-replica 96 --out out/scaling
    python -m experiments.scaling --quick --out out/scaling-quick

Writes into --out: results.csv / results.jsonl (the sweep; re-running resumes),
scaling.csv (ok points with scaling efficiency), scaling.{png,pdf}.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.parallelism_sweep import TINY_MODEL, _ints
from experiments.plotting import (ok_rows, read_rows, save, scaling_efficiency, scaling_plot,
                                  write_rows)
from sim.sweep import RESULTS_CSV, parse_sweep, run_sweep, table_text

GPUS, BATCH = "cluster.gpus", "training.global_batch"
METRICS = ["step_time_s", "tokens_per_s", "mfu", "gpus", "breakdown.bubble_s",
           "breakdown.exposed_comm_s"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scaling", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="gpt3-175b", help="model preset name")
    p.add_argument("--gpu", default="a100-80gb", help="GPU preset")
    p.add_argument("--gpus", type=_ints, default=[128, 256, 512, 1024], help="GPU counts")
    p.add_argument("--tp", type=int, default=8, help="tensor-parallel size")
    p.add_argument("--pp", type=int, default=8, help="pipeline-parallel size")
    p.add_argument("--mode", choices=["weak", "strong"], default="weak")
    p.add_argument("--batch-per-replica", type=int, default=96,
                   help="weak scaling: sequences per data-parallel replica")
    p.add_argument("--global-batch", type=int, default=1536,
                   help="strong scaling: fixed sequences per step")
    p.add_argument("--micro-batch", type=int, default=1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", default="out/scaling", help="output folder")
    p.add_argument("--quick", action="store_true",
                   help="an 8-layer model on 4 to 16 GPUs (seconds; for tests)")
    return p


def sweep_spec(args, parser: argparse.ArgumentParser) -> dict:
    """The sweep (as a mapping) for ``args``; impossible GPU counts are usage errors."""
    if args.quick:
        model, gpus, tp, pp, per_replica = TINY_MODEL, [4, 8, 16], 2, 2, 8
        global_batch = 16
    else:
        model, gpus, tp, pp = args.model, args.gpus, args.tp, args.pp
        per_replica, global_batch = args.batch_per_replica, args.global_batch
    for n in gpus:
        if n % (tp * pp):
            parser.error(f"--gpus {n} is not a multiple of tp*pp = {tp * pp}")
    dps = [n // (tp * pp) for n in gpus]
    batches = [per_replica * dp for dp in dps] if args.mode == "weak" else \
        [global_batch] * len(gpus)
    base = {"name": f"scaling-{args.mode}", "model": model,
            "cluster": {"gpu": args.gpu},
            "parallelism": {"tp": tp, "pp": pp, "sequence_parallel": True,
                            "recompute": "selective"},
            "training": {"global_batch": batches[0], "micro_batch": args.micro_batch}}
    return {"name": f"scaling-{args.mode}", "base": base,
            "zip": {GPUS: gpus, "parallelism.dp": dps, BATCH: batches},
            "metrics": METRICS, "rank_by": "tokens_per_s"}


def efficiency_rows(rows: list[dict]) -> list[dict]:
    """Ok rows sorted by GPUs with ``scaling_efficiency`` of tokens/s added."""
    good = sorted(ok_rows(ok_rows(rows, "tokens_per_s"), "step_time_s"), key=lambda r: r[GPUS])
    eff = scaling_efficiency(good, GPUS, "tokens_per_s")
    return [{**r, "scaling_efficiency": e} for r, e in zip(good, eff)]


def write_csv(rows: list[dict], path: Path) -> None:
    cols = [GPUS, "parallelism.dp", BATCH, "step_time_s", "tokens_per_s", "mfu",
            "scaling_efficiency"]
    write_rows(rows, path, cols)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    spec = parse_sweep(sweep_spec(args, parser), "scaling")
    out = Path(args.out)
    outcome = run_sweep(spec, out, workers=args.workers)
    print(table_text(outcome.records, spec.varied_keys(), ["step_time_s", "tokens_per_s"]))
    rows = efficiency_rows(read_rows(out / RESULTS_CSV))
    write_csv(rows, out / "scaling.csv")
    model = "8-layer model" if args.quick else args.model
    per_replica, global_batch = (8, 16) if args.quick else (args.batch_per_replica,
                                                             args.global_batch)
    batch = (f"{per_replica} sequences per replica" if args.mode == "weak"
             else f"global batch {global_batch}")
    tp, pp = (2, 2) if args.quick else (args.tp, args.pp)
    fig = scaling_plot(rows, GPUS, "step_time_s", "tokens_per_s", time_label="Step time (s)",
                       rate_label="Throughput (tokens/s)",
                       title=f"{args.mode.capitalize()} scaling: {model} on {args.gpu}, "
                       f"TP{tp} PP{pp}, {batch}")
    paths = save(fig, out, "scaling")
    print("wrote " + ", ".join(str(p) for p in [out / RESULTS_CSV, out / "scaling.csv", *paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
