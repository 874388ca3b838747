"""Double binary tree all-reduce (as NCCL uses for latency-bound sizes).

Two complementary binary trees over the members each carry half the data;
every tree reduces towards its root and broadcasts back, pipelined, so up and
down flows run at once (Sanders, Speck & Traeff, "Two-tree algorithms for full
bandwidth broadcast, reduction and scan", Parallel Computing 35, 2009). The
latency grows with the tree depth, 2*ceil(log2 n) steps, instead of the ring's
2(n-1).
"""
from __future__ import annotations

import math

from sim.collectives.base import CollectiveAlgorithm, Phase


def _tree_edges(order: list[int]) -> list[tuple[int, int]]:
    """(child, parent) edges of a binary heap-shaped tree over ``order``."""
    return [(order[i], order[(i - 1) // 2]) for i in range(1, len(order))]


class DoubleBinaryTree(CollectiveAlgorithm):
    name = "tree"
    ops = ("all_reduce", "barrier")

    def phases(self, op, nbytes, gpus, topo):
        n = len(gpus)
        if n < 2:
            return []
        half = 0.0 if op == "barrier" else nbytes / 2
        # the second tree is the first one mirrored, so leaves of one tree
        # are interior nodes of the other
        trees = [list(gpus), list(reversed(gpus))]
        flows = []
        for order in trees:
            for child, parent in _tree_edges(order):
                flows.append((child, parent, half))   # reduce, up
                flows.append((parent, child, half))   # broadcast, down
        depth = max(1, math.ceil(math.log2(n)))
        return [Phase(tuple(flows), 2 * depth)]
