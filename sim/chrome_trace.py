"""Chrome trace (Perfetto / chrome://tracing) output: one track per rank class and stream."""
from __future__ import annotations

from pathlib import Path

from sim.engine.classes import RankClass
from sim.engine.executor import Span
from sim.io import dumps_json, write_text


def chrome_events(spans: list[Span], classes: list[RankClass], pid_offset: int = 0) -> list[dict]:
    """Trace-event JSON objects (times in microseconds)."""
    events: list[dict] = []
    tids: dict[tuple[int, str], int] = {}
    for c in classes:
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
            args["wait_us"] = (sp.sync - sp.start) * 1e6
        if sp.layer:
            args["layer"] = sp.layer
        events.append({"ph": "X", "name": sp.op, "cat": sp.kind, "pid": pid_offset + sp.cls,
                       "tid": tids[key], "ts": sp.start * 1e6,
                       "dur": (sp.end - sp.start) * 1e6, "args": args})
    return events


def write_chrome_trace(path: str | Path, events: list[dict]) -> None:
    """Write the trace atomically (see :mod:`sim.io`)."""
    write_text(path, dumps_json({"traceEvents": events, "displayTimeUnit": "ms"}))
