"""The result files of a sweep, written as points finish so nothing is lost.

``results.jsonl``  one record per finished point (see :mod:`sim.sweep.point`), appended
                   in completion order; the source of truth, read back to resume.
``results.csv``    one row per point: index, status, (seed), the varied keys, the
                   metrics, error. Rows are appended as points finish and the file is
                   rewritten sorted by point index when the sweep ends.
``.lock``          held (``flock``) while a sweep writes the folder: a second sweep on
                   the same folder stops at once instead of computing every point twice.

Resuming is safe against edits: ``sweep.yaml`` records the SHA-256 of the whole
resolved base scenario (and of the trace file it names), each record the SHA-256 of
its point's resolved scenario and seed. A folder written from a different base is
refused; a record whose point hash differs is computed again. A line cut short by a
killed sweep is removed from ``results.jsonl`` when the sweep resumes.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from sim.io import OutputError, atomic_open, ensure_dir, write_text
from sim.sweep.spec import SweepSpec, yaml_value
from workloads.errors import InputError

RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
SWEEP_YAML = "sweep.yaml"
LOCK = ".lock"


def scenario_sha256(data: dict, folder: str | Path = ".", seed: Any = None) -> str:
    """SHA-256 of a resolved scenario mapping (and ``seed``), including the bytes of the
    trace file it names, so that editing the trace changes the hash too."""
    h = hashlib.sha256(json.dumps([data, seed], sort_keys=True, default=str).encode())
    trace = data.get("trace") if isinstance(data, dict) else None
    if isinstance(trace, str):
        path = Path(folder) / trace
        with contextlib.suppress(OSError):
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


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

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock; another sweep holding it is an :class:`InputError`."""
        import fcntl
        ensure_dir(self.out_dir)
        try:
            fd = os.open(self.out_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"cannot create the lock file: {e.strerror}",
                              file=str(self.out_dir / LOCK)) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                pid = f" (pid {holder})" if holder.isdigit() else ""
                raise InputError(f"another sweep{pid} is writing to this folder; "
                                 "wait for it or use another --out", file=str(self.out_dir)) \
                    from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)                # closing releases the lock

    def check_base(self, base_sha256: str, label: str) -> None:
        """Refuse a folder whose results were computed from a different base scenario."""
        path = self.out_dir / SWEEP_YAML
        if not path.exists() or not self.jsonl_path.exists():
            return
        try:
            old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            old = {}
        recorded = old.get("base_sha256") if isinstance(old, dict) else None
        if recorded and recorded != base_sha256:
            raise InputError(
                f"the results in this folder were computed from a different base scenario "
                f"(sha256 {recorded[:12]}, now {base_sha256[:12]} from {label}); "
                "use --fresh to discard them, or another --out", file=str(self.out_dir))

    def write_manifest(self, manifest: dict) -> None:
        """Write ``sweep.yaml`` (what the folder's results were computed from)."""
        write_text(self.out_dir / SWEEP_YAML, yaml.safe_dump(manifest, sort_keys=False))

    def finished(self) -> dict[str, dict]:
        """Records already written, by point key (crashed points are left to be retried).

        Lines cut short by a killed sweep are removed from the file first (atomically);
        a later record of a key wins.
        """
        done: dict[str, dict] = {}
        if not self.jsonl_path.exists():
            return done
        good, torn = [], 0
        for line in self.jsonl_path.read_bytes().decode("utf-8", "replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                torn += bool(line.strip())
                continue
            good.append(line)
            if isinstance(rec, dict) and "key" in rec and rec.get("status") in ("ok", "error"):
                done[rec["key"]] = rec
        if torn:
            write_text(self.jsonl_path, "".join(line + "\n" for line in good))
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

