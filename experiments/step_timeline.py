"""Where does one training step's time go, stage by stage?

Simulates one step and draws each rank class (pipeline stage) as a Gantt
chart — compute, communication while data moves, and waiting for partners
(pipeline bubble) — with a stacked bar of each stage's breakdown beside it.
Default: an 8-layer GPT on 16 A100s, TP2 PP4 DP2, 8 micro-batches.

    python -m experiments.step_timeline --out out/timeline
    python -m experiments.step_timeline --set parallelism.schedule=interleaved \\
        --set parallelism.vpp=2 --out out/timeline-interleaved

Writes into --out: step_timeline_spans.csv, step_timeline_breakdown.csv and
step_timeline.{png,pdf}.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.plotting import save, write_rows
from sim.plots.figures import step_timeline

DEFAULT = ["model={layers: 8, hidden: 1024, heads: 16, ffn_hidden: 4096, vocab: 32000, "
           "seq_len: 1024}", "cluster.gpus=16", "parallelism.tp=2", "parallelism.pp=4",
           "parallelism.dp=2", "training.global_batch=16", "training.micro_batch=1"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="step_timeline", description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario file or preset (default: the small GPT above, "
                   "applied on top of the default preset)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario key (repeatable)")
    p.add_argument("--out", default="out/timeline", help="output folder (default: %(default)s)")
    return p


def step_rows(scenario: str | None, overrides: list[str]) -> tuple[list[dict], list[dict], str]:
    """Span rows, breakdown rows (one per rank class) and a title, from one simulated step."""
    from sim.scenario.execute import run_scenario
    from sim.scenario.load import load_scenario
    scn, label, folder = load_scenario(scenario, ([] if scenario else DEFAULT) + overrides)
    run = run_scenario(scn, folder, label=label)
    step = run.shown_step
    labels = {c.index: f"class {c.index}: {c.label()}" for c in step.classes}
    spans = []
    for sp in step.spans:
        stage = labels[sp.cls]
        if sp.kind == "compute":
            spans.append({"stage": stage, "kind": "compute", "op": sp.op, "start_s": sp.start,
                          "end_s": sp.end})
            continue
        if sp.sync > sp.start:
            spans.append({"stage": stage, "kind": "wait", "op": sp.op, "start_s": sp.start,
                          "end_s": sp.sync})
        spans.append({"stage": stage, "kind": "communication", "op": sp.op,
                      "start_s": sp.sync, "end_s": sp.end})
    breakdown = [{"stage": labels[r.cls], "compute_s": r.compute_s,
                  "exposed_comm_s": r.exposed_comm_s, "bubble_s": r.idle_s,
                  "comm_s": r.comm_s} for r in step.ranks]
    par = scn.parallelism
    res = run.result
    m = scn.model
    model = m if isinstance(m, str) else f"{m.layers}-layer model (hidden {m.hidden})"
    title = (f"One step of {model}: {res['gpus']} × {scn.cluster.gpu}, TP{par.tp} "
             f"PP{par.pp} DP{par.dp}, {par.schedule}, "
             f"batch {scn.training.global_batch}; step {res['step_time_s']:.3g} s")
    return spans, breakdown, title


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    spans, breakdown, title = step_rows(args.scenario, args.overrides)
    out = Path(args.out)
    write_rows(spans, out / "step_timeline_spans.csv", ["stage", "kind", "op", "start_s",
                                                         "end_s"])
    write_rows(breakdown, out / "step_timeline_breakdown.csv",
               ["stage", "compute_s", "exposed_comm_s", "bubble_s", "comm_s"])
    paths = save(step_timeline(spans, breakdown, title=title), out, "step_timeline")
    print("wrote " + ", ".join(str(p) for p in [out / "step_timeline_spans.csv",
                                                 out / "step_timeline_breakdown.csv", *paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
