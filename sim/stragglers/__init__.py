"""Step-level stragglers: slow GPUs, jitter, slow-node episodes, slow links and
input imbalance, turned into engine inputs, plus a what-if attribution report.

Entry points: :func:`apply_stragglers` (speeds and graph),
:func:`simulate_with_stragglers` (one step, episodes mixed) and
:func:`attribute` (what each straggler costs).
"""
from .attribution import Attribution, attribute, describe, op_kind_totals
from .base import StepInputs
from .registry import EPISODIC, KINDS, apply_stragglers
from .step import MAX_EPISODES, simulate_with_stragglers

__all__ = ["Attribution", "attribute", "describe", "op_kind_totals", "StepInputs",
           "EPISODIC", "KINDS", "apply_stragglers", "MAX_EPISODES",
           "simulate_with_stragglers"]
