"""Plotting helpers shared by the experiment scripts.

They read rows (lists of dicts, e.g. from a sweep's ``results.csv``), never engine
objects, and draw with matplotlib's Agg backend in one consistent paper style:
small serif-free fonts, light grid, no top/right spines, colour-blind-safe colours.
Every figure is saved as both PNG (300 dpi) and PDF.
"""
from __future__ import annotations

import csv
import functools
import math
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
def grid_figure(n_rows: int, n_cols: int, width_in: float, height_in: float):
    """A figure with an ``n_rows`` x ``n_cols`` grid of panels (row-major list)."""
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width_in, height_in), squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save(fig, out_dir: str | Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` into ``out_dir``; close the figure."""
    from sim.io import save_figure
    out = Path(out_dir)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    with plt.rc_context(STYLE):
        save_figure(fig, paths[0], dpi=300)
        save_figure(fig, paths[1])
    plt.close(fig)
    return paths


def heatmap_grid(rows: list[dict], x: str, y: str, metric: str
                 ) -> tuple[list, list, list[list[float | None]]]:
    """Distinct ``x`` and ``y`` values (sorted) and the matrix ``[y][x]`` of ``metric``.

    A cell with no ok row is None; with several ok rows (e.g. seeds) it is their mean.
    """
    xs = sorted({r[x] for r in rows if r.get(x) is not None})
    ys = sorted({r[y] for r in rows if r.get(y) is not None})
    cells: dict[tuple, list[float]] = {}
    for r in ok_rows(rows, metric):
        cells.setdefault((r[x], r[y]), []).append(float(r[metric]))
    grid = [[(sum(v) / len(v)) if (v := cells.get((xv, yv))) else None for xv in xs]
            for yv in ys]
    return xs, ys, grid


@styled
def layout_heatmaps(rows: list[dict], x: str, y: str, metric: str, *, panel: str | None = None,
                    label: str | None = None, scale: float = 1.0, fmt: str = "{:.3g}",
                    xlabel: str | None = None, ylabel: str | None = None):
    """One annotated heatmap of ``metric`` over ``x`` by ``y`` per value of ``panel``.

    Cells without a result (the layout does not fit or is impossible) are grey with
    a cross. ``scale`` multiplies the values shown (e.g. 100 for MFU in %).
    """
    panels = sorted({r.get(panel) for r in rows}, key=str) if panel else [None]
    fig, axes = figure(len(panels), height_in=2.6)
    values = [float(r[metric]) * scale for r in ok_rows(rows, metric)]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    image = None
    for ax, pv in zip(axes, panels):
        sub = [r for r in rows if panel is None or r.get(panel) == pv]
        xs, ys, grid = heatmap_grid(sub, x, y, metric)
        data = [[math.nan if v is None else v * scale for v in row] for row in grid]
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#dddddd")
        image = ax.imshow(data, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for i, row in enumerate(data):
            for j, v in enumerate(row):
                text = "×" if math.isnan(v) else fmt.format(v)
                light = not math.isnan(v) and v < vmin + 0.6 * (vmax - vmin)
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if light else "black")
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(ylabel or y)
        ax.grid(False)
        if panel:
            ax.set_title(f"{pv}")
    if image is not None:
        fig.colorbar(image, ax=axes, label=label or metric, shrink=0.9)
    return fig


@styled
def layout_bars(rows: list[dict], keys: list[str], metric: str, *, label: str | None = None,
                scale: float = 1.0, names: dict[str, str] | None = None):
    """Horizontal bars of ``metric`` per layout (ok rows only), smallest value on top."""
    names = names or {}
    good = sorted(ok_rows(rows, metric), key=lambda r: r[metric])
    fig, (ax,) = figure(1, height_in=max(1.6, 0.16 * len(good) + 0.6))
    labels = [" ".join(f"{names.get(k, k)}{r[k]}" for k in keys) for r in good]
    ax.barh(range(len(good)), [r[metric] * scale for r in good], color=PALETTE[0])
    ax.set_yticks(range(len(good)), labels)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    ax.set_xlabel(label or metric)
    ax.grid(axis="y", visible=False)
    return fig


def scaling_efficiency(rows: list[dict], x: str, y: str) -> list[float]:
    """``(y / x) / (y0 / x0)`` per row, relative to the row with the smallest ``x``.

    For throughput ``y`` (tokens/s) against GPUs ``x`` this is the weak- or
    strong-scaling efficiency: 1 is linear scaling.
    """
    if not rows:
        return []
    first = min(rows, key=lambda r: r[x])
    per_unit0 = first[y] / first[x]
    return [(r[y] / r[x]) / per_unit0 for r in rows]


@styled
def scaling_plot(rows: list[dict], x: str, time_metric: str, rate_metric: str, *,
                 xlabel: str = "GPUs", time_label: str = "step time (s)",
                 rate_label: str = "tokens/s", title: str | None = None):
    """Step time and throughput against ``x`` (log2 axis), with ideal linear throughput."""
    good = sorted(ok_rows(ok_rows(rows, time_metric), rate_metric), key=lambda r: r[x])
    fig, (ax_t, ax_r) = figure(2)
    xs = [r[x] for r in good]
    ax_t.plot(xs, [r[time_metric] for r in good], marker="o")
    ax_t.set_ylabel(time_label)
    ax_r.plot(xs, [r[rate_metric] for r in good], marker="o", label="simulated")
    if good:
        ideal = [good[0][rate_metric] * v / xs[0] for v in xs]
        ax_r.plot(xs, ideal, linestyle="--", color="grey", label="linear")
        effs = scaling_efficiency(good, x, rate_metric)
        for v, r, e in list(zip(xs, good, effs))[1:]:
            ax_r.annotate(f"{e:.0%}", (v, r[rate_metric]), textcoords="offset points",
                          xytext=(0, -10), ha="center", fontsize=6)
    ax_r.set_ylabel(rate_label)
    ax_r.legend(frameon=False)
    for ax in (ax_t, ax_r):
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(v) for v in xs])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
