"""Sweep files: a base scenario, fixed overrides, and the keys to vary.

A sweep YAML looks like::

    name: tp-pp                        # optional label
    base: default                      # preset name, path (relative to this file) or mapping
    set: {training.global_batch: 512}  # fixed overrides
    grid:                              # cartesian product, first key outermost
      parallelism.tp: [4, 8]
      parallelism.pp: [4, 8, 16]
    zip:                               # varied together (equal-length lists)
      parallelism.schedule: [1f1b, interleaved]
      parallelism.vpp: [1, 2]
    seeds: [0, 1]                      # innermost loop; default: the scenario's seed
    metrics: [step_time_s, mfu]        # dotted paths into the ``run --json`` result
    rank_by: mfu                       # metric that picks the best point

Keys are dotted scenario keys, exactly as ``clustersim run --set KEY=VALUE`` takes
them. The points are grid x zip x seeds, numbered from 0 in that nesting order.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, \
    model_validator

from workloads.errors import InputError
from workloads.inputs import pydantic_error, read_yaml

DEFAULT_METRICS = ["step_time_s", "mfu", "tokens_per_s", "memory_gb_per_gpu"]


class SweepSpec(BaseModel):
    """The validated contents of a sweep file."""

    model_config = ConfigDict(extra="forbid")

    name: str = "sweep"
    description: str = ""
    base: str | dict[str, Any] = Field("default", description="scenario preset name, path "
                                       "relative to the sweep file, or an inline scenario")
    set: dict[str, Any] = Field({}, description="fixed overrides, dotted keys")
    grid: dict[str, list[Any]] = Field({}, description="keys whose values are crossed")
    zip: dict[str, list[Any]] = Field({}, description="keys varied together")
    seeds: list[int] | None = Field(None, description="seeds of every point (default: "
                                    "the scenario's)")
    metrics: list[str] = Field(DEFAULT_METRICS, min_length=1,
                               description="dotted paths into the run result")
    rank_by: str = Field("mfu", description="metric that picks the best point")

    @field_validator("grid", "zip")
    @classmethod
    def _non_empty_lists(cls, v: dict[str, list]) -> dict[str, list]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"'{key}' needs at least one value")
        return v

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v):
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError("seeds must be a non-empty list of distinct integers")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        lengths = {len(v) for v in self.zip.values()}
        if len(lengths) > 1:
            raise ValueError("the lists under 'zip' must have equal lengths, got "
                             + ", ".join(f"{k}: {len(v)}" for k, v in self.zip.items()))
        seen: dict[str, str] = {}
        for section in ("set", "grid", "zip"):
            for key in getattr(self, section):
                if key in seen:
                    raise ValueError(f"key '{key}' appears in both '{seen[key]}' and "
                                     f"'{section}'")
                seen[key] = section
        return self

    def varied_keys(self) -> list[str]:
        """The keys that change from point to point, in column order."""
        return list(self.grid) + list(self.zip)

    def section_of(self, key: str) -> str | None:
        """``set``, ``grid`` or ``zip``: where ``key`` is given (None if nowhere)."""
        for section in ("set", "grid", "zip"):
            if key in getattr(self, section):
                return section
        return None


@dataclass(frozen=True)
class Point:
    """One scenario of a sweep: the base with ``overrides`` applied, run with ``seed``."""

    index: int
    overrides: dict[str, Any]
    varied: dict[str, Any]
    seed: int | None = None
    key: str = field(default="", compare=False)

    def set_args(self) -> list[str]:
        """The overrides as ``KEY=VALUE`` strings, as ``clustersim run --set`` takes them."""
        return [f"{k}={yaml_value(v)}" for k, v in self.overrides.items()]


def yaml_value(value: Any) -> str:
    """``value`` written so that ``yaml.safe_load`` reads it back unchanged."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    if text.endswith("\n..."):
        text = text[:-4].rstrip()
    return text


def point_key(overrides: dict[str, Any], seed: int | None) -> str:
    """A stable identity of a point (independent of its index), used to resume."""
    return json.dumps({"set": overrides, "seed": seed}, sort_keys=True, default=str)


def expand_points(spec: SweepSpec) -> list[Point]:
    """All points of ``spec``: grid (first key outermost) x zip x seeds."""
    grid_keys = list(spec.grid)
    combos = list(itertools.product(*(spec.grid[k] for k in grid_keys))) or [()]
    zip_rows = [dict(zip(spec.zip, vals)) for vals in zip(*spec.zip.values())] or [{}]
    seeds = spec.seeds or [None]
    points = []
    for combo in combos:
        for zrow in zip_rows:
            varied = {**dict(zip(grid_keys, combo)), **zrow}
            overrides = {**spec.set, **varied}
            for seed in seeds:
                points.append(Point(len(points), overrides, varied, seed,
                                    point_key(overrides, seed)))
    return points


def parse_sweep(data: Any, label: str = "sweep") -> SweepSpec:
    """Validate a sweep mapping; errors name ``label``, the field and the value."""
    if not isinstance(data, dict):
        raise InputError("a sweep must be a mapping of keys", file=label, field="(top)",
                         value=type(data).__name__)
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as e:
        raise pydantic_error(e, label) from None


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep YAML file."""
    return parse_sweep(read_yaml(path, "sweep file"), str(path))
