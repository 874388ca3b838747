"""``clustersim validate``: published measurements vs prediction, with MAPE."""
from __future__ import annotations

import sys

from tqdm import tqdm

from sim.validation import cases, validate


def _pct(x) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def _worst(w) -> str:
    return "-" if w is None else f"{w['name']} ({w['error'] * 100:+.1f}%)"


def table(report: dict) -> str:
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


def cmd_validate(args) -> int:
    from sim.commands.output import print_json
    todo = cases(getattr(args, "suite", None))
    bar = tqdm(total=len(todo), desc="validate", file=sys.stderr, disable=None)

    def tick(row):
        bar.set_postfix_str(row["name"])
        bar.update()

    report = validate(todo, progress=tick)
    bar.close()
    if args.json:
        print_json(report)
    else:
        print(table(report))
    return 0
