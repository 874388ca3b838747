"""Which parallel layout trains a model fastest on a given number of GPUs?

Sweeps tensor-parallel x pipeline-parallel sizes (data parallelism takes the rest of
the GPUs) for each pipeline schedule, and plots MFU and step time per layout, as in
the layout studies of Narayanan et al. (SC'21, Fig. 13-14). Layouts that do not fit
in memory or cannot split the model show as crossed-out cells.

    python -m experiments.parallelism_sweep --model gpt3-175b --gpus 1024 \\
        --global-batch 1536 --tp 2,4,8 --pp 4,8,16 --schedules 1f1b,interleaved \\
        --workers 8 --out out/parallelism
    python -m experiments.parallelism_sweep --quick --out out/parallelism-quick

Writes into --out: results.csv / results.jsonl (the sweep; re-running resumes),
parallelism_mfu.{png,pdf} (heatmaps, one per schedule), parallelism_step_time.{png,pdf}.
"""
from __future__ import annotations

import argparse
import sys

import yaml
from pathlib import Path

from experiments.plotting import layout_bars, layout_heatmaps, read_rows, save
from sim.sweep import RESULTS_CSV, parse_sweep, run_sweep, table_text

#: A model small enough that each layout simulates in well under a second.
TINY_MODEL = {"layers": 8, "hidden": 1024, "heads": 16, "ffn_hidden": 4096, "vocab": 32000,
              "seq_len": 1024}
TP, PP, SCHEDULE = "parallelism.tp", "parallelism.pp", "parallelism.schedule"
METRICS = ["mfu", "step_time_s", "tokens_per_s", "memory_gb_per_gpu", "breakdown.compute_s",
           "breakdown.exposed_comm_s", "breakdown.bubble_s"]


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers: {text!r}")
    return values


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _presets() -> str:
    from topologies.specs import list_gpus
    from workloads.models.spec import preset_names
    return (f"model presets: {', '.join(preset_names())}. "
            f"GPU presets: {', '.join(list_gpus())}.")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parallelism_sweep", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                epilog=_presets())
    p.add_argument("--model", default="gpt3-175b", help="model preset name")
    p.add_argument("--gpu", default="a100-80gb", help="GPU preset")
    p.add_argument("--gpus", type=int, default=1024, help="GPUs in the job")
    p.add_argument("--global-batch", type=int, default=1536, help="sequences per step")
    p.add_argument("--micro-batch", type=int, default=1, help="sequences per micro-batch")
    p.add_argument("--seq-len", type=int, default=None,
                   help="tokens per sequence (default: the model's)")
    p.add_argument("--zero", type=int, default=1, choices=[0, 1, 2, 3],
                   help="ZeRO stage (1: optimizer states sharded over data parallelism, "
                   "as Megatron-LM's distributed optimizer)")
    p.add_argument("--recompute", default="selective", choices=["none", "selective", "full"],
                   help="activation recomputation")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="any other scenario key (repeatable), e.g. "
                   "--set training.dtype=fp8")
    p.add_argument("--tp", type=_ints, default=None,
                   help="tensor-parallel sizes (default 2,4,8; quick: 1,2,4)")
    p.add_argument("--pp", type=_ints, default=None,
                   help="pipeline-parallel sizes (default 4,8,16; quick: 1,2,4)")
    p.add_argument("--schedules", type=_names, default=["1f1b", "interleaved"],
                   help="pipeline schedules (interleaved uses 2 model chunks per GPU)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", default="out/parallelism", help="output folder")
    p.add_argument("--quick", action="store_true",
                   help="an 8-layer model on 16 GPUs, global batch 16 (seconds; for tests "
                   "and a first look); --tp/--pp still apply")
    return p


def sweep_spec(args) -> dict:
    """The sweep (as a mapping) for the parsed command-line ``args``."""
    if args.quick:
        model, gpus, batch, tps, pps = TINY_MODEL, 16, 16, [1, 2, 4], [1, 2, 4]
    else:
        model, gpus, batch, tps, pps = args.model, args.gpus, args.global_batch, [2, 4, 8], \
            [4, 8, 16]
    tps, pps = args.tp or tps, args.pp or pps
    base = {"name": f"layouts-{gpus}x{args.gpu}", "model": model,
            "cluster": {"gpu": args.gpu, "gpus": gpus},
            "parallelism": {"sequence_parallel": True, "recompute": args.recompute,
                            "zero": args.zero},
            "training": {"global_batch": batch, "micro_batch": args.micro_batch}}
    if args.seq_len:
        base["training"]["seq_len"] = args.seq_len
    vpp = [2 if s == "interleaved" else 1 for s in args.schedules]
    fixed = {}
    for item in args.overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"parallelism_sweep: error: --set expects KEY=VALUE, got {item!r}")
        fixed[key.strip()] = yaml.safe_load(text)
    return {"name": "parallelism", "base": base, "set": fixed, "grid": {TP: tps, PP: pps},
            "zip": {SCHEDULE: args.schedules, "parallelism.vpp": vpp},
            "metrics": METRICS, "rank_by": "mfu"}


def plot(rows: list[dict], out_dir: Path, title: str = "") -> list[Path]:
    """MFU heatmaps (per schedule) and step-time bars from the sweep's rows."""
    fig = layout_heatmaps(rows, TP, PP, "mfu", panel=SCHEDULE, label="MFU (%)", scale=100,
                          fmt="{:.1f}", xlabel="Tensor-parallel size",
                          ylabel="Pipeline-parallel size", title=title)
    paths = save(fig, out_dir, "parallelism_mfu")
    fig = layout_bars(rows, [TP, PP, SCHEDULE], "step_time_s", label="Step time (s)",
                      names={TP: "TP", PP: "PP", SCHEDULE: ""}, title=title)
    return paths + save(fig, out_dir, "parallelism_step_time")


def title_of(args) -> str:
    model = "8-layer model" if args.quick else args.model
    gpus = 16 if args.quick else args.gpus
    batch = 16 if args.quick else args.global_batch
    return f"{model}, {gpus:,} {args.gpu}, global batch {batch}, ZeRO {args.zero}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    spec = parse_sweep(sweep_spec(args), "parallelism_sweep")
    out = Path(args.out)
    outcome = run_sweep(spec, out, workers=args.workers)
    print(table_text(outcome.records, spec.varied_keys(), ["mfu", "step_time_s"]))
    paths = plot(read_rows(out / RESULTS_CSV), out, title_of(args))
    print("wrote " + ", ".join(str(p) for p in [out / RESULTS_CSV, *paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
