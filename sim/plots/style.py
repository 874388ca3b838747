"""The paper style of every figure, and rows in and out of CSV files.

Plots read rows (lists of dicts, e.g. from a sweep's ``results.csv``), never engine
objects, and draw with matplotlib's Agg backend in one consistent paper style:
small serif-free fonts, light grid, no top/right spines, colour-blind-safe colours.
Every figure is saved as both PNG (300 dpi; ``CLUSTERSIM_PNG_DPI`` sets another
resolution, e.g. a lower one for quick drafts) and PDF, atomically. Nothing
here imports the engine: a figure can be redrawn from a CSV alone.
"""
from __future__ import annotations

import csv
import functools
import math
import os
from pathlib import Path
from typing import Any, Iterable

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]

STYLE = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5,
    "lines.linewidth": 1.4, "lines.markersize": 4, "savefig.bbox": "tight",
    "figure.dpi": 100, "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
}

#: Resolution of saved PNGs unless ``CLUSTERSIM_PNG_DPI`` names another.
PNG_DPI = 300

#: Width of a single column of a two-column paper, inches.
COLUMN_IN = 3.4


def styled(draw):
    """Run a drawing function inside the paper style (rcParams apply while artists are made)."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)
    return wrapper


def _parse(text: str | None) -> Any:
    if text is None or text == "":
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            continue
    return {"True": True, "False": False}.get(text, text)


def write_rows(rows: list[dict], path: str | Path, columns: list[str]) -> None:
    """Write ``rows`` (dicts keyed by ``columns``) as CSV, atomically."""
    from sim.io import atomic_open
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a CSV file with numbers parsed (empty cells become None)."""
    with Path(path).open(newline="") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def ok_rows(rows: Iterable[dict], metric: str) -> list[dict]:
    """Rows whose status is ok (or absent) and whose ``metric`` is a number."""
    return [r for r in rows if r.get("status", "ok") == "ok"
            and isinstance(r.get(metric), (int, float)) and not math.isnan(r[metric])]


@styled
def figure(n_panels: int = 1, width_in: float = COLUMN_IN, height_in: float = 2.4):
    """A figure with ``n_panels`` side by side in the paper style."""
    fig, axes = plt.subplots(1, n_panels, figsize=(width_in * max(1, n_panels) ** 0.85,
                                                   height_in), squeeze=False)
    return fig, list(axes[0])


@styled
def grid_figure(n_rows: int, n_cols: int, width_in: float, height_in: float,
                sharey: bool = False):
    """A figure with an ``n_rows`` x ``n_cols`` grid of panels (row-major list)."""
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width_in, height_in), squeeze=False,
                             sharey=sharey)
    return fig, [ax for row in axes for ax in row]


def save(fig, out_dir: str | Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` into ``out_dir``; close the figure."""
    from sim.io import save_figure
    out = Path(out_dir)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    with plt.rc_context(STYLE):
        save_figure(fig, paths[0], dpi=int(os.environ.get("CLUSTERSIM_PNG_DPI") or PNG_DPI))
        save_figure(fig, paths[1])
    plt.close(fig)
    return paths


def thumbnail(png: str | Path, dest: str | Path, width_px: int = 900) -> Path:
    """A small copy of ``png`` (at most ``width_px`` wide) for a README, atomically."""
    from PIL import Image

    from sim.io import atomic_open
    with Image.open(png) as im:
        if im.width > width_px:
            im = im.resize((width_px, round(im.height * width_px / im.width)),
                           Image.LANCZOS)
        im = im.convert("RGB").quantize(colors=128)
        with atomic_open(dest, "wb") as fh:
            im.save(fh, format="PNG", optimize=True)
    return Path(dest)
