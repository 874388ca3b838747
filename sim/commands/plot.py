"""``clustersim plot``: a figure from a sweep's results, without simulating.

    clustersim plot RESULTS [--x KEY] [--y METRIC] [--hue KEY] [--facet KEY]
                    [--title TEXT] [--out DIR]

RESULTS is a sweep's output folder (its ``results.csv``) or any CSV file of
rows with a ``status`` column (or none). Defaults: ``--y`` the sweep's
``rank_by`` metric (else mfu, else the first metric column), ``--x`` the first
varied key, ``--hue`` the second when there is one (keys that take one value
among the finished rows are skipped). Writes
``plot_<y>_by_<x>[...].png`` and ``.pdf`` into ``--out`` (default: the results
folder) and prints their paths. Unknown columns exit 2 naming the option.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from workloads.errors import InputError


def add_plot_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the options of ``clustersim plot`` on ``p``."""
    p.add_argument("results", help="a sweep's --out folder or a results CSV file")
    p.add_argument("--x", default=None, metavar="KEY", help="x axis (default: first varied key)")
    p.add_argument("--y", default=None, metavar="METRIC",
                   help="y axis (default: the sweep's rank_by metric, else mfu)")
    p.add_argument("--hue", default=None, metavar="KEY",
                   help="one line (or bar) per value (default: second varied key)")
    p.add_argument("--facet", default=None, metavar="KEY", help="one panel per value")
    p.add_argument("--title", default=None, help="figure title (default: the sweep's name)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the PNG and PDF (default: next to the results)")


def _sweep_info(folder: Path) -> dict:
    import yaml
    path = folder / "sweep.yaml"
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        data = None
    return data if isinstance(data, dict) else {}


def resolve(path_text: str) -> tuple[Path, dict]:
    """The CSV file named by RESULTS and the sweep description beside it (if any)."""
    path = Path(path_text)
    csv_path = path / "results.csv" if path.is_dir() else path
    if not csv_path.is_file():
        raise InputError("no results CSV here (give a sweep's --out folder or a CSV file)",
                         field="RESULTS", value=path_text)
    return csv_path, _sweep_info(csv_path.parent)


def choose_axes(rows: list[dict], info: dict, x, y, hue) -> tuple[str, str, str | None]:
    """Fill in the default x, y and hue (see the module docstring)."""
    from sim.plots.results import key_columns, metric_columns
    columns = list(rows[0]) if rows else []
    ok = [r for r in rows if r.get("status", "ok") == "ok"] or rows
    keys = [k for k in key_columns(columns) if len({str(r.get(k)) for r in ok}) > 1]
    metrics = metric_columns(columns)
    if y is None:
        rank = str(info.get("rank_by") or "").split(":")[-1]
        y = next((m for m in (rank, "mfu") if m in metrics), metrics[0] if metrics else None)
    free = [k for k in keys if k not in (x, hue)]
    if x is None:
        x = free.pop(0) if free else None
    if hue is None and len(free) > 1 and free[0] != x:
        hue = free[0]
    for opt, val in (("--x", x), ("--y", y)):
        if val is None:
            raise InputError("cannot choose a default; name a column", field=opt, value=None)
    return x, y, hue


def cmd_plot(args) -> int:
    from sim.plots.results import plot_results
    from sim.plots.style import read_rows, save
    csv_path, info = resolve(args.results)
    rows = read_rows(csv_path)
    columns = list(rows[0]) if rows else []
    x, y, hue = choose_axes(rows, info, args.x, args.y, args.hue)
    for opt, val in (("--x", x), ("--y", y), ("--hue", hue), ("--facet", args.facet)):
        if val is not None and val not in columns:
            raise InputError(f"no such column in {csv_path} (columns: {', '.join(columns)})",
                             field=opt, value=val)
    name = info.get("name") or csv_path.parent.name
    n_ok = sum(1 for r in rows if r.get("status", "ok") == "ok")
    title = args.title if args.title is not None else f"{name}: {n_ok} of {len(rows)} points"
    try:
        fig = plot_results(rows, x, y, hue=hue, facet=args.facet, title=title)
    except ValueError as e:
        raise InputError(str(e), file=str(csv_path), field="--y", value=y) from None
    parts = [y, "by", x] + (["hue", hue] if hue else []) + (["facet", args.facet]
                                                           if args.facet else [])
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", "plot_" + "_".join(parts))
    out = Path(args.out) if args.out is not None else csv_path.parent
    for path in save(fig, out, stem):
        print(path)
    return 0
