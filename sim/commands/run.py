"""``clustersim run``: simulate a scenario and report step and run metrics."""
from __future__ import annotations

from pathlib import Path

from sim.chrome_trace import (chrome_events, parse_indices, parse_range, run_timeline_path,
                              select_spans, timeline_events, write_chrome_trace)
from sim.io import check_output_path, ensure_dir, remove_stale, write_json, write_text


def _fmt(x, unit="", scale=1.0, digits=3):
    return "n/a" if x is None else f"{x * scale:.{digits}g}{unit}"


def summary_text(res: dict) -> str:
    b = res["breakdown"]
    lines = [
        f"scenario       {res['name']}",
        f"gpus           {res['gpus']}",
        f"step time      {_fmt(res['step_time_s'], ' s', digits=4)}",
        f"  compute      {_fmt(b['compute_s'], ' s', digits=4)}",
        f"  exposed comm {_fmt(b['exposed_comm_s'], ' s', digits=4)}",
        f"  bubble/idle  {_fmt(b['bubble_s'], ' s', digits=4)}   ({b['critical_ranks']})",
        f"tokens/s       {_fmt(res['tokens_per_s'], digits=4)}",
        f"MFU / HFU      {_fmt(res['mfu'], '%', 100, 3)} / {_fmt(res['hfu'], '%', 100, 3)}",
        f"TFLOP/s/GPU    {_fmt(res['tflops_per_gpu'], digits=4)}",
        f"memory/GPU     {_fmt(res['memory_gb_per_gpu'], ' GB', digits=3)}",
    ]
    strag = res.get("stragglers")
    if strag:
        lines.append(f"stragglers     step {strag['step_time_s']:.4g} s vs "
                     f"{strag['baseline_step_time_s']:.4g} s without (x{strag['slowdown']:.4f})")
        for s in strag["by_straggler"]:
            lines.append(f"  {s['straggler'][:40]:<40} costs {s['cost_s']:.4g} s")
    rel = res.get("reliability")
    if rel:
        lines += reliability_lines(rel)
    s = res["sim"]
    lines.append(f"simulated in   {s['wall_s']:.2f} s ({s['events']} events, "
                 f"{s['rank_classes']} rank classes)")
    return "\n".join(lines)


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


def _ci(rel: dict, key: str, scale: float = 1.0, digits: int = 3) -> str:
    lo, hi = (rel.get("ci95") or {}).get(key) or (None, None)
    if lo is None or hi is None:
        return ""
    return f"  [95% CI {lo * scale:.{digits}g}, {hi * scale:.{digits}g}]"


def reliability_lines(rel: dict) -> list[str]:
    """The text summary of a faults run: horizon, goodput with its confidence
    interval, checkpointing, and the wasted GPU-hours by cause."""
    horizon = (f"{rel['horizon_days']:.4g} days" if rel.get("horizon_days")
               else f"until {rel['target_tokens']:.3g} tokens" if rel.get("target_tokens")
               else "n/a")
    lines = [
        f"run            {horizon}, {rel['replicas']} replicas, job MTBF "
        f"{_fmt(rel.get('mtbf_h'), ' h', digits=3)}",
        f"goodput        {_fmt(rel['goodput_fraction'], '%', 100, 3)}"
        f"{_ci(rel, 'goodput_fraction', 100)}   ETTR {_fmt(rel['ettr'], '%', 100, 3)}",
        f"interruptions  {_fmt(rel['interruptions'], digits=4)}{_ci(rel, 'interruptions')}",
        f"time to train  {_fmt(rel.get('time_to_train_days'), ' days', digits=4)}"
        f"{_ci(rel, 'time_to_train_days')}",
    ]
    if "checkpoint_mode" in rel:
        lines.append(
            f"checkpoints    {rel['checkpoint_mode']}, every "
            f"{_fmt(rel['checkpoint_interval_s'], ' s', digits=4)} of training, stall "
            f"{_fmt(rel['checkpoint_stall_s'], ' s', digits=3)}, restore "
            f"{_fmt(rel['restore_s'], ' s', digits=3)}")
    wasted = rel.get("wasted_gpu_hours") or {}
    total = rel.get("total_gpu_hours") or 0.0
    if wasted and total > 0:
        lines.append("wasted GPU-h   by cause (% of all GPU-hours)")
        for cause, gpu_h in sorted(wasted.items(), key=lambda kv: -kv[1]):
            if gpu_h > 0:
                lines.append(f"  {cause:<20} {gpu_h:12.4g}  ({100 * gpu_h / total:.2f}%)")
    return lines


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
