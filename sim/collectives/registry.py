"""Registry of collective algorithms, and how a request names one.

A request is ``None`` / ``"auto"`` (the tuner decides), an algorithm
(``"ring"``), or an algorithm and a protocol (``"ring/ll128"``); a protocol
alone is ``"auto/ll"``.
"""
from __future__ import annotations

from sim.collectives.base import CollectiveAlgorithm, TopologyView
from sim.collectives.collnet import CollNet
from sim.collectives.direct import DirectAllToAll, PxnAllToAll
from sim.collectives.hierarchical import Hierarchical
from sim.collectives.multidim import MultiDimensional
from sim.collectives.nvls import Nvls, NvlsTree
from sim.collectives.protocols import PROTOCOLS
from sim.collectives.ring import Ring
from sim.collectives.tree import DoubleBinaryTree
from workloads.errors import InputError

ALGORITHMS: dict[str, CollectiveAlgorithm] = {
    a.name: a for a in (Ring(), DoubleBinaryTree(), Hierarchical(), Nvls(), NvlsTree(),
                        CollNet(), DirectAllToAll(), PxnAllToAll(), MultiDimensional())
}

AUTO = (None, "", "auto", "default")


def parse_request(request: str | None) -> tuple[str | None, str | None]:
    """``"ring/ll128"`` -> ("ring", "ll128"); ``None`` or ``"auto"`` -> (None, None)."""
    if request in AUTO:
        return None, None
    algo, _, proto = str(request).partition("/")
    algo = None if algo.lower() in AUTO else algo.lower()
    proto = None if proto.lower() in AUTO else proto.lower()
    if algo is not None and algo not in ALGORITHMS:
        raise InputError(f"unknown collective algorithm (known: {', '.join(ALGORITHMS)})",
                         field="algorithm", value=request)
    if proto is not None and proto not in PROTOCOLS:
        raise InputError(f"unknown collective protocol (known: {', '.join(PROTOCOLS)})",
                         field="protocol", value=request)
    return algo, proto


def request_string(algorithm: str | None, protocol: str | None) -> str | None:
    """The request naming ``algorithm`` and ``protocol`` (either may be None)."""
    if algorithm in AUTO and protocol in AUTO:
        return None
    return f"{algorithm or 'auto'}/{protocol}" if protocol not in AUTO else algorithm


def pairs(op: str, gpus: list[int], topo: TopologyView,
          request: str | None = None) -> list[tuple[CollectiveAlgorithm, str]]:
    """(algorithm, protocol) pairs that may run ``op`` on ``gpus`` under ``request``."""
    algo_name, proto = parse_request(request)
    algos = [ALGORITHMS[algo_name]] if algo_name else list(ALGORITHMS.values())
    out = [(a, p) for a in algos if a.supports(op, gpus, topo)
           for p in a.protocols if proto in (None, p)]
    if not out:
        what = request if request not in AUTO else "any algorithm"
        raise InputError(f"'{what}' cannot run {op} on this placement of {len(gpus)} GPUs",
                         field="algorithm", value=request)
    return out
