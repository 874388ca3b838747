"""Chrome trace (Perfetto / chrome://tracing) output: one track per rank class and stream.

Size controls, for traces of large jobs:

* :func:`select_spans` keeps a window of micro-batches (ops named ``...mb<k>...``
  by the generator; ops of no micro-batch, such as gradient reductions and
  the optimizer, are kept) and a subset of rank classes;
* timestamps and durations are microseconds rounded to 3 decimals (ns), not
  15 significant digits;
* a file name ending in ``.gz`` is written gzip-compressed (Perfetto and
  chrome://tracing open it as is);
* the run-level timeline goes to a file of its own (:func:`run_timeline_path`),
  so a 54-day timeline does not share a file with a seconds-long step.
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sim.io import dumps_json, write_bytes, write_text
from workloads.errors import InputError

if TYPE_CHECKING:       # annotations only: writing traces needs no engine import
    from sim.engine.classes import RankClass
    from sim.engine.executor import Span

_MICROBATCH = re.compile(r"(?:^|\.)mb(\d+)(?:\.|$)")


def us(seconds: float) -> float:
    """Seconds as microseconds rounded to 3 decimals (nanoseconds)."""
    return round(seconds * 1e6, 3)


def microbatch_of(op: str) -> int | None:
    """The micro-batch index in a generated op name (``F.mb3.c0.L2.qkv``), or None."""
    m = _MICROBATCH.search(op)
    return int(m.group(1)) if m else None


def parse_range(text: str, field: str) -> tuple[int, int]:
    """``"A:B"`` (inclusive) or ``"A"`` as a pair of non-negative ints."""
    parts = text.split(":")
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or lo < 0 or hi < lo:
        raise InputError("expected A:B with 0 <= A <= B (or one index)", field=field, value=text)
    return lo, hi


def parse_indices(text: str, field: str) -> set[int]:
    """``"0,3,5:7"`` as a set of non-negative ints."""
    out: set[int] = set()
    for part in text.split(","):
        lo, hi = parse_range(part.strip(), field)
        out.update(range(lo, hi + 1))
    return out


def select_spans(spans: list[Span], microbatches: tuple[int, int] | None = None,
                 classes: set[int] | None = None) -> list[Span]:
    """The spans inside a micro-batch window and a set of rank classes (None: all)."""
    out = []
    for sp in spans:
        if classes is not None and sp.cls not in classes:
            continue
        if microbatches is not None:
            mb = microbatch_of(sp.op)
            if mb is not None and not microbatches[0] <= mb <= microbatches[1]:
                continue
        out.append(sp)
    return out


def chrome_events(spans: list[Span], classes: list[RankClass], pid_offset: int = 0) -> list[dict]:
    """Trace-event JSON objects (times in microseconds, 3 decimals)."""
    events: list[dict] = []
    tids: dict[tuple[int, str], int] = {}
    present = {sp.cls for sp in spans}
    for c in classes:
        if c.index not in present:
            continue
        events.append({"ph": "M", "name": "process_name", "pid": pid_offset + c.index,
                       "args": {"name": c.label()}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid_offset + c.index,
                       "args": {"sort_index": c.index}})
    for sp in spans:
        key = (sp.cls, sp.stream)
        if key not in tids:
            tids[key] = len([k for k in tids if k[0] == sp.cls])
            events.append({"ph": "M", "name": "thread_name", "pid": pid_offset + sp.cls,
                           "tid": tids[key], "args": {"name": sp.stream}})
        args = {"kind": sp.kind}
        if sp.sync > sp.start:
            args["wait_us"] = us(sp.sync - sp.start)
        if sp.layer:
            args["layer"] = sp.layer
        events.append({"ph": "X", "name": sp.op, "cat": sp.kind, "pid": pid_offset + sp.cls,
                       "tid": tids[key], "ts": us(sp.start),
                       # from the rounded ends, so back-to-back spans never overlap
                       "dur": round(us(sp.end) - us(sp.start), 3), "args": args})
    return events


def run_timeline_path(path: str | Path) -> Path:
    """Where the run timeline of a step trace at ``path`` goes: ``x.json`` -> ``x.run.json``
    (``x.json.gz`` -> ``x.run.json.gz``)."""
    p = Path(path)
    gz = p.name.endswith(".gz")
    base = p.name[:-3] if gz else p.name
    stem, dot, ext = base.rpartition(".")
    name = f"{stem}.run.{ext}" if dot else f"{base}.run"
    return p.with_name(name + (".gz" if gz else ""))


TIMELINE_TRACK = "run timeline (replica 0)"


def timeline_events(timeline: list, pid: int) -> list[dict]:
    """Chrome trace events (microseconds) of a run-level timeline on process ``pid``.

    Spans (training, checkpoints, detection, waiting for repair, restarts,
    restores) become complete events ("X") on thread 0; failures, which
    take no time, become instant events ("i") on thread 1.
    """
    events = [
        {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": TIMELINE_TRACK}},
        {"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}},
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": 0, "args": {"name": "job"}},
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": 1, "args": {"name": "failures"}},
    ]
    for name, cat, start_s, dur_s in timeline:
        if dur_s > 0:
            events.append({"ph": "X", "name": name, "cat": cat, "pid": pid, "tid": 0,
                           "ts": round(start_s * 1e6, 3), "dur": round(dur_s * 1e6, 3)})
        elif cat == "failure":
            events.append({"ph": "i", "s": "t", "name": name, "cat": cat, "pid": pid,
                           "tid": 1, "ts": round(start_s * 1e6, 3)})
    return events


def write_chrome_trace(path: str | Path, events: list[dict]) -> None:
    """Write the trace atomically (see :mod:`sim.io`), gzip-compressed for ``.gz``."""
    text = dumps_json({"traceEvents": events, "displayTimeUnit": "ms"})
    if str(path).endswith(".gz"):
        write_bytes(path, gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        write_text(path, text)
