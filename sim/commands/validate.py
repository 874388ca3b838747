"""``clustersim validate``: published measurements vs prediction, with MAPE."""
from __future__ import annotations

import sys

from tqdm import tqdm

from sim.report import validation_table
from sim.validation import cases, validate


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
        print(validation_table(report))
    return 0
