"""Overlapping text in a figure, measured with the renderer's bounding boxes.

:func:`text_overlaps` draws the figure once and reports every pair of visible,
non-empty texts (tick labels, axis labels, titles, legend entries,
annotations) whose boxes overlap, and every text that runs into a panel it
does not belong to (a y label drawn over the neighbouring panel). Boxes are
shrunk by ``tolerance_px`` first, so touching is not overlapping.
"""
from __future__ import annotations

from matplotlib.text import Text
from matplotlib.transforms import Bbox


def _hidden_tick_labels(fig) -> set[int]:
    """ids of tick labels matplotlib will not draw (ticks outside the view)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            drawn = {id(t) for tick in axis._update_ticks() for t in (tick.label1, tick.label2)}
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for t in (tick.label1, tick.label2):
                    if id(t) not in drawn:
                        hidden.add(id(t))
    return hidden


def _texts(fig) -> list[Text]:
    out = []
    hidden = _hidden_tick_labels(fig)
    for t in fig.findobj(Text):
        if id(t) in hidden:
            continue
        if t.get_visible() and t.get_text().strip() and t.get_alpha() != 0:
            if t.axes is not None and not t.axes.get_visible():
                continue
            out.append(t)
    return out


def _shrunk(bb: Bbox, px: float) -> Bbox:
    return Bbox.from_extents(bb.x0 + px, bb.y0 + px, bb.x1 - px, bb.y1 - px)


def _hit(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _owners(fig) -> dict[int, object]:
    """id(text) -> the panel a text belongs to (None: the figure itself)."""
    owner: dict[int, object] = {}
    legends = [(lg, None) for lg in fig.legends]
    legends += [(ax.get_legend(), ax) for ax in fig.axes if ax.get_legend() is not None]
    for lg, ax in legends:
        for t in list(lg.get_texts()) + [lg.get_title()]:
            owner[id(t)] = ax
    return owner


def text_overlaps(fig, tolerance_px: float = 1.0) -> list[str]:
    """Descriptions of overlapping texts in ``fig`` (empty: none)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _texts(fig)
    owner = _owners(fig)
    boxes = [_shrunk(t.get_window_extent(renderer), tolerance_px) for t in texts]
    problems = []
    for i, (a, ba) in enumerate(zip(texts, boxes)):
        for b, bb in zip(texts[i + 1:], boxes[i + 1:]):
            if _hit(ba, bb):
                problems.append(f"{a.get_text()!r} overlaps {b.get_text()!r}")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    for t, bt in zip(texts, boxes):
        home = owner.get(id(t), t.axes)
        for ax in panels:
            if ax is home:
                continue
            if _hit(bt, _shrunk(ax.get_window_extent(renderer), tolerance_px)):
                problems.append(f"{t.get_text()!r} runs into another panel")
    return problems
