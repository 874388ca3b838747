"""Which layout trains a model fastest on a cluster? Every valid TP x PP x DP x CP
x EP x ZeRO x recompute x schedule layout that fits in memory, simulated and ranked.

Candidates are the cross product of the sizes and options given; data
parallelism takes the rest of the GPUs (dp = gpus / (tp pp cp)). A candidate
is dropped before simulation, with the reason counted, when tp does not
divide the attention heads or exceeds a node, the layers do not split over
pp x vpp stages, the global batch does not split over dp x micro-batch,
ep does not divide the experts (MoE) or dp, or the most loaded pipeline
stage needs more memory than the GPU has (the same memory model as
``clustersim run``). The rest run through the sweep machinery (``--workers``,
resumable ``--out``) and are ranked by MFU.

    python -m experiments.layout_search --scenario default --gpus 1024 --out out/layouts
    python -m experiments.layout_search --set model=llama3-70b --set cluster.gpu=h100-sxm \\
        --gpus 512 --set training.global_batch=512 --set training.seq_len=8192 \\
        --workers 2 --out out/layouts-70b
    python -m experiments.layout_search --quick --out /tmp/layouts        # seconds

Writes ``results.csv`` (the sweep), ``layouts.csv`` (ranked, with memory per
GPU), ``layout_search.{png,pdf}`` (the fastest layouts: MFU bars with step-time
breakdown) and prints the ranking and the pruning counts.
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):                 # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.plotting import (PALETTE, grid_figure, ok_rows, read_rows, save,  # noqa: E402
                                  styled, write_rows)

KEYS = ["parallelism.tp", "parallelism.pp", "parallelism.dp", "parallelism.cp",
        "parallelism.ep", "parallelism.zero", "parallelism.recompute",
        "parallelism.schedule", "parallelism.vpp"]
METRICS = ["mfu", "step_time_s", "tokens_per_s", "memory_gb_per_gpu", "breakdown.compute_s",
           "breakdown.exposed_comm_s", "breakdown.bubble_s"]
TINY = ["model={layers: 8, hidden: 1024, heads: 16, ffn_hidden: 4096, vocab: 32000, "
        "seq_len: 1024}", "training.global_batch=32"]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    from sim.scenario.load import preset_names
    p = argparse.ArgumentParser(
        prog="layout_search", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="scenario presets: " + ", ".join(preset_names()))
    p.add_argument("--scenario", default="default", help="base scenario: YAML file or preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any scenario key of the base (repeatable)")
    p.add_argument("--gpus", type=int, default=None, help="GPUs (default: the scenario's)")
    p.add_argument("--tp", type=_ints, default=[1, 2, 4, 8], help="tensor-parallel sizes")
    p.add_argument("--pp", type=_ints, default=[1, 2, 4, 8, 16], help="pipeline sizes")
    p.add_argument("--cp", type=_ints, default=[1], help="context-parallel sizes")
    p.add_argument("--ep", type=_ints, default=[1], help="expert-parallel sizes (MoE)")
    p.add_argument("--zero", type=_ints, default=[0, 1, 2], help="ZeRO stages")
    p.add_argument("--recompute", type=_names, default=["none", "selective", "full"],
                   help="activation recomputation")
    p.add_argument("--schedules", type=_names, default=["1f1b", "interleaved"],
                   help="pipeline schedules (interleaved: --vpp chunks per GPU)")
    p.add_argument("--vpp", type=int, default=2, help="model chunks per GPU for interleaved")
    p.add_argument("--top", type=int, default=15, help="layouts in the figure and table")
    p.add_argument("--workers", type=int, default=1, help="points simulated at once")
    p.add_argument("--out", default="out/layout_search", help="output folder")
    p.add_argument("--quick", action="store_true",
                   help="an 8-layer model on 16 GPUs of the base scenario, tp 1,2,4, pp 1,2, "
                   "ZeRO 0,1, no or full recompute (seconds)")
    return p


def candidates(args) -> tuple[dict, list[dict], Counter]:
    """The base scenario (dict), the layouts that fit, and why the others were dropped."""
    from sim.scenario.cluster import resolve_cluster
    from sim.scenario.load import apply_overrides, parse_scenario, raw_scenario
    from sim.scenario.workload import layout_of, stage_memory, training_of
    from workloads import models
    overrides = (TINY + ["cluster.gpus=16"] if args.quick else []) + list(args.overrides)
    if args.gpus:
        overrides.append(f"cluster.gpus={args.gpus}")
    data, label, _ = raw_scenario(args.scenario)
    data = apply_overrides(data, overrides + ["parallelism.dp=null"])
    base = parse_scenario(data, label, check=False)     # its layout is replaced below
    spec = models.get_model(base.model)
    cluster = resolve_cluster(base.cluster, base.cluster.gpus or 1)
    gpus, gpu, gpn = cluster.gpus, cluster.gpu, cluster.gpus_per_node
    experts = getattr(getattr(spec, "moe", None), "experts", None)
    t = base.training
    kept, dropped = [], Counter()
    grid = itertools.product(args.tp, args.pp, args.cp, args.ep, args.zero, args.recompute,
                             args.schedules)
    for tp, pp, cp, ep, zero, rec, sched in grid:
        vpp = args.vpp if sched == "interleaved" else 1
        if sched == "interleaved" and pp == 1:
            dropped["interleaved needs pp > 1"] += 1
            continue
        if gpus % (tp * pp * cp):
            dropped["tp*pp*cp does not divide the GPUs"] += 1
            continue
        dp = gpus // (tp * pp * cp)
        if tp > gpn or spec.heads % tp:
            dropped["tp exceeds a node or does not divide the heads"] += 1
            continue
        if spec.layers % (pp * vpp):
            dropped["layers do not split over pp x vpp"] += 1
            continue
        if t.global_batch % (dp * t.micro_batch):
            dropped["global batch does not split over dp"] += 1
            continue
        if ep > 1 and (not experts or experts % ep or dp % ep):
            dropped["ep does not divide the experts or dp"] += 1
            continue
        p = base.parallelism.model_copy(update=dict(
            tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, zero=zero, recompute=rec, schedule=sched,
            vpp=vpp))
        scn = base.model_copy(update={"parallelism": p})
        try:
            layout, training = layout_of(scn), training_of(scn, spec)
            mem = stage_memory(spec, layout, training, t.global_batch // (dp * t.micro_batch))
        except Exception as e:      # the generator rejects a combination: count it
            dropped[f"invalid: {str(e)[:60]}"] += 1
            continue
        if mem["total_bytes"] > gpu.hbm_bytes:
            dropped["does not fit in memory"] += 1
            continue
        kept.append(dict(zip(KEYS, (tp, pp, dp, cp, ep, zero, rec, sched, vpp))))
    return data, kept, dropped


def sweep_spec(base: dict, kept: list[dict]) -> dict:
    """The sweep over exactly the kept layouts (one zip)."""
    base = {k: v for k, v in base.items() if k != "parallelism"} | {
        "parallelism": {k: v for k, v in (base.get("parallelism") or {}).items()
                        if f"parallelism.{k}" not in KEYS}}
    return {"name": "layout-search", "base": base,
            "zip": {k: [c[k] for c in kept] for k in KEYS},
            "metrics": METRICS, "rank_by": "mfu"}


def _label(r: dict) -> str:
    parts = [f"TP{r['parallelism.tp']} PP{r['parallelism.pp']} DP{r['parallelism.dp']}"]
    if r["parallelism.cp"] != 1:
        parts.append(f"CP{r['parallelism.cp']}")
    if r["parallelism.ep"] != 1:
        parts.append(f"EP{r['parallelism.ep']}")
    parts.append(f"Z{r['parallelism.zero']}")
    parts.append({"none": "no-rc", "selective": "sel-rc", "full": "full-rc"}.get(
        r["parallelism.recompute"], r["parallelism.recompute"]))
    sched = r["parallelism.schedule"]
    parts.append(f"{sched} v{r['parallelism.vpp']}" if sched == "interleaved" else sched)
    return " ".join(parts)


def ranked(rows: list[dict]) -> list[dict]:
    return sorted(ok_rows(rows, "mfu"), key=lambda r: -r["mfu"])


@styled
def plot(rows: list[dict], out_dir: Path, top: int, title: str) -> list[Path]:
    """MFU of the fastest layouts (left) and their step time split (right)."""
    best = ranked(rows)[:top]
    fig, (ax_m, ax_t) = grid_figure(1, 2, 7.0, 0.8 + 0.22 * max(len(best), 3))
    names = [_label(r) for r in best]
    y = list(range(len(best)))
    ax_m.barh(y, [100 * r["mfu"] for r in best], color=PALETTE[0])
    ax_m.set_yticks(y, names)
    ax_m.invert_yaxis()
    ax_m.set_xlabel("MFU (%)")
    ax_m.grid(axis="y", visible=False)
    if best:
        ax_m.set_xlim(0, max(100 * r["mfu"] for r in best) * 1.12)
        for i, r in enumerate(best):
            ax_m.text(100 * r["mfu"], i, f" {100 * r['mfu']:.1f}", va="center", fontsize=6)
    parts = [("breakdown.compute_s", "compute"), ("breakdown.exposed_comm_s",
                                                  "exposed communication"),
             ("breakdown.bubble_s", "bubble / idle")]
    left = [0.0] * len(best)
    for i, (key, name) in enumerate(parts):
        vals = [r.get(key) or 0.0 for r in best]
        ax_t.barh(y, vals, left=left, color=PALETTE[i + 1], label=name)
        left = [a + b for a, b in zip(left, vals)]
    ax_t.set_yticks(y, [""] * len(best))
    ax_t.invert_yaxis()
    ax_t.set_xlabel("Step time of the critical rank (s)")
    ax_t.grid(axis="y", visible=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))
    handles, names = ax_t.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=3, frameon=False)
    return save(fig, out_dir, "layout_search")


def main(argv: list[str] | None = None) -> int:
    from sim.sweep import RESULTS_CSV, parse_sweep, run_sweep
    from workloads.errors import InputError
    args = build_parser().parse_args(argv)
    if args.quick:
        args.tp, args.pp, args.zero = [1, 2, 4], [1, 2], [0, 1]
        args.recompute, args.cp, args.ep = ["none", "full"], [1], [1]
    try:
        base, kept, dropped = candidates(args)
    except InputError as e:
        print(f"layout_search: error: {e}", file=sys.stderr)
        return 2
    for reason, n in dropped.most_common():
        print(f"dropped {n:4d}: {reason}")
    if not kept:
        print("layout_search: error: no layout fits; add sizes, ZeRO stages or recompute",
              file=sys.stderr)
        return 2
    print(f"simulating {len(kept)} layouts")
    out = Path(args.out)
    spec = parse_sweep(sweep_spec(base, kept), "layout_search")
    run_sweep(spec, out, workers=args.workers)
    rows = read_rows(out / RESULTS_CSV)
    best = ranked(rows)
    write_rows([{**r, "layout": _label(r), "rank": i + 1} for i, r in enumerate(best)],
               out / "layouts.csv", ["rank", "layout"] + KEYS + METRICS)
    model = base.get("model")
    if not isinstance(model, str):
        model = (model or {}).get("preset") or f"{(model or {}).get('layers', '?')}-layer model"
    cluster = base.get("cluster") or {}
    batch = (base.get("training") or {}).get("global_batch")
    title = (f"{model} on {cluster.get('gpus')} {cluster.get('gpu')}, global batch {batch}: "
             f"top {min(args.top, len(best))} of {len(best)} layouts")
    plot(rows, out, args.top, title)
    print(f"{'rank':>4}  {'layout':<44} {'MFU %':>6} {'step s':>8} {'GB/GPU':>7}")
    for i, r in enumerate(best[:args.top]):
        print(f"{i + 1:>4}  {_label(r):<44} {100 * r['mfu']:6.2f} {r['step_time_s']:8.4g} "
              f"{r['memory_gb_per_gpu']:7.1f}")
    failed = len(rows) - len(best)
    if failed:
        print(f"{failed} layouts failed in simulation (see results.csv)")
    print(f"wrote {out / 'layouts.csv'} and layout_search.png/pdf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
