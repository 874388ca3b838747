"""Step-level stragglers: slow GPUs, jitter, slow-node episodes, slow links and
input imbalance, turned into engine inputs, plus a what-if attribution report.

Entry points: :func:`parse_stragglers` (the scenario's list),
:func:`apply_stragglers` (speeds and graph), :func:`simulate_with_stragglers`
(one step, episodes mixed) and :func:`attribute` (what each straggler costs).
"""
import importlib

from .base import StepInputs, Straggler
from .registry import KINDS, StragglerConfig, StragglerList, apply_stragglers, parse_stragglers

# the engine is imported on first use: reading a scenario needs only the kinds
_LAZY = {"Attribution": "attribution", "attribute": "attribution", "describe": "attribution",
         "op_kind_totals": "attribution", "MAX_EPISODES": "step", "EpisodeMixture": "step",
         "simulate_with_stragglers": "step"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Attribution", "attribute", "describe", "op_kind_totals", "StepInputs",
           "Straggler", "StragglerConfig", "StragglerList", "KINDS", "apply_stragglers",
           "parse_stragglers", "MAX_EPISODES", "EpisodeMixture", "simulate_with_stragglers"]
