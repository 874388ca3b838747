"""Running one point of a sweep: base scenario + overrides -> one result record.

A record is a plain dict (it crosses process and machine boundaries)::

    {"index", "key", "seed", "overrides", "varied",
     "status": "ok" | "error" | "crash", "error": one line or None,
     "result": the ``run --json`` dict or None, "wall_s": seconds spent on the point}

``error`` is an input error of the point (the layout does not fit in memory, an
impossible parallel layout, ...): the scenario itself is wrong, re-running it gives
the same answer. ``crash`` is any other exception; a resumed sweep retries it.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.scenario.config import Scenario
from sim.scenario.load import apply_overrides, exists, parse_scenario, raw_scenario
from sim.sweep.spec import Point, SweepSpec
from topologies.errors import TopologyError
from workloads.errors import InputError


@dataclass(frozen=True)
class BaseScenario:
    """The raw scenario mapping every point starts from, its label and its folder."""

    data: dict[str, Any]
    label: str
    folder: Path


def resolve_base(spec: SweepSpec, sweep_file: str | Path | None) -> BaseScenario:
    """The base scenario of ``spec``; a relative path is taken from the sweep file's folder."""
    where = Path(sweep_file).parent if sweep_file else Path.cwd()
    label = str(sweep_file) if sweep_file else "sweep"
    if isinstance(spec.base, dict):
        return BaseScenario(copy.deepcopy(spec.base), f"{label}: base", where)
    candidate = where / spec.base
    name = str(candidate) if exists(candidate) or candidate.suffix in (
        ".yaml", ".yml", ".json") else spec.base
    try:
        data, scn_label, folder = raw_scenario(name)
    except InputError as e:
        raise InputError(e.message, file=label, field="base", value=spec.base) from None
    return BaseScenario(data, scn_label, Path(folder))


def prepare(base: BaseScenario, point: Point) -> Scenario:
    """The validated scenario of ``point`` (raises :class:`InputError` if invalid)."""
    data = apply_overrides(copy.deepcopy(base.data), point.set_args())
    return parse_scenario(data, base.label)


def check_keys(spec: SweepSpec, base: BaseScenario, points: list[Point],
               sweep_label: str) -> None:
    """Fail early if a key of the sweep is not a scenario key (a typo would fail every point)."""
    for point in points:
        try:
            prepare(base, point)
        except InputError as e:
            if not e.message.startswith(("unknown key", "cannot set a sub-key of a non-mapping")):
                continue
            bad = e.field if e.field != "--set" else str(e.value).split("=", 1)[0]
            for key in point.overrides:
                if bad == key or bad.startswith(key + ".") or key.startswith(bad + "."):
                    raise InputError(f"not a scenario key ({e.message} '{bad}')",
                                     file=sweep_label, field=f"{spec.section_of(key)}.{key}",
                                     value=point.overrides[key]) from None
            raise


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, (InputError, TopologyError)) else \
        f"{type(exc).__name__}: {text}"


def run_point(base: BaseScenario, point: Point) -> dict:
    """Simulate ``point``; never raises for a bad scenario (the record says what failed)."""
    from sim.scenario.execute import run_scenario
    t0 = time.perf_counter()
    record = {"index": point.index, "key": point.key, "seed": point.seed,
              "overrides": point.overrides, "varied": point.varied,
              "status": "ok", "error": None, "result": None}
    try:
        scn = prepare(base, point)
        record["result"] = run_scenario(scn, base.folder, seed=point.seed, label=base.label).result
    except (InputError, TopologyError) as e:
        record.update(status="error", error=_one_line(e))
    except Exception as e:  # noqa: BLE001 - a crashed point must not end the sweep
        record.update(status="crash", error=_one_line(e))
    record["wall_s"] = time.perf_counter() - t0
    return record
