"""The ``clustersim plot`` figure: a metric against a key of a sweep's results.

:func:`plot_results` draws ``y`` against ``x`` from result rows (e.g. a
sweep's ``results.csv``), one line per value of ``hue`` and one panel per
value of ``facet``, with human labels and units (:mod:`sim.plots.labels`).
Numeric ``x`` gives lines (a log2 axis for GPU counts and other powers of
two spanning 8x or more); text ``x`` gives grouped bars. Rows that share
``x``, ``hue`` and ``facet`` (other keys varied too) are averaged, and the
y label says so. Only rows with status ok and a numeric ``y`` are drawn.
"""
from __future__ import annotations

import math

from sim.plots import labels
from sim.plots.style import PALETTE, grid_figure, ok_rows, styled

SECTIONS = ("model", "cluster", "parallelism", "training", "stragglers", "faults",
            "checkpoint", "run", "sim")


def key_columns(columns: list[str]) -> list[str]:
    """The columns that are scenario keys (``parallelism.tp``, ...), in order."""
    return [c for c in columns if c.split(".")[0] in SECTIONS]


def metric_columns(columns: list[str]) -> list[str]:
    """The columns that are results (everything but keys and bookkeeping)."""
    skip = {"index", "status", "error", "seed"}
    return [c for c in columns if c not in skip and c.split(".")[0] not in SECTIONS]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _log2_axis(key: str, xs: list) -> bool:
    if not xs or not all(_is_number(v) and v > 0 for v in xs):
        return False
    if key in ("cluster.gpus", "gpus"):
        return True
    powers = all(float(v).is_integer() and int(v) & (int(v) - 1) == 0 for v in xs)
    return powers and max(xs) / min(xs) >= 4


def _set_x_axis(ax, key: str, xs: list) -> None:
    """log2 for GPU counts and powers of two; ticks at the values when there are few."""
    if _log2_axis(key, xs):
        ax.set_xscale("log", base=2)
        ax.minorticks_off()
    if len(xs) <= 12 and all(float(v).is_integer() for v in xs):
        ax.set_xticks(xs, [f"{int(v):,}" for v in xs])


def _groups(rows: list[dict], key: str | None) -> list:
    if key is None:
        return [None]
    vals = {r.get(key) for r in rows}
    return sorted(vals, key=lambda v: (not _is_number(v), v if _is_number(v) else str(v)))


def _hue_means(rows: list[dict], hue: str | None, hues: list, x: str, y: str):
    """``(index, hue value, _mean_by(...))`` for each hue value that has rows."""
    for i, hv in enumerate(hues):
        part = [r for r in rows if hue is None or r.get(hue) == hv]
        if part:
            yield i, hv, _mean_by(part, x, y)


def _mean_by(rows: list[dict], x: str, y: str) -> tuple[list, list[float], bool]:
    cells: dict = {}
    for r in rows:
        cells.setdefault(r.get(x), []).append(float(r[y]))
    xs = _groups(rows, x)
    return xs, [sum(cells[v]) / len(cells[v]) for v in xs], any(
        len(v) > 1 for v in cells.values())


@styled
def plot_results(rows: list[dict], x: str, y: str, *, hue: str | None = None,
                 facet: str | None = None, title: str | None = None):
    """The figure (see the module docstring); raises ValueError with nothing to draw."""
    good = ok_rows(rows, y)
    if not good:
        raise ValueError(f"no finished row has a number in column {y!r}")
    facets = _groups(good, facet)
    ncols = min(len(facets), 3)
    nrows = math.ceil(len(facets) / ncols)
    fig, axes = grid_figure(nrows, ncols, 3.2 * ncols + (0.9 if hue else 0.0),
                            2.6 * nrows + (0.4 if title else 0.0), sharey=True)
    k = labels.scale(y)
    numeric_x = all(_is_number(r.get(x)) for r in good)
    hues = _groups(good, hue)
    averaged = False
    for ax, fv in zip(axes, facets):
        sub = [r for r in good if facet is None or r.get(facet) == fv]
        if numeric_x:
            for i, hv, (xs, ys, avg) in _hue_means(sub, hue, hues, x, y):
                averaged |= avg
                ax.plot(xs, [k * v for v in ys], marker="o", color=PALETTE[i % len(PALETTE)],
                        label=None if hue is None else str(hv))
            _set_x_axis(ax, x, _groups(good, x))
        else:
            cats = [str(v) for v in _groups(good, x)]
            width = 0.8 / len(hues)
            for i, hv, (xs, ys, avg) in _hue_means(sub, hue, hues, x, y):
                averaged |= avg
                pos = [cats.index(str(v)) + (i - (len(hues) - 1) / 2) * width for v in xs]
                ax.bar(pos, [k * v for v in ys], width=width * 0.95,
                       color=PALETTE[i % len(PALETTE)], label=None if hue is None else str(hv))
            ax.set_xticks(range(len(cats)), cats)
            ax.grid(axis="x", visible=False)
        ax.set_xlabel(labels.label(x))
        if facet is not None:
            ax.set_title(f"{labels.name(facet)}: {fv}")
    for ax in axes[len(facets):]:
        ax.set_visible(False)
    ylabel = labels.label(y) + (", mean" if averaged else "")
    for i, ax in enumerate(axes[:len(facets)]):
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
    if hue is not None:
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, title=labels.name(hue), loc="center left",
                   bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
