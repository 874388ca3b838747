"""``clustersim sweep``: run a grid of scenarios and summarise the best point.

    clustersim sweep SWEEP.yaml [--workers N] [--scheduler ADDRESS] [--out DIR]
                     [--rank-by METRIC] [--backend NAME] [--fresh] [--no-progress] [--json]
                     [--plot]

Writes DIR/results.csv and DIR/results.jsonl as points finish; re-running with the
same DIR skips the points already done. Prints a table and the best point, or with
``--json`` exactly one object ``{points, ok, errors, crashes, resumed, best, rank_by,
out, backend}``. Exit status 0, 1 if a point crashed (not an input error), 2 for a
bad sweep file. ``--plot`` also draws the ranking metric against the varied
keys (:mod:`sim.commands.plot`).
"""
from __future__ import annotations

import argparse

BACKEND_CHOICES = ("auto", "inline", "processes", "dask", "scheduler")


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare every option of ``clustersim sweep`` on ``parser``."""
    parser.add_argument("sweep", help="sweep YAML: base scenario and the keys to vary")
    parser.add_argument("--workers", type=int, default=1,
                        help="points run at once (1: in this process)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="dask scheduler address, e.g. tcp://host:8786")
    parser.add_argument("--out", default="out/sweep", metavar="DIR",
                        help="results folder (re-running with it resumes)")
    parser.add_argument("--rank-by", default=None, metavar="METRIC",
                        help="metric choosing the best point (default: the sweep's rank_by); "
                        "min:METRIC or max:METRIC sets the direction")
    parser.add_argument("--backend", default="auto", choices=BACKEND_CHOICES,
                        help="auto: inline for 1 worker, dask if installed, else processes")
    parser.add_argument("--fresh", action="store_true", help="discard earlier results in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    parser.add_argument("--plot", action="store_true",
                        help="also draw the rank_by metric against the varied keys "
                             "into DIR (as clustersim plot DIR)")


def _best_json(rec: dict | None, metrics: list[str]) -> dict | None:
    from sim.sweep import lookup
    if rec is None:
        return None
    return {"index": rec["index"], "varied": rec["varied"], "seed": rec["seed"],
            "overrides": rec["overrides"],
            "metrics": {m: lookup(rec["result"], m) for m in metrics}}


def summary(outcome, rank_by: str) -> dict:
    """The ``--json`` object of a finished sweep."""
    from sim.sweep import rank_direction
    metric, _ = rank_direction(rank_by)
    metrics = outcome.spec.metrics + ([metric] if metric not in outcome.spec.metrics else [])
    return {"points": len(outcome.records), "ok": outcome.count("ok"),
            "errors": outcome.count("error"), "crashes": outcome.count("crash"),
            "resumed": outcome.resumed, "best": _best_json(outcome.best(rank_by), metrics),
            "rank_by": rank_by, "out": str(outcome.out_dir), "backend": outcome.backend}


def cmd_sweep(args) -> int:
    from sim.sweep import load_sweep, lookup, rank_direction, run_sweep, table_text
    from sim.sweep.summary import describe
    spec = load_sweep(args.sweep)
    rank_by = getattr(args, "rank_by", None) or spec.rank_by
    progress = False if getattr(args, "no_progress", False) else None
    outcome = run_sweep(spec, args.out, sweep_file=args.sweep, workers=args.workers,
                        scheduler=args.scheduler, backend=getattr(args, "backend", "auto"),
                        progress=progress, resume=not getattr(args, "fresh", False))
    from sim.sweep.summary import check_rank_by
    check_rank_by(outcome.records, rank_by, args.sweep)
    info = summary(outcome, rank_by)
    if getattr(args, "json", False):
        from sim.commands.output import print_json
        print_json(info)
    else:
        print(table_text(outcome.records, spec.varied_keys(), spec.metrics))
        metric, direction = rank_direction(rank_by)
        best = outcome.best(rank_by)
        if best is None:
            print(f"\nbest: none (no finished point has {metric})")
        else:
            value = lookup(best["result"], metric)
            print(f"\nbest by {metric} ({direction}): #{best['index']} {describe(best)}  "
                  f"{metric} = {value:.4g}")
        print(f"{info['points']} points: {info['ok']} ok, {info['errors']} errors, "
              f"{info['crashes']} crashed, {info['resumed']} resumed  ->  "
              f"{outcome.out_dir / 'results.csv'}")
    if getattr(args, "plot", False) and info["ok"]:
        import contextlib
        import sys
        from sim.commands.plot import cmd_plot
        plot_args = argparse.Namespace(results=str(outcome.out_dir), x=None,
                                       y=rank_direction(rank_by)[0], hue=None, facet=None,
                                       title=None, out=None)
        # with --json, stdout holds the one JSON object: figure paths go to stderr
        with contextlib.redirect_stdout(sys.stderr if getattr(args, "json", False)
                                        else sys.stdout):
            cmd_plot(plot_args)
    return 1 if info["crashes"] else 0
