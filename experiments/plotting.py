"""Plotting helpers shared by the experiment scripts.

The style, figure and CSV helpers live in :mod:`sim.plots.style` (shared with
``clustersim plot``); this module adds the layout heatmaps, bar charts and
scaling plots. Plots read rows, never engine objects.
"""
from __future__ import annotations

import math

import matplotlib
import matplotlib.ticker

from sim.plots import labels
from sim.plots.style import (COLUMN_IN, PALETTE, STYLE, figure, grid_figure, ok_rows,  # noqa: F401
                             plt, read_rows, save, styled, write_rows)


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
                    xlabel: str | None = None, ylabel: str | None = None,
                    title: str | None = None, min_span: float = 0.5):
    """One annotated heatmap of ``metric`` over ``x`` by ``y`` per value of ``panel``.

    Cells without a result (the layout does not fit in memory or is impossible)
    are grey with a cross, explained in a legend. ``scale`` multiplies the values
    shown (e.g. 100 for MFU in %). The colour range spans at least ``min_span``
    times the largest value, so a small difference does not look like a large one.
    Panels share the y axis; only the first is labelled.
    """
    from matplotlib.patches import Patch
    panels = sorted({r.get(panel) for r in rows}, key=str) if panel else [None]
    fig, axes = grid_figure(1, len(panels), 2.6 * len(panels) + 1.0, 2.9, sharey=True)
    values = [float(r[metric]) * scale for r in ok_rows(rows, metric)]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    vmin = max(0.0, min(vmin, vmax - min_span * abs(vmax))) if vmax > 0 else vmin
    image = None
    missing = False
    for ax, pv in zip(axes, panels):
        sub = [r for r in rows if panel is None or r.get(panel) == pv]
        xs, ys, grid = heatmap_grid(sub, x, y, metric)
        data = [[math.nan if v is None else v * scale for v in row] for row in grid]
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#dddddd")
        image = ax.imshow(data, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for i, row in enumerate(data):
            for j, v in enumerate(row):
                missing |= math.isnan(v)
                text = "×" if math.isnan(v) else fmt.format(v)
                light = not math.isnan(v) and v < vmin + 0.6 * (vmax - vmin)
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if light else "black")
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
        ax.set_xlabel(xlabel or x)
        ax.grid(False)
        if panel:
            ax.set_title(f"{labels.name(panel)}: {pv}")
    axes[0].set_ylabel(ylabel or y)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.08 if missing else 0, 1, 1))
    if image is not None:
        fig.colorbar(image, ax=axes, label=label or metric, shrink=0.9, pad=0.03)
    if missing:
        fig.legend(handles=[Patch(facecolor="#dddddd", edgecolor="none",
                                  label="× no result: does not fit in memory or impossible")],
                   loc="lower center", frameon=False, fontsize=6)
    return fig


@styled
def layout_bars(rows: list[dict], keys: list[str], metric: str, *, label: str | None = None,
                scale: float = 1.0, names: dict[str, str] | None = None,
                title: str | None = None):
    """Horizontal bars of ``metric`` per layout (ok rows only), smallest value on top."""
    names = names or {}
    good = sorted(ok_rows(rows, metric), key=lambda r: r[metric])
    fig, (ax,) = figure(1, height_in=max(1.6, 0.16 * len(good) + 0.6))
    labels = [" ".join(f"{names.get(k, k)}{r[k]}" for k in keys) for r in good]
    ax.barh(range(len(good)), [r[metric] * scale for r in good], color=PALETTE[0])
    if title:
        ax.set_title(title, fontsize=7)
    ax.set_yticks(range(len(good)), labels)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    ax.set_xlabel(label or metric)
    ax.grid(axis="y", visible=False)
    return fig


def _si(value: float, _pos=None) -> str:
    """1.5e6 -> "1.5M" (tick labels of large counts)."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


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
    # from zero: a 1% change in step time must not look like a cliff
    ax_t.set_ylim(0, max([r[time_metric] for r in good] + [0]) * 1.15 or 1)
    ax_r.plot(xs, [r[rate_metric] for r in good], marker="o", label="simulated")
    if good:
        ideal = [good[0][rate_metric] * v / xs[0] for v in xs]
        ax_r.plot(xs, ideal, linestyle="--", color="grey", label="linear")
        effs = scaling_efficiency(good, x, rate_metric)
        for v, r, e in list(zip(xs, good, effs))[1:]:
            ax_r.annotate(f"{e:.0%}", (v, r[rate_metric]), textcoords="offset points",
                          xytext=(0, -10), ha="center", fontsize=6)
    ax_r.set_ylabel(rate_label)
    ax_r.set_yscale("log")          # linear scaling is a straight line on log-log axes
    ax_r.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax_r.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_si))
    ax_r.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
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
