"""Registry of collective algorithms and the NCCL-like default choice."""
from __future__ import annotations

from sim.collectives.base import CollectiveAlgorithm, TopologyView
from sim.collectives.direct import DirectAllToAll
from sim.collectives.hierarchical import Hierarchical
from sim.collectives.multidim import MultiDimensional
from sim.collectives.ring import Ring
from sim.collectives.tree import DoubleBinaryTree
from workloads.errors import InputError

ALGORITHMS: dict[str, CollectiveAlgorithm] = {
    a.name: a for a in (Ring(), DoubleBinaryTree(), Hierarchical(), DirectAllToAll(),
                        MultiDimensional())
}

#: Below this many bytes a multi-host all-reduce is latency-bound and the
#: default picks the tree (NCCL's tuning switches from tree to ring in the
#: hundreds of KiB to a few MiB on multi-node jobs; 256 KiB is a middle value).
TREE_MAX_BYTES = 256 * 1024


def choose(op: str, nbytes: float, gpus: list[int], topo: TopologyView,
           requested: str | None = None) -> CollectiveAlgorithm:
    """The algorithm to run ``op``: ``requested`` if given, else a default by size and placement."""
    if requested not in (None, "auto", "default"):
        algo = ALGORITHMS.get(requested)
        if algo is None:
            raise InputError(f"unknown collective algorithm (known: {', '.join(ALGORITHMS)})",
                             field="algorithm", value=requested)
        if not algo.supports(op, gpus, topo):
            raise InputError(f"algorithm '{requested}' cannot run {op} on this placement",
                             field="algorithm", value=requested)
        return algo
    if op == "all_to_all":
        return ALGORITHMS["direct"]
    multi_host = len(topo.by_host(gpus)) > 1
    if op in ("all_reduce", "barrier") and multi_host and nbytes <= TREE_MAX_BYTES:
        return ALGORITHMS["tree"]
    return ALGORITHMS["ring"]
