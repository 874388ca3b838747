"""``clustersim validate``: published measurements vs prediction, with MAPE."""
from __future__ import annotations

import sys

from tqdm import tqdm

from sim.validation import cases, validate


def table(report: dict) -> str:
    lines = [f"{'case':<20}{'gpus':>6}{'measured s':>12}{'predicted s':>13}{'error':>9}{'MFU':>7}",
             "-" * 67]
    for r in report["rows"]:
        lines.append(f"{r['name']:<20}{r['gpus']:>6}{r['measured_s']:>12.3f}"
                     f"{r['predicted_s']:>13.3f}{r['error'] * 100:>8.1f}%"
                     f"{r['mfu'] * 100:>6.1f}%")
    lines.append("-" * 67)
    lines.append(f"MAPE {report['mape'] * 100:.2f}% over {len(report['rows'])} cases "
                 f"({report['gpu']}, one set of efficiencies)")
    return "\n".join(lines)


def cmd_validate(args) -> int:
    from sim.cli import print_json
    todo = cases()
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
