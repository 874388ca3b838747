"""Checks a Chrome trace against the rules of the Trace Event Format.

The rules are those of Google's "Trace Event Format" document (the JSON
format chrome://tracing and Perfetto's JSON importer read), restricted to what
a viewer needs to show a trace faithfully:

* the file is a JSON array of events or an object whose ``traceEvents`` is
  one; ``displayTimeUnit``, when present, is ``"ms"`` or ``"ns"``;
* every event is an object with a one-character phase ``ph`` from the
  format's list, a string ``name`` (optional only for end events), and
  ``pid`` / ``tid`` that are integers or strings; ``cat`` is a string and
  ``args`` an object when present;
* timestamps ``ts`` (microseconds) are finite numbers, required on every
  event but metadata; complete events (``X``) carry a finite ``dur >= 0``;
  instant events have scope ``s`` in ``g``, ``p``, ``t``; flow and async
  events carry an ``id``; counter events have numeric ``args``;
* metadata events (``M``) are ``process_name`` / ``thread_name`` with a string
  ``args.name``, ``process_labels`` with a string ``args.labels``, or
  ``process_sort_index`` / ``thread_sort_index`` with an integer
  ``args.sort_index``;
* complete events of one thread nest: one that starts inside another ends
  inside it (viewers stack slices by thread, and Perfetto's importer drops or
  truncates slices that overlap without nesting). A tolerance of
  ``slack_us`` absorbs floating-point rounding of microsecond times.

:func:`problems` returns the broken rules (empty when the trace is valid).
"""
from __future__ import annotations

import math
from typing import Any

PHASES = set("BEXiIC" "bne" "stf" "P" "NOD" "M" "Vv" "R" "c" "()")
METADATA = {"process_name": ("name", str), "thread_name": ("name", str),
            "process_labels": ("labels", str), "process_sort_index": ("sort_index", int),
            "thread_sort_index": ("sort_index", int)}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _id_ok(v: Any) -> bool:
    return (isinstance(v, (int, str)) and not isinstance(v, bool))


def problems(trace: Any, slack_us: float = 1e-3, limit: int = 20) -> list[str]:
    """Rules of the Trace Event Format that ``trace`` (parsed JSON) breaks."""
    out: list[str] = []

    def bad(i, msg):
        if len(out) < limit:
            out.append(f"traceEvents[{i}]: {msg}" if i is not None else msg)

    if isinstance(trace, dict):
        events = trace.get("traceEvents")
        if not isinstance(events, list):
            return ["traceEvents must be a list"]
        unit = trace.get("displayTimeUnit", "ms")
        if unit not in ("ms", "ns"):
            bad(None, f"displayTimeUnit must be 'ms' or 'ns', not {unit!r}")
    elif isinstance(trace, list):
        events = trace
    else:
        return ["a trace is a JSON array of events or an object with traceEvents"]
    slices: dict[tuple, list[tuple[float, float, int]]] = {}
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            bad(i, "an event must be an object")
            continue
        ph = e.get("ph")
        if not isinstance(ph, str) or ph not in PHASES:
            bad(i, f"unknown phase ph={ph!r}")
            continue
        if ph != "E" and not isinstance(e.get("name"), str):
            bad(i, "name must be a string")
        ids_ok = True
        for key in ("pid", "tid"):
            if key in e and not _id_ok(e[key]):
                bad(i, f"{key} must be an integer or a string")
                ids_ok = False
        if "pid" not in e:
            bad(i, "pid is required")
        if "cat" in e and not isinstance(e["cat"], str):
            bad(i, "cat must be a string")
        if "args" in e and not isinstance(e["args"], dict):
            bad(i, "args must be an object")
        if ph == "M":
            rule = METADATA.get(e.get("name"))
            if rule is None:
                bad(i, f"unknown metadata event {e.get('name')!r}")
                continue
            key, typ = rule
            v = (e.get("args") or {}).get(key)
            if not isinstance(v, typ) or isinstance(v, bool):
                bad(i, f"{e['name']} needs args.{key} of type {typ.__name__}")
            if e["name"].startswith("thread") and "tid" not in e:
                bad(i, f"{e['name']} needs a tid")
            continue
        if not _finite(e.get("ts")):
            bad(i, f"ts must be a finite number, not {e.get('ts')!r}")
            continue
        if "tid" not in e:
            bad(i, "tid is required")
        if ph == "X":
            dur = e.get("dur")
            if not _finite(dur) or dur < 0:
                bad(i, f"complete event needs a finite dur >= 0, not {dur!r}")
                continue
            if ids_ok:
                slices.setdefault((e.get("pid"), e.get("tid")), []).append((e["ts"], dur, i))
        elif ph in ("i", "I") and e.get("s", "t") not in ("g", "p", "t"):
            bad(i, f"instant event scope must be g, p or t, not {e.get('s')!r}")
        elif ph in "stfbneSTFp" and not _id_ok(e.get("id", e.get("id2"))):
            bad(i, f"phase {ph} needs an id")
        elif ph == "C" and not all(_finite(v) for v in (e.get("args") or {}).values()):
            bad(i, "counter args must be numbers")
    for (pid, tid), items in slices.items():
        items.sort(key=lambda x: (x[0], -x[1]))
        stack: list[tuple[float, int]] = []      # (end, event index)
        for ts, dur, i in items:
            while stack and stack[-1][0] <= ts + slack_us:
                stack.pop()
            end = ts + dur
            if stack and end > stack[-1][0] + slack_us:
                j = stack[-1][1]
                bad(i, f"overlaps traceEvents[{j}] on pid {pid!r} tid {tid!r} without "
                       f"nesting (ends {end - stack[-1][0]:.6g} us after it)")
            stack.append((end, i))
    return out
