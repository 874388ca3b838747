"""Collective algorithms: decomposition of collectives into flow phases."""
from sim.collectives.base import CollectiveAlgorithm, Phase, TopologyView, bus_factor
from sim.collectives.registry import ALGORITHMS, choose
from sim.collectives.runner import run_collective

__all__ = ["ALGORITHMS", "CollectiveAlgorithm", "Phase", "TopologyView", "bus_factor",
           "choose", "run_collective"]
