"""Training-trace generation: pipeline schedules and the trace generator.

``generate(model, Layout(...), Training(...))`` returns a
:class:`workloads.trace.Trace` of one training step; ``schedule(name, pp, m,
vpp)`` the per-stage action order of a pipeline schedule.
"""
from workloads.generate.costs import Costs, ModelCosts
from workloads.generate.generator import generate, layer_split
from workloads.generate.layout import DEFAULT_BUCKET_BYTES, Layout, Training
from workloads.generate.ranks import DEFAULT_ORDER, RankGrid
from workloads.generate.schedules import (SCHEDULES, Action, in_flight_microbatches,
                                          schedule)

__all__ = ["generate", "Layout", "Training", "Costs", "ModelCosts", "RankGrid",
           "DEFAULT_ORDER", "DEFAULT_BUCKET_BYTES", "layer_split", "Action", "SCHEDULES",
           "schedule", "in_flight_microbatches"]
