"""Running a whole sweep: expand the points, skip those already done, run the rest.

Results are written as each point finishes (:mod:`sim.sweep.store`), so a killed
sweep loses at most the points that were running; running it again with the same
output folder resumes: points whose key (overrides + seed) already has an ``ok`` or
``error`` record computed from the same resolved scenario (same SHA-256) are not run
again; a folder written from a different base scenario is refused.
"""
from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path

from sim.scenario.load import apply_overrides
from sim.sweep.backends import choose_backend, execute
from sim.sweep.point import BaseScenario, check_keys, resolve_base
from sim.sweep.spec import Point, SweepSpec, expand_points
from sim.sweep.store import (RESULTS_CSV, RESULTS_JSONL, ResultStore, csv_columns, csv_row,
                             scenario_sha256)
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


def point_sha256(base: BaseScenario, point: Point) -> str:
    """SHA-256 of the point's resolved scenario and seed (what its result depends on)."""
    data = apply_overrides(copy.deepcopy(base.data), point.set_args())
    return scenario_sha256(data, base.folder, point.seed)


def _resume(store: ResultStore, spec: SweepSpec, base: BaseScenario, points: list[Point],
            label: str, resume: bool) -> tuple[dict[int, dict], int]:
    """Records of ``points`` already in the folder (checked against the base and point
    hashes), after writing ``sweep.yaml`` for this sweep."""
    base_sha = scenario_sha256(base.data, base.folder)
    if not resume:
        for name in (RESULTS_JSONL, RESULTS_CSV):
            (store.out_dir / name).unlink(missing_ok=True)
    store.check_base(base_sha, label)
    done = store.finished()
    records: dict[int, dict] = {}
    for p in points:
        rec = done.get(p.key)
        if rec is not None and rec.get("point_sha256") == point_sha256(base, p):
            records[p.index] = {**rec, "index": p.index, "varied": p.varied}
    store.write_manifest({**spec.model_dump(), "base_resolved": base.label,
                          "base_sha256": base_sha})
    store.write_csv(records.values())
    return records, len(records)


def _write_parquet(spec: SweepSpec, out: Path, records) -> None:
    """``results.parquet`` next to the CSV when pyarrow is installed (see sim.sweep.parquet)."""
    from sim.sweep import parquet
    if parquet.available():
        parquet.write_parquet(records, [k for k in spec.varied_keys()
                                        if k not in ("index", "status", "seed")],
                              spec.metrics, out / parquet.RESULTS_PARQUET, name=spec.name,
                              seeds=bool(spec.seeds))


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
    with store.locked():
        records, resumed = _resume(store, spec, base, points, label, resume)
        todo = [p for p in points if p.index not in records]
        hashes = {p.key: point_sha256(base, p) for p in todo}
        bar = _progress(len(todo), progress)
        try:
            for rec in execute(base, todo, backend, workers, scheduler):
                rec["point_sha256"] = hashes.get(rec["key"])
                store.append(rec)
                records[rec["index"]] = rec
                bar.update(1)
        finally:
            bar.close()
            store.write_csv(records.values())
            _write_parquet(spec, out, records.values())
    ordered = [records[i] for i in sorted(records)]
    return SweepOutcome(spec, points, ordered, resumed, out, backend)

