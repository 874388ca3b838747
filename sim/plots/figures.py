"""The parity plot of validation rows and the Gantt chart of one step's spans.

Both read plain rows (dicts), never engine objects: the scripts in
``experiments/`` run the engine and pass rows here.
"""
from __future__ import annotations

import math

from sim.plots.style import PALETTE, grid_figure, plt, styled

#: colours of span kinds in the timeline (Okabe & Ito)
KIND_COLOURS = {"compute": PALETTE[0], "communication": PALETTE[1], "wait": "#bbbbbb"}
BREAKDOWN = (("compute_s", "compute", PALETTE[0]), ("exposed_comm_s", "exposed communication",
                                                    PALETTE[1]),
             ("bubble_s", "bubble / waiting", "#bbbbbb"))
MARKERS = "osD^v<>PX*"


def parity_rows(rows: list[dict]) -> list[dict]:
    """Rows that ran, with ``error = (predicted - measured) / measured`` recomputed."""
    out = []
    for r in rows:
        p, m = r.get("predicted_s"), r.get("measured_s")
        if isinstance(p, (int, float)) and isinstance(m, (int, float)) and m > 0:
            out.append({**r, "error": (p - m) / m})
    return out


def group_mape(rows: list[dict]) -> dict[str, float]:
    """Mean absolute percentage error (a fraction) per group of parity rows."""
    groups: dict[str, list[float]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(abs(r["error"]))
    return {g: sum(v) / len(v) for g, v in groups.items()}


@styled
def parity_plot(rows: list[dict], *, title: str, band: float = 0.05):
    """Predicted against measured step time, log-log, with y = x and a +-``band`` band.

    One colour and marker per group (MAPE in the legend); fitted rows filled,
    held-back rows hollow.
    """
    from matplotlib.lines import Line2D
    good = parity_rows(rows)
    fig, (ax,) = grid_figure(1, 1, 4.6, 3.4)
    values = [v for r in good for v in (r["measured_s"], r["predicted_s"])] or [1.0, 10.0]
    lo, hi = min(values) / 1.4, max(values) * 1.4
    xs = [lo * (hi / lo) ** (i / 50) for i in range(51)]
    ax.fill_between(xs, [x * (1 - band) for x in xs], [x * (1 + band) for x in xs],
                    color="#dddddd", linewidth=0)
    ax.plot(xs, xs, color="black", linewidth=0.8)
    mape = group_mape(good)
    handles = []
    for i, g in enumerate(mape):
        colour, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
        for fit in (True, False):
            sub = [r for r in good if r["group"] == g and bool(r.get("fit")) == fit]
            if sub:
                ax.scatter([r["measured_s"] for r in sub], [r["predicted_s"] for r in sub],
                           marker=marker, s=22, linewidths=1.0, edgecolors=colour,
                           facecolors=colour if fit else "none", zorder=3)
        n = sum(r["group"] == g for r in good)
        handles.append(Line2D([], [], linestyle="", marker=marker, color=colour,
                              label=f"{g}: MAPE {mape[g]:.1%} (n={n})"))
    handles += [Line2D([], [], linestyle="", marker="o", color="black", label="fitted"),
                Line2D([], [], linestyle="", marker="o", markerfacecolor="none",
                       color="black", label="held back"),
                Line2D([], [], color="black", linewidth=0.8, label="predicted = measured"),
                plt.Rectangle((0, 0), 1, 1, color="#dddddd", label=f"±{band:.0%}")]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("Measured step time (s)")
    ax.set_ylabel("Predicted step time (s)")
    ax.set_title(title, fontsize=8)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False,
              fontsize=6)
    return fig


def union_s(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals (seconds)."""
    total, reach = 0.0, -math.inf
    for a, b in sorted(intervals):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def busy_by_stage(spans: list[dict]) -> dict[str, dict[str, float]]:
    """Per stage and kind, the time covered by that kind's spans (overlaps counted once)."""
    out: dict[str, dict[str, list]] = {}
    for s in spans:
        out.setdefault(s["stage"], {}).setdefault(s["kind"], []).append((s["start_s"],
                                                                         s["end_s"]))
    return {st: {k: union_s(v) for k, v in kinds.items()} for st, kinds in out.items()}


@styled
def step_timeline(spans: list[dict], breakdown: list[dict], *, title: str):
    """A Gantt chart of one step per stage (compute and communication lanes) and
    a stacked bar of each stage's step-time breakdown.

    ``spans``: ``stage``, ``kind`` (compute / communication / wait), ``start_s``,
    ``end_s``. ``breakdown``: ``stage`` and the ``BREAKDOWN`` keys (seconds).
    """
    from matplotlib.patches import Patch
    stages = list(dict.fromkeys([b["stage"] for b in breakdown] + [s["stage"] for s in spans]))
    import matplotlib.ticker
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.0, 0.45 * len(stages) + 1.6),
                                 gridspec_kw={"width_ratios": (3, 1)})
    lanes = {"compute": 0.2, "communication": -0.2, "wait": -0.2}
    for i, st in enumerate(stages):
        y = len(stages) - 1 - i
        for kind in ("wait", "compute", "communication"):
            bars = [(s["start_s"], s["end_s"] - s["start_s"]) for s in spans
                    if s["stage"] == st and s["kind"] == kind and s["end_s"] > s["start_s"]]
            if bars:
                ax.broken_barh(bars, (y + lanes[kind] - 0.18, 0.36),
                               facecolors=KIND_COLOURS[kind], linewidth=0)
    ys = list(range(len(stages)))[::-1]
    ax.set_yticks(ys, stages)
    ax.set_ylim(-0.6, len(stages) - 0.4)
    ax.set_xlabel("Time in step (s)")
    for a in (ax, bx):
        a.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    ax.set_title("Timeline (upper lane: compute, lower: communication)", fontsize=7)
    ax.grid(axis="y", visible=False)
    left = [0.0] * len(stages)
    for key, name, colour in BREAKDOWN:
        vals = [next((b.get(key, 0.0) for b in breakdown if b["stage"] == st), 0.0)
                for st in stages]
        bx.barh(ys, vals, left=left, color=colour, height=0.6, label=name)
        left = [a + b for a, b in zip(left, vals)]
    bx.set_yticks(ys, [""] * len(stages))
    bx.set_ylim(-0.6, len(stages) - 0.4)
    bx.set_xlabel("Step time (s)")
    bx.set_title("Breakdown (exposed comm.)", fontsize=7)
    bx.grid(axis="y", visible=False)
    handles = [Patch(color=KIND_COLOURS["compute"], label="compute"),
               Patch(color=KIND_COLOURS["communication"], label="communication (moving data)"),
               Patch(color=KIND_COLOURS["wait"], label="waiting for partners / bubble")]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=6,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(title, fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
