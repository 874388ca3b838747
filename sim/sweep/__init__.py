"""Sweeps: run a grid of scenarios in processes or on a dask cluster, resumably.

>>> spec = parse_sweep({"base": "default", "grid": {"parallelism.tp": [4, 8]}})
>>> [p.varied for p in expand_points(spec)]
[{'parallelism.tp': 4}, {'parallelism.tp': 8}]
"""
from sim.sweep.backends import BACKENDS, choose_backend, have_dask
from sim.sweep.point import BaseScenario, resolve_base, run_point
from sim.sweep.driver import SweepOutcome, run_sweep
from sim.sweep.spec import DEFAULT_METRICS, Point, SweepSpec, expand_points, load_sweep, \
    parse_sweep
from sim.sweep.store import RESULTS_CSV, RESULTS_JSONL, lookup
from sim.sweep.summary import best_record, rank_direction, table_text

__all__ = ["BACKENDS", "BaseScenario", "DEFAULT_METRICS", "Point", "RESULTS_CSV",
           "RESULTS_JSONL", "SweepOutcome", "SweepSpec", "best_record", "choose_backend",
           "expand_points", "have_dask", "load_sweep", "lookup", "parse_sweep", "rank_direction",
           "resolve_base", "run_point", "run_sweep", "table_text"]
