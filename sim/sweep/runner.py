"""Running a whole sweep: expand the points, skip those already done, run the rest.

Results are written as each point finishes (:mod:`sim.sweep.store`), so a killed
sweep loses at most the points that were running; running it again with the same
output folder resumes: points whose key (overrides + seed) already has an ``ok`` or
``error`` record are not run again.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from sim.io import ensure_dir, write_text
from sim.sweep.backends import choose_backend, execute
from sim.sweep.point import check_keys, resolve_base
from sim.sweep.spec import Point, SweepSpec, expand_points
from sim.sweep.store import RESULTS_CSV, RESULTS_JSONL, ResultStore, csv_columns, csv_row
from sim.sweep.summary import best_record


@dataclass
class SweepOutcome:
    """A finished sweep: one record per point, sorted by point index."""

    spec: SweepSpec
    points: list[Point]
    records: list[dict]
    resumed: int
    out_dir: Path
    backend: str

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)

    def best(self, rank_by: str | None = None) -> dict | None:
        """The best ok record by ``rank_by`` (default: the sweep's ``rank_by``)."""
        return best_record(self.records, rank_by or self.spec.rank_by)

    def rows(self) -> list[dict]:
        """The CSV rows as dicts (index order), values unformatted ('' for missing)."""
        cols = csv_columns(self.spec)
        return [csv_row(r, cols) for r in self.records]


def _progress(total: int, enabled: bool | None):
    from tqdm import tqdm
    return tqdm(total=total, file=sys.stderr, unit="point", disable=None if enabled is None
                else not enabled, leave=False, dynamic_ncols=True)


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, sweep_file: str | Path | None = None,
              workers: int = 1, scheduler: str | None = None, backend: str = "auto",
              progress: bool | None = None, resume: bool = True) -> SweepOutcome:
    """Run every point of ``spec`` not already in ``out_dir``; return all records.

    ``sweep_file`` locates a relative ``base`` path and names the file in errors.
    ``progress``: a tqdm bar on stderr (None: only when stderr is a terminal).
    ``resume=False`` discards earlier results in ``out_dir`` first.
    """
    label = str(sweep_file) if sweep_file else "sweep"
    points = expand_points(spec)
    base = resolve_base(spec, sweep_file)
    check_keys(spec, base, points, label)
    backend = choose_backend(workers, scheduler, backend)
    out = Path(out_dir)
    store = ResultStore(out, csv_columns(spec))
    if not resume:
        for name in (RESULTS_JSONL, RESULTS_CSV):
            (out / name).unlink(missing_ok=True)
    done = store.finished()
    records: dict[int, dict] = {}
    for p in points:
        if p.key in done:
            records[p.index] = {**done[p.key], "index": p.index, "varied": p.varied}
    resumed = len(records)
    ensure_dir(out)
    write_text(out / "sweep.yaml", yaml.safe_dump(
        {**spec.model_dump(), "base_resolved": base.label}, sort_keys=False))
    store.write_csv(records.values())
    todo = [p for p in points if p.index not in records]
    bar = _progress(len(todo), progress)
    try:
        for rec in execute(base, todo, backend, workers, scheduler):
            store.append(rec)
            records[rec["index"]] = rec
            bar.update(1)
    finally:
        bar.close()
        store.write_csv(records.values())
    ordered = [records[i] for i in sorted(records)]
    return SweepOutcome(spec, points, ordered, resumed, out, backend)

