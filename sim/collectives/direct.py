"""Direct all-to-all: every member sends its share straight to every other member."""
from __future__ import annotations

from sim.collectives.base import CollectiveAlgorithm, Phase


class DirectAllToAll(CollectiveAlgorithm):
    name = "direct"
    ops = ("all_to_all",)

    def phases(self, op, nbytes, gpus, topo):
        n = len(gpus)
        if n < 2:
            return []
        share = nbytes / n
        flows = tuple((a, b, share) for a in gpus for b in gpus if a != b)
        return [Phase(flows, 1)]
