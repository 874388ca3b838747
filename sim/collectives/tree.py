"""Host- and rail-aware double binary tree all-reduce (NCCL's tree algorithm).

Across hosts, two complementary binary trees each carry half of the data;
every host is a leaf in at most one of them, so both directions of every NIC
are used (Sanders, Speck & Traeff, "Two-tree algorithms for full bandwidth
broadcast, reduction and scan", Parallel Computing 35, 2009). Inside a host
the GPUs form a chain. As NCCL opens one channel per NIC, channel ``c`` enters
and leaves every host through its GPU of local index ``c`` (rail ``c``), so
its inter-host edges stay on one rail, and chains the host's other GPUs
behind it. Data flows up (reduce) and down (broadcast) at once, pipelined in
chunks: the latency path is the chain plus the tree depth, twice.

Members spread unevenly over hosts fall back to one channel over the hosts'
first members.
"""
from __future__ import annotations

from sim.collectives.base import CollectiveAlgorithm, Phase


def _up(r: int) -> int:
    """Parent of ``r`` in the infinite in-order tree of the positive integers."""
    low = r & -r
    return (r ^ low) | (low << 1)


def inorder_tree(m: int) -> list[int | None]:
    """Parent of each of ``m`` ranks (root: None) in a balanced in-order binary tree.

    Ranks 1..m-1 form the in-order tree in which rank r's level is its lowest
    set bit (odd ranks are leaves), truncated to ranks below m (a parent past
    the end is replaced by its nearest ancestor below m); rank 0 is the root
    above it, with one child.
    """
    parent: list[int | None] = [None] * m
    if m < 2:
        return parent
    top = 1 << ((m - 1).bit_length() - 1)
    for r in range(1, m):
        if r == top:
            parent[r] = 0
            continue
        p = _up(r)
        while p >= m:
            p = _up(p)
        parent[r] = p
    return parent


def _relabel(parent: list[int | None], perm: list[int]) -> list[int | None]:
    out: list[int | None] = [None] * len(parent)
    for r, p in enumerate(parent):
        out[perm[r]] = None if p is None else perm[p]
    return out


def _max_degree(trees) -> int:
    deg = [0] * len(trees[0])
    for t in trees:
        for r, p in enumerate(t):
            if p is not None:
                deg[r] += 1
                deg[p] += 1
    return max(deg)


def double_tree(m: int) -> tuple[list[int | None], list[int | None]]:
    """The two trees: in-order, and the same shifted by one rank or mirrored
    (whichever loads the busiest rank less), so that the leaves of one are
    interior ranks of the other."""
    first = inorder_tree(m)
    shifted = _relabel(first, [(r + 1) % m for r in range(m)])
    mirrored = _relabel(first, [m - 1 - r for r in range(m)])
    second = min((shifted, mirrored), key=lambda t: _max_degree((first, t)))
    return first, second


def tree_depth(parent: list[int | None]) -> int:
    """Edges on the longest leaf-to-root path."""
    best = 0
    for r in range(len(parent)):
        d, p = 0, parent[r]
        while p is not None:
            d, p = d + 1, parent[p]
        best = max(best, d)
    return best


class DoubleBinaryTree(CollectiveAlgorithm):
    name = "tree"
    ops = ("all_reduce", "barrier")

    def phases(self, op, nbytes, gpus, topo):
        hosts = topo.uniform_hosts(gpus)
        if hosts is None:
            hosts = [[h[0]] + h[1:] for h in topo.by_host(gpus)]
            channels = 1
        else:
            channels = len(hosts[0])
        m = len(hosts)
        per = 0.0 if op == "barrier" else nbytes / channels / 2   # per channel and tree
        trees = double_tree(m) if m > 1 else ([None], [None])
        flows: list[tuple[int, int, float]] = []
        for c in range(channels):
            chains = [[h[(c + j) % len(h)] for j in range(len(h))] for h in hosts]
            for chain in chains:                      # both trees share the chain
                for a, b in zip(chain[1:], chain[:-1]):
                    flows += [(a, b, 2 * per), (b, a, 2 * per)]
            for parent in trees:
                for r, p in enumerate(parent):
                    if p is not None:
                        child, up = chains[r][0], chains[p][0]
                        flows += [(child, up, per), (up, child, per)]
        chain0 = [hosts[0][j] for j in range(len(hosts[0]))]
        hops = list(zip(chain0[1:], chain0[:-1]))
        depth = max(tree_depth(t) for t in trees)
        if m > 1:
            hops += [(hosts[1][0], hosts[0][0])] * depth
        if not hops:
            return []
        return [Phase(tuple(flows), 2 * len(hops), hops=tuple(hops), depth=2 * len(hops))]
