"""Sweep results as a Parquet table (``results.parquet``), for pandas and friends.

Written next to ``results.csv`` when a sweep ends, if pyarrow is installed
(``pip install clustersim[parquet]``). One row per point, sorted by index,
the same columns as ``results.csv`` with types instead of text:

===================  ========  ==============================================
column               type      meaning
===================  ========  ==============================================
index                int64     point number (grid x zip x seeds order)
status               string    ok | error | crash
seed                 int64     the point's seed (only when the sweep has seeds)
<varied key>         int64, float64, bool or string (mixed types: string)
                               the value of each varied scenario key, e.g.
                               ``parallelism.tp``; lists and mappings as YAML
<metric>             float64   each metric of the sweep (e.g. ``mfu``,
                               ``step_time_s``, ``breakdown.bubble_s``);
                               null where the point has none
error                string    the error of a failed point, else null
===================  ========  ==============================================

Metric units follow their names (``_s`` seconds, ``mfu`` a fraction). The
table's metadata holds ``clustersim.sweep`` (the sweep's name) and
``clustersim.columns`` (which columns are keys and which metrics).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from sim.io import atomic_open
from sim.sweep.store import lookup
from sim.sweep.spec import yaml_value

RESULTS_PARQUET = "results.parquet"


def available() -> bool:
    """True when pyarrow can be imported."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _column_type(values: list):
    import pyarrow as pa
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pa.string()
    if kinds == {bool}:
        return pa.bool_()
    if kinds <= {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def _plain(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return yaml_value(v)


def write_parquet(records: Iterable[dict], keys: list[str], metrics: list[str],
                  path: str | Path, *, name: str = "sweep", seeds: bool = False) -> Path:
    """Write ``records`` (sweep records) as the table described above, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    recs = sorted(records, key=lambda r: r["index"])
    cols: dict[str, tuple[list, object]] = {
        "index": ([r["index"] for r in recs], pa.int64()),
        "status": ([r.get("status") for r in recs], pa.string()),
    }
    if seeds:
        cols["seed"] = ([r.get("seed") for r in recs], pa.int64())
    for k in keys:
        vals = [_plain(r.get("varied", {}).get(k)) for r in recs]
        typ = _column_type(vals)
        if typ == pa.string():
            vals = [None if v is None else str(v) for v in vals]
        cols[k] = (vals, typ)
    for m in metrics:
        if m in cols:
            continue
        vals = []
        for r in recs:
            v = lookup(r.get("result"), m)
            vals.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                        else None)
        cols[m] = (vals, pa.float64())
    cols["error"] = ([r.get("error") for r in recs], pa.string())
    table = pa.table({c: pa.array(v, type=t) for c, (v, t) in cols.items()})
    meta = {b"clustersim.sweep": name.encode(),
            b"clustersim.columns": json.dumps({"keys": keys, "metrics": metrics}).encode()}
    table = table.replace_schema_metadata(meta)
    with atomic_open(path, "wb") as fh:
        pq.write_table(table, fh)
    return Path(path)
