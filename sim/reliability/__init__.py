"""Run-level reliability model: failures, checkpoints, recovery and goodput.

Public entry point :func:`simulate_run`; scenario sections
:class:`FaultConfig` (``faults``), :class:`CheckpointConfig` (``checkpoint``)
and :class:`RunConfig` (``run``), validated with :func:`parse_section`.
"""
from .config import (CheckpointConfig, ComponentConfig, FaultConfig, RunConfig,
                     SparesConfig, parse_section)
from .costs import CheckpointCosts, resolve_costs
from .engine import simulate_run
from .failures import FailureSource, FailureStream, load_llama3_counts, resolve_sources
from .formulas import daly_goodput, daly_interval_s, goodput_immune_restart, young_interval_s
from .result import RunResult

__all__ = [
    "CheckpointConfig", "ComponentConfig", "FaultConfig", "RunConfig", "SparesConfig",
    "parse_section", "CheckpointCosts", "resolve_costs", "simulate_run", "FailureSource",
    "FailureStream", "load_llama3_counts", "resolve_sources", "daly_goodput",
    "daly_interval_s", "goodput_immune_restart", "young_interval_s", "RunResult",
]
