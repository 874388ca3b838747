"""Collective algorithms as sequences of flow phases.

An algorithm turns one collective (op, bytes, member GPUs) into *phases*. A
phase is a set of concurrent point-to-point flows plus a number of
synchronised latency steps; the phase ends when its last flow has delivered.
Pipelined algorithms (NCCL's ring and tree move data in chunks so all steps
overlap) are one phase whose flows carry the whole per-link volume and whose
``steps`` count the per-step latencies, which is exact on an idle network:
ring all-reduce of S bytes on n GPUs takes 2(n-1)/n * S/B + 2(n-1) * alpha.

Adding an algorithm is one subclass of :class:`CollectiveAlgorithm` and one
entry in :data:`sim.collectives.registry.ALGORITHMS`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import networkx as nx


@dataclass(frozen=True)
class Phase:
    """Concurrent flows ``(src_gpu, dst_gpu, bytes)`` and ``steps`` latency steps."""

    flows: tuple[tuple[int, int, float], ...]
    steps: int


class TopologyView:
    """What algorithms may ask of the topology: hosts and NICs of GPUs."""

    def __init__(self, graph: nx.DiGraph):
        self.graph = graph

    def host_of(self, gpu: int) -> int:
        return self.graph.nodes[gpu].get("host", gpu)

    def local_of(self, gpu: int) -> int:
        return self.graph.nodes[gpu].get("local", 0)

    def by_host(self, gpus: list[int]) -> list[list[int]]:
        """Members grouped by host, hosts in order of first appearance."""
        groups: dict[int, list[int]] = {}
        for g in gpus:
            groups.setdefault(self.host_of(g), []).append(g)
        return list(groups.values())


class CollectiveAlgorithm(ABC):
    """Decomposes collectives into flow phases on the actual placement."""

    name: str = ""
    ops: tuple[str, ...] = ()

    def supports(self, op: str, gpus: list[int], topo: TopologyView) -> bool:
        return op in self.ops

    @abstractmethod
    def phases(self, op: str, nbytes: float, gpus: list[int],
               topo: TopologyView) -> list[Phase]:
        """Flow phases of ``op`` on ``gpus`` (in rank order) moving ``nbytes``."""


def ring_volume(op: str, nbytes: float, n: int) -> tuple[float, int]:
    """Bytes each ring link carries and the number of ring steps.

    ``nbytes`` follows the trace format: the full buffer for all-reduce and
    reduce-scatter, the gathered output for all-gather, the message for
    broadcast and reduce.
    """
    if op == "all_reduce":
        return 2 * (n - 1) / n * nbytes, 2 * (n - 1)
    if op in ("all_gather", "reduce_scatter"):
        return (n - 1) / n * nbytes, n - 1
    if op in ("broadcast", "reduce"):
        return nbytes, n - 1
    if op == "barrier":
        return 0.0, 2 * (n - 1)
    raise ValueError(f"no ring form for {op}")


def bus_factor(op: str, n: int) -> float:
    """nccl-tests' bus-bandwidth factor: busbw = algbw * factor."""
    if n <= 1:
        return 1.0
    if op == "all_reduce":
        return 2 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    return 1.0
