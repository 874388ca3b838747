"""Text renderings of results: the summary of ``run`` (step, stragglers,
reliability) and the table of ``validate``.

Plain functions of the JSON result dicts, so that the engine side, the
experiments and the CLI all print the same text without importing the CLI.
"""
from __future__ import annotations


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



def _pct(x) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def _worst(w) -> str:
    return "-" if w is None else f"{w['name']} ({w['error'] * 100:+.1f}%)"


def validation_table(report: dict) -> str:
    """The ``clustersim validate`` table: one row per published run, MAPE per group."""
    width = 88
    lines = [f"{'case':<36}{'fit':>4}{'gpus':>6}{'measured s':>12}{'predicted s':>13}"
             f"{'error':>9}{'MFU':>8}", "-" * width]
    group = None
    for r in report["rows"]:
        if r.get("group") != group:
            group = r.get("group")
            lines.append(f"[{group}]")
        if r.get("error") is None:
            lines.append(f"{r['name'][:35]:<36}{'*' if r.get('fit') else '':>4}{r['gpus']:>6}"
                         f"{r['measured_s']:>12.3f}  cannot run: {r['cannot_run']}")
            continue
        lines.append(f"{r['name'][:35]:<36}{'*' if r.get('fit') else '':>4}{r['gpus']:>6}"
                     f"{r['measured_s']:>12.3f}{r['predicted_s']:>13.3f}"
                     f"{r['error'] * 100:>8.1f}%{r['mfu'] * 100:>7.1f}%")
    lines.append("-" * width)
    for g, s in report.get("groups", {}).items():
        lines.append(f"{g:<12} MAPE {_pct(s['mape']):>7} over {s['cases']:>2} "
                     f"(fit {_pct(s['fit']['mape'])} over {s['fit']['cases']}, held back "
                     f"{_pct(s['held_back']['mape'])} over {s['held_back']['cases']}); "
                     f"worst {_worst(s['worst'])}"
                     + (f"; {s['cannot_run']} cannot run" if s.get("cannot_run") else ""))
    lines.append(f"MAPE {_pct(report['mape'])} over {len(report['rows'])} cases "
                 f"({report['gpu']}; one set of efficiencies per GPU type and precision; "
                 "* = row used for fitting)")
    return "\n".join(lines)
