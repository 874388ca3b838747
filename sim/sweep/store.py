"""The result files of a sweep, written as points finish so nothing is lost.

``results.jsonl``  one record per finished point (see :mod:`sim.sweep.point`), appended
                   in completion order; the source of truth, read back to resume.
``results.csv``    one row per point: index, status, (seed), the varied keys, the
                   metrics, error. Rows are appended as points finish and the file is
                   rewritten sorted by point index when the sweep ends.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable

from sim.io import atomic_open
from sim.sweep.spec import SweepSpec, yaml_value

RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"


def lookup(result: dict | None, path: str) -> Any:
    """The value at dotted ``path`` in ``result`` (None where any part is missing)."""
    node: Any = result
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def csv_columns(spec: SweepSpec) -> list[str]:
    """Columns of ``results.csv`` for ``spec``."""
    cols = ["index", "status"] + (["seed"] if spec.seeds else [])
    cols += [k for k in spec.varied_keys() if k not in ("index", "status", "seed")]
    cols += [m for m in spec.metrics if m not in cols]
    return cols + ["error"]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return yaml_value(value)
    return value


def csv_row(record: dict, columns: list[str]) -> dict:
    """One CSV row (a dict of cells) of a record."""
    row = {}
    for col in columns:
        if col in ("index", "status", "seed", "error"):
            value = record.get(col)
        elif col in record.get("varied", {}):
            value = record["varied"][col]
        else:
            value = lookup(record.get("result"), col)
        row[col] = _cell(value)
    return row


def _json_default(obj: Any) -> Any:
    try:
        return float(obj)
    except (TypeError, ValueError):
        return str(obj)


class ResultStore:
    """The result files of one sweep output folder."""

    def __init__(self, out_dir: str | Path, columns: list[str]):
        if not columns:
            raise ValueError("a result store needs at least one column")
        self.out_dir = Path(out_dir)
        self.columns = list(columns)

    @property
    def jsonl_path(self) -> Path:
        return self.out_dir / RESULTS_JSONL

    @property
    def csv_path(self) -> Path:
        return self.out_dir / RESULTS_CSV

    def finished(self) -> dict[str, dict]:
        """Records already written, by point key (crashed points are left to be retried).

        A line cut short by a killed sweep is ignored; a later record of a key wins.
        """
        done: dict[str, dict] = {}
        if not self.jsonl_path.exists():
            return done
        for line in self.jsonl_path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "key" in rec and rec.get("status") in ("ok", "error"):
                done[rec["key"]] = rec
        return done

    def append(self, record: dict) -> None:
        """Append ``record`` to both files (and flush them) as soon as a point finishes."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, default=_json_default)
        needs_newline = self.jsonl_path.exists() and self.jsonl_path.stat().st_size > 0 and \
            not self.jsonl_path.read_bytes().endswith(b"\n")
        with self.jsonl_path.open("a") as f:
            f.write(("\n" if needs_newline else "") + line + "\n")
        new_csv = not self.csv_path.exists()
        with self.csv_path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            if new_csv:
                w.writeheader()
            w.writerow(csv_row(record, self.columns))

    def write_csv(self, records: Iterable[dict]) -> None:
        """Rewrite ``results.csv`` with ``records`` sorted by point index."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            w.writeheader()
            for rec in sorted(records, key=lambda r: r["index"]):
                w.writerow(csv_row(rec, self.columns))

