"""Ranking and printing the points of a finished sweep."""
from __future__ import annotations

import math
from typing import Any

from sim.sweep.store import lookup

#: Metric name endings (of the last dotted part) for which smaller is better.
_LOWER_IS_BETTER = ("_s", "_h", "_hours", "_days", "_gb_per_gpu", "interruptions")


def rank_direction(rank_by: str) -> tuple[str, str]:
    """``(metric, "min"|"max")`` for a ``rank_by`` text.

    ``min:METRIC`` / ``max:METRIC`` say the direction; a bare metric is minimised when
    it is a time, a memory or a count of losses (``step_time_s``, ``memory_gb_per_gpu``,
    ``reliability.wasted_gpu_hours.total``...) and maximised otherwise (``mfu``,
    ``tokens_per_s``, ``reliability.goodput_fraction``).
    """
    if rank_by.startswith(("min:", "max:")):
        return rank_by[4:], rank_by[:3]
    last = rank_by.rsplit(".", 1)[-1]
    rate = last.endswith("_per_s")
    lower = not rate and (last.endswith(_LOWER_IS_BETTER) or "wasted" in rank_by)
    return rank_by, "min" if lower else "max"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def metric_names(result: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the numeric values in a result dict (the metrics one can rank by)."""
    if not isinstance(result, dict):
        return []
    names = []
    for key, value in result.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            names += metric_names(value, path + ".")
        elif _number(value) is not None:
            names.append(path)
    return names


def check_rank_by(records: list[dict], rank_by: str, label: str) -> None:
    """An :class:`InputError` if no finished point has the ``rank_by`` metric at all."""
    from workloads.errors import InputError
    metric, _ = rank_direction(rank_by)
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok or any(lookup(r.get("result"), metric) is not None for r in ok):
        return
    known = metric_names(ok[0].get("result"))
    hint = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    raise InputError(f"no such metric in the results (results are saved; metrics: {hint})",
                     file=label, field="--rank-by", value=metric)


def best_record(records: list[dict], rank_by: str) -> dict | None:
    """The ok record with the best ``rank_by`` value (lowest index among ties), or None."""
    metric, direction = rank_direction(rank_by)
    scored = [(_number(lookup(r.get("result"), metric)), r["index"], r) for r in records
              if r.get("status") == "ok"]
    scored = [s for s in scored if s[0] is not None]
    if not scored:
        return None
    sign = 1.0 if direction == "min" else -1.0
    return min(scored, key=lambda s: (sign * s[0], s[1]))[2]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_text(records: list[dict], keys: list[str], metrics: list[str],
               max_rows: int = 40) -> str:
    """A fixed-width table of the points (index order); a failed point shows its message."""
    head = ["#"] + keys + ["status"]
    rows = []
    for r in sorted(records, key=lambda r: r["index"])[:max_rows]:
        lead = [str(r["index"])] + [_fmt(r.get("varied", {}).get(k)) for k in keys] + [r["status"]]
        tail = [_fmt(lookup(r["result"], m)) for m in metrics] if r["status"] == "ok" else None
        rows.append((lead, tail if tail is not None else (r.get("error") or "")[:100]))
    lead_w = [max([len(head[i])] + [len(lead[i]) for lead, _ in rows]) for i in range(len(head))]
    tail_w = [max([len(m)] + [len(t[i]) for _, t in rows if isinstance(t, list)])
              for i, m in enumerate(metrics)]

    def line(lead: list[str], tail) -> str:
        left = "  ".join(c.ljust(w) for c, w in zip(lead, lead_w))
        right = tail if isinstance(tail, str) else "  ".join(
            c.ljust(w) for c, w in zip(tail, tail_w))
        return (left + "  " + right).rstrip()

    out = [line(head, metrics)] + [line(lead, tail) for lead, tail in rows]
    if len(records) > max_rows:
        out.append(f"... {len(records) - max_rows} more rows in results.csv")
    return "\n".join(out)


def describe(record: dict) -> str:
    """``parallelism.tp=4 parallelism.pp=8 seed=1`` for a record."""
    parts = [f"{k}={_fmt(v)}" for k, v in record.get("varied", {}).items()]
    if record.get("seed") is not None:
        parts.append(f"seed={record['seed']}")
    return " ".join(parts) or "(base scenario)"
