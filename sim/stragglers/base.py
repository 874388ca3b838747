"""What a step-level straggler model works on: per-rank speeds and the topology.

A straggler kind is a :class:`Straggler` subclass: its fields are the
scenario keys of that kind (validated when the scenario is loaded, each kind
only its own keys), and its ``apply(where, target, rng)`` edits a
:class:`StepInputs` in place: it multiplies entries of ``speeds`` (compute
speed factors per rank, 1 = nominal, < 1 slower) or scales link bandwidths of
``graph`` (through :meth:`StepInputs.scale_links`, which copies the caller's
graph before the first change). ``where`` is the dotted scenario field of the
straggler, e.g. ``stragglers[2]``, for error messages that depend on the job
(a GPU index the job does not have).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from pydantic import Field

from topologies.digraph import DiGraph
from workloads.errors import InputError
from workloads.schema import Section
from workloads.trace import Trace


def factor_field():
    """A speed or bandwidth factor: > 0, < 1 slower (default 1)."""
    return Field(1.0, gt=0, description="speed factor (< 1 slower) or bandwidth factor")


class Straggler(Section):
    """One entry of the scenario's ``stragglers`` list; ``kind`` names the subclass.

    ``episodic`` kinds are on only part of the time: :meth:`probability` is
    the share of steps they are on (see :mod:`sim.stragglers.step`).
    """

    kind: str
    episodic: ClassVar[bool] = False

    def apply(self, where: str, x: "StepInputs", rng: np.random.Generator) -> None:
        raise NotImplementedError

    def probability(self) -> float:
        return 1.0


@dataclass
class StepInputs:
    """Engine inputs under construction: ``speeds[r]`` for rank r, and the graph."""

    trace: Trace
    graph: DiGraph
    speeds: np.ndarray
    _own_graph: bool = field(default=False, repr=False)

    @classmethod
    def nominal(cls, trace: Trace, graph: DiGraph) -> "StepInputs":
        return cls(trace, graph, np.ones(trace.world_size))

    @property
    def gpus_per_node(self) -> int:
        return int(self.graph.graph.get("gpus_per_node") or self.graph.graph["num_gpus"])

    def ranks_on_node(self, node: int, where: str) -> list[int]:
        """Ranks placed on GPUs of host ``node``; InputError if the job has none there."""
        gpn = self.gpus_per_node
        ranks = [r for r in range(self.trace.world_size) if self.trace.gpu_of(r) // gpn == node]
        if not ranks:
            used = max(self.trace.gpu_of(r) for r in range(self.trace.world_size)) // gpn + 1
            raise InputError(f"the job runs on nodes 0..{used - 1}", field=f"{where}.node",
                             value=node)
        return ranks

    def scale_links(self, edges: list[tuple], factor: float) -> None:
        """Multiply ``bw_bytes_per_s`` of the directed ``edges`` by ``factor``."""
        if not self._own_graph:
            self.graph = self.graph.copy()      # new attribute dicts: the caller's is untouched
            self._own_graph = True
        for u, v in edges:
            self.graph.edges[u, v]["bw_bytes_per_s"] *= factor

    def speeds_or_none(self) -> list[float] | None:
        """Speeds for :func:`sim.simulate.simulate_trace`; None when all are nominal."""
        if np.all(self.speeds == 1.0):
            return None
        return [float(s) for s in self.speeds]
