"""``clustersim run``: simulate a scenario and report step and run metrics."""
from __future__ import annotations

from pathlib import Path

from sim.chrome_trace import (chrome_events, parse_indices, parse_range, run_timeline_path,
                              select_spans, timeline_events, write_chrome_trace)
from sim.io import check_output_path, ensure_dir, remove_stale, write_json, write_text
from sim.report import summary_text


def _clear_outputs(args) -> None:
    """Check the output paths and remove earlier outputs, so a failed run leaves none behind."""
    if args.out is not None:
        for name in ("result.json", "summary.txt"):
            remove_stale(ensure_dir(args.out) / name)
    if args.chrome_trace is not None:
        path = check_output_path(args.chrome_trace, "--chrome-trace")
        ensure_dir(path.parent, "--chrome-trace folder")
        remove_stale(path)
        remove_stale(run_timeline_path(path))


def cmd_run(args) -> int:
    from sim.commands.output import print_json
    _clear_outputs(args)
    window = ranks = None
    if getattr(args, "trace_microbatches", None):
        window = parse_range(args.trace_microbatches, "--trace-microbatches")
    if getattr(args, "trace_classes", None):
        ranks = parse_indices(args.trace_classes, "--trace-classes")
    # imported here: the scenario machinery (pydantic, generators) is not needed to
    # import this module's helpers, e.g. for trace replays
    from sim.scenario.load import load_scenario
    scn, label, folder = load_scenario(args.scenario, args.overrides)
    from sim.scenario.execute import run_scenario      # the engine: after the input is checked
    run = run_scenario(scn, folder, seed=args.seed, label=label,
                       progress=False if getattr(args, "no_progress", False) else None)
    res = run.result
    if args.chrome_trace is not None:
        step = run.shown_step
        spans = select_spans(step.spans, microbatches=window, classes=ranks)
        write_chrome_trace(args.chrome_trace, chrome_events(spans, step.classes))
        if run.timeline:
            write_chrome_trace(run_timeline_path(args.chrome_trace),
                               timeline_events(run.timeline, pid=0))
    if args.out is not None:
        write_json(Path(args.out) / "result.json", res)
        write_text(Path(args.out) / "summary.txt", summary_text(res) + "\n")
    if args.json:
        print_json(res)
    else:
        print(summary_text(res))
    return 0
