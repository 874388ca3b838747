"""Run-level reliability model: failures, checkpoints, recovery and goodput.

Public entry point :func:`simulate_run`; scenario sections
:class:`FaultConfig` (``faults``), :class:`CheckpointConfig` (``checkpoint``)
and :class:`RunConfig` (``run``), validated with :func:`parse_section`.
"""
import importlib

from .config import (CheckpointConfig, ComponentConfig, FaultConfig, RunConfig,
                     SparesConfig, parse_section)

# the model itself is imported on first use: reading a scenario needs only the configs
_LAZY = {"CheckpointCosts": "costs", "resolve_costs": "costs", "simulate_run": "engine",
         "FailureSource": "failures", "FailureStream": "failures",
         "load_llama3_counts": "failures", "resolve_sources": "failures",
         "daly_goodput": "formulas", "daly_interval_s": "formulas",
         "goodput_immune_restart": "formulas", "young_interval_s": "formulas",
         "RunResult": "result"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CheckpointConfig", "ComponentConfig", "FaultConfig", "RunConfig", "SparesConfig",
    "parse_section", "CheckpointCosts", "resolve_costs", "simulate_run", "FailureSource",
    "FailureStream", "load_llama3_counts", "resolve_sources", "daly_goodput",
    "daly_interval_s", "goodput_immune_restart", "young_interval_s", "RunResult",
]
