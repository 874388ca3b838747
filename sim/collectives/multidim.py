"""Multi-dimensional collectives, as ASTRA-sim runs them on its dimensioned networks.

A collective on a group that spans several dimensions of an ASTRA-sim network
(:mod:`topologies.astra`) runs one *stage* per dimension, each with that
dimension's algorithm (``ring``, ``direct``, ``halvingDoubling``,
``doubleBinaryTree``) on every line of the group along it:

* all-reduce, ``localBWAware``: reduce-scatter along dimensions 0..D-2 (the
  data shrinking by each size), all-reduce along the last, all-gather back
  along D-2..0; ``baseline``: an all-reduce of the whole buffer along every
  dimension in turn;
* reduce-scatter: along 0..D-1; all-gather: along D-1..0.

Chunking (``preferred-dataset-splits`` C, ``active-chunks-per-dimension`` A):
the buffer is cut into C chunks that flow through the stages as a pipeline;
chunk c enters stage s at step ``c // A + s``, and everything active in one
step runs as one phase (so chunks on one dimension share its links). With
C = 1 the stages simply run one after the other.

The system settings live on the graph (``G.graph["astra_system"]``, set by
:func:`sim.astra.apply_system`; defaults: ring everywhere, localBWAware,
one chunk). Groups that are not a full sub-grid of the network fall back to
a flat ring; all-to-all, broadcast and reduce run flat (direct, ring).
"""
from __future__ import annotations

import math

from sim.collectives.base import CollectiveAlgorithm, Phase, ring_volume
from sim.collectives.tree import DoubleBinaryTree

DIM_ALGORITHMS = ("ring", "direct", "halvingDoubling", "doubleBinaryTree")
DEFAULTS = {"impl": {}, "optimization": "localBWAware", "splits": 1, "active_chunks": 1}


def _ring(lines, op, b, topo=None):
    k = len(lines[0])
    vol, steps = ring_volume(op, b, k)
    return [Phase(tuple((ln[i], ln[(i + 1) % k], vol) for ln in lines for i in range(k)), steps)]


def _direct(lines, op, b, topo=None):
    k = len(lines[0])
    share = b / k * (2 if op == "all_reduce" else 1)
    return [Phase(tuple((x, y, share) for ln in lines for x in ln for y in ln if x != y),
                  2 if op == "all_reduce" else 1)]


def _halving_doubling(lines, op, b, topo=None):
    k = len(lines[0])
    rounds = int(math.log2(k))
    if 2**rounds != k:
        raise ValueError(f"halvingDoubling needs a power-of-two dimension, not {k}")

    def rnd(r, nbytes):
        return Phase(tuple((ln[i], ln[i ^ (1 << r)], nbytes) for ln in lines for i in range(k)), 1)

    rs = [rnd(r, b / 2**(r + 1)) for r in range(rounds)]          # recursive halving
    ag = [rnd(r, b / 2**(r + 1)) for r in reversed(range(rounds))]  # recursive doubling
    return {"reduce_scatter": rs, "all_gather": ag, "all_reduce": rs + ag}[op]


def _tree(lines, op, b, topo):
    if op != "all_reduce":
        raise ValueError("doubleBinaryTree runs only all-reduce")
    phases = [DoubleBinaryTree().phases(op, b, ln, topo)[0] for ln in lines]
    return [Phase(tuple(f for p in phases for f in p.flows), phases[0].steps)]


_DIM = {"ring": _ring, "direct": _direct, "halvingDoubling": _halving_doubling,
        "doubleBinaryTree": _tree}


def _lines(gpus: list[int], dims: list[int], d: int) -> list[list[int]]:
    """Lines of ``gpus`` along dimension ``d`` (members differing only in coordinate d)."""
    stride = math.prod(dims[:d])
    out: dict[int, list[int]] = {}
    for g in gpus:
        key = g - ((g // stride) % dims[d]) * stride
        out.setdefault(key, []).append(g)
    return list(out.values())


def spanned_dims(gpus: list[int], dims: list[int]) -> list[int] | None:
    """The dimensions ``gpus`` spans, if it is a full sub-grid of them, else None."""
    varying = []
    for d, n in enumerate(dims):
        stride = math.prod(dims[:d])
        if len({(g // stride) % n for g in gpus}) > 1:
            varying.append(d)
    if len(gpus) != math.prod(dims[d] for d in varying):
        return None
    return varying


def stages(op: str, nbytes: float, varying: list[int], dims: list[int],
           optimization: str) -> list[tuple[int, str, float]]:
    """(dimension, per-dimension op, bytes per line) of each stage."""
    if op == "all_reduce" and optimization == "baseline":
        return [(d, "all_reduce", nbytes) for d in varying]
    out, size = [], nbytes
    down = varying if op in ("all_reduce", "reduce_scatter") else []
    for d in (down[:-1] if op == "all_reduce" else down):
        out.append((d, "reduce_scatter", size))
        size /= dims[d]
    if op == "all_reduce":
        out.append((varying[-1], "all_reduce", size))
        out += [(d, "all_gather", nbytes / math.prod(dims[x] for x in varying[:i]))
                for i, d in reversed(list(enumerate(varying[:-1])))]
    elif op == "all_gather":
        out += [(d, "all_gather", nbytes / math.prod(dims[x] for x in varying[:i]))
                for i, d in reversed(list(enumerate(varying)))]
    return out


class MultiDimensional(CollectiveAlgorithm):
    name = "astra"
    protocols = ("ideal",)
    ops = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast",
           "reduce", "barrier")

    def supports(self, op, gpus, topo):
        return op in self.ops and "astra_dims" in topo.graph.graph

    def phases(self, op, nbytes, gpus, topo):
        from sim.collectives.registry import ALGORITHMS
        if len(gpus) < 2:
            return []
        dims = topo.graph.graph["astra_dims"]
        cfg = {**DEFAULTS, **topo.graph.graph.get("astra_system", {})}
        varying = spanned_dims(gpus, dims)
        if op not in ("all_reduce", "all_gather", "reduce_scatter") or varying is None:
            flat = "direct" if op == "all_to_all" else "ring"
            return ALGORITHMS[flat].phases(op, nbytes, gpus, topo)
        impls = cfg["impl"].get(op, ["ring"] * len(dims))
        chunks = max(1, int(cfg["splits"]))
        active = max(1, int(cfg["active_chunks"]))
        per_stage = []
        for d, dop, size in stages(op, nbytes, varying, dims, cfg["optimization"]):
            lines = _lines(gpus, dims, d)
            per_stage.append(_DIM[impls[d]](lines, dop, size / chunks, topo))
        if chunks == 1:
            return [p for ps in per_stage for p in ps]
        return _pipeline(per_stage, chunks, active)


def _pipeline(per_stage: list[list[Phase]], chunks: int, active: int) -> list[Phase]:
    """Wavefront of ``chunks`` chunks through the stages (see the module docstring)."""
    n_steps = (chunks - 1) // active + len(per_stage)
    out = []
    for t in range(n_steps):
        busy = [per_stage[t - c // active] for c in range(chunks)
                if 0 <= t - c // active < len(per_stage)]
        depth = max(len(ps) for ps in busy)
        for k in range(depth):
            parts = [ps[k] for ps in busy if k < len(ps)]
            out.append(Phase(tuple(f for p in parts for f in p.flows),
                             max(p.steps for p in parts)))
    return out
