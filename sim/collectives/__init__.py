"""Collective algorithms: decomposition of collectives into flow phases, and the tuner."""
from sim.collectives.base import CollectiveAlgorithm, Phase, TopologyView, bus_factor
from sim.collectives.pipeline import Chunking
from sim.collectives.planner import CollectivePlanner, run_collective
from sim.collectives.protocols import PROTOCOLS
from sim.collectives.registry import ALGORITHMS
from sim.collectives.tuner import Candidate, Tuner

__all__ = ["ALGORITHMS", "PROTOCOLS", "Candidate", "Chunking", "CollectiveAlgorithm",
           "CollectivePlanner", "Phase", "TopologyView", "Tuner", "bus_factor",
           "run_collective"]
