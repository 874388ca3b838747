"""How close are simulated step times to published measurements?

Runs ``clustersim validate`` (or reads its saved ``--json`` output) and draws
predicted against measured step time per validation group, log-log, with the
y = x line and a +-5% band; fitted rows are filled, held-back rows hollow,
and the legend gives each group's MAPE.

    python -m experiments.validation_parity --out out/validation
    python -m experiments.validation_parity --quick --out out/validation-quick
    python -m sim.cli validate --json > v.json && \\
        python -m experiments.validation_parity --from v.json --out out/validation

Writes into --out: validation_parity.csv and validation_parity.{png,pdf}.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from experiments.plotting import save, write_rows
from sim.plots.figures import parity_plot, parity_rows

COLUMNS = ["name", "suite", "group", "fit", "gpu", "gpus", "dtype", "measured_s",
           "predicted_s", "error", "source"]
#: --quick: the A100 suite's rows on at most this many GPUs (seconds to run)
QUICK_MAX_GPUS = 96


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="validation_parity", description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", default=None, help="one validation suite (default: all)")
    p.add_argument("--quick", action="store_true",
                   help=f"only the A100 suite's rows on <= {QUICK_MAX_GPUS} GPUs (seconds)")
    p.add_argument("--from", dest="from_file", default=None, metavar="FILE",
                   help="read rows from saved `clustersim validate --json` output")
    p.add_argument("--out", default="out/validation", help="output folder (default: %(default)s)")
    return p


def load_rows(args) -> list[dict]:
    """Validation rows: from a saved file, or by running the selected cases."""
    if args.from_file:
        from workloads.readers import read_text
        return json.loads(read_text(Path(args.from_file), "--from"))["rows"]
    from sim.validation import cases, validate
    selected = cases("a100" if args.quick else args.suite)
    if args.quick:
        selected = [c for c in selected if c.scenario["cluster"]["gpus"] <= QUICK_MAX_GPUS]
    return validate(selected)["rows"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    raw = load_rows(args)
    rows = parity_rows(raw)
    for r in raw:
        if r.get("predicted_s") is None:
            print(f"left out (cannot run): {r['name']}: {r.get('cannot_run', '')}")
    out = Path(args.out)
    write_rows(rows, out / "validation_parity.csv", COLUMNS)
    gpus = sorted({r["gpu"] for r in rows if r.get("gpu")})
    what = "A100 suite, small rows" if args.quick else (f"suite {args.suite}" if args.suite
                                                        else "all suites")
    fig = parity_plot(rows, title=f"Simulated vs published step time ({what}; "
                      f"{', '.join(gpus)})")
    stem = "validation_parity_quick" if args.quick else "validation_parity"
    paths = save(fig, out, stem)
    print("wrote " + ", ".join(str(p) for p in [out / "validation_parity.csv", *paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
