"""Collective algorithms as sequences of flow phases.

An algorithm turns one collective (op, bytes, member GPUs) into *phases*. A
phase is a set of concurrent point-to-point flows plus a number of
synchronised latency steps; the phase ends when its last flow has delivered.
Pipelined algorithms (NCCL's ring and tree move data in chunks so all steps
overlap) are one phase whose flows carry the whole per-link volume and whose
``steps`` count the per-step latencies, which is exact on an idle network:
ring all-reduce of S bytes on n GPUs takes 2(n-1)/n * S/B + 2(n-1) * alpha.

Each step is charged the latency of the hop it crosses: a phase names its
``hops`` (GPU pairs of one pass of its critical path) and every one of its
``steps`` pays their mean path latency, so a ring's NVLink hops cost NVLink
latency and only its inter-node hops cost the network path.

``depth`` is the number of store-and-forward stages a chunk crosses in
sequence (the levels of a tree or chain, up and down); a ring phase has depth
1 because its volume formula already counts its fill. How chunking turns depth
into time is in :mod:`sim.collectives.pipeline`.

Adding an algorithm is one subclass of :class:`CollectiveAlgorithm` and one
entry in :data:`sim.collectives.registry.ALGORITHMS`.
"""
from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from topologies.digraph import DiGraph

Flow = tuple[int, int, float]


@dataclass(frozen=True)
class Phase:
    """Concurrent flows ``(src_gpu, dst_gpu, bytes)`` and ``steps`` latency steps.

    ``hops``: GPU pairs whose mean path latency each step pays (empty: the
    slowest flow's path). ``depth``: store-and-forward stages of a chunk.
    ``setup_s``: a fixed cost of the phase's engine, paid once (NVLS sets up
    multicast objects and switch reductions). ``more_hops``: the ``hops`` of
    further instances run in lock step with this one (a merged phase); each
    step waits for the slowest instance's hops.
    """

    flows: tuple[Flow, ...]
    steps: int
    hops: tuple[tuple[int, int], ...] = ()
    depth: int = 1
    setup_s: float = 0.0
    more_hops: tuple[tuple[tuple[int, int], ...], ...] = ()


@functools.lru_cache(maxsize=None)
def _node_caps(node: str | None) -> dict:
    import topologies
    if node is None or node not in topologies.list_nodes():
        return {}
    ns = topologies.node_spec(node)
    return {"nvls": ns.nvls, "nvls_efficiency": ns.nvls_efficiency,
            "nvlink_efficiency": ns.nvlink_efficiency, "pxn": ns.pxn}


@functools.lru_cache(maxsize=None)
def _fabric_caps(fabric: str | None) -> dict:
    import topologies
    if fabric is None or fabric not in topologies.list_fabrics():
        return {}
    return {"sharp": topologies.fabric_spec(fabric).sharp}


class TopologyView:
    """What algorithms may ask of the topology: hosts, rails and capabilities.

    Capabilities (``nvls``, ``nvls_efficiency``, ``nvlink_efficiency``,
    ``pxn``, ``sharp``) come from graph attributes of those names when set,
    else from the node and fabric presets the graph names, else off.
    """

    def __init__(self, graph: DiGraph):
        self.graph = graph
        attrs = graph.graph
        caps = {"nvls": False, "nvls_efficiency": None, "nvlink_efficiency": None,
                "pxn": False, "sharp": False}
        caps.update(_node_caps(attrs.get("node")))
        caps.update(_fabric_caps(attrs.get("fabric")))
        caps.update({k: attrs[k] for k in caps if k in attrs})
        self.nvls: bool = bool(caps["nvls"]) and caps["nvls_efficiency"] is not None
        self.nvls_efficiency: float | None = caps["nvls_efficiency"]
        self.nvlink_efficiency: float = caps["nvlink_efficiency"] or 1.0
        self.pxn: bool = bool(caps["pxn"])
        self.sharp: bool = bool(caps["sharp"])
        self._host: dict = {}          # host_of and local_of, memoised per GPU
        self._local: dict = {}
        self._memo: dict = {}

    def host_of(self, gpu: int) -> int:
        try:
            return self._host[gpu]
        except KeyError:
            h = self._host[gpu] = self.graph.nodes[gpu].get("host", gpu)
            return h

    def host_array(self) -> np.ndarray:
        """:meth:`host_of` of every GPU id 0..n-1 at once (cached)."""
        return self.memo("per_gpu", "host", lambda: self._per_gpu_tables()[0])

    def local_array(self) -> np.ndarray:
        """:meth:`local_of` of every GPU id 0..n-1 at once (cached)."""
        return self.memo("per_gpu", "local", lambda: self._per_gpu_tables()[1])

    def _per_gpu_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Host and local index of every GPU id 0..n-1 (0 where an id is no
        node), from one pass over the node attributes (cached)."""
        def make():
            gpus, hosts, rails = [], [], []
            for g, d in self.graph.nodes(data=True):
                if isinstance(g, int) and g >= 0:
                    gpus.append(g)
                    hosts.append(d.get("host", g))
                    rails.append(d.get("local", 0))
            n = max(gpus, default=-1) + 1
            tables = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
            tables[0][gpus], tables[1][gpus] = hosts, rails
            return tables
        return self.memo("per_gpu", "tables", make)

    def _per_gpu(self, of) -> np.ndarray:
        """``of(g)`` for every GPU id 0..n-1 one at a time: the reference of
        :meth:`_per_gpu_tables`."""
        gpus = [g for g in self.graph.nodes if isinstance(g, int) and g >= 0]
        out = np.zeros(max(gpus, default=-1) + 1, dtype=np.int64)
        for g in gpus:
            out[g] = of(g)
        return out

    def local_of(self, gpu: int) -> int:
        try:
            return self._local[gpu]
        except KeyError:
            j = self._local[gpu] = self.graph.nodes[gpu].get("local", 0)
            return j

    def gpu_at(self, host: int, local: int) -> int | None:
        """The GPU of ``host`` with local index ``local`` (members or not)."""
        if not hasattr(self, "_gpu_at"):
            self._gpu_at = {(d.get("host"), d.get("local")): g
                            for g, d in self.graph.nodes(data=True) if isinstance(g, int)}
        return self._gpu_at.get((host, local))

    def memo(self, kind: str, key, make):
        """``make()`` the first time (``kind``, ``key``) is asked for, the same
        object after: placement-derived values of groups that recur op after op."""
        table = self._memo.setdefault(kind, {})
        hit = table.get(key)
        if hit is None:
            hit = table[key] = make()
        return hit

    def shape(self, gpus: list[int]) -> tuple:
        """The placement of ``gpus`` up to renaming hosts and rails (the GPUs of
        a host are alike behind its NVSwitch): per member, its host and its
        local index, each numbered by first appearance, and the hosts' leaf
        groups (graph attribute ``nodes_per_leaf``) numbered the same way
        (memoised per member tuple: the same groups recur op after op)."""
        return self.memo("shape", tuple(gpus), lambda: self._shape(gpus))

    def _shape(self, gpus: list[int]) -> tuple:
        hosts: dict[int, int] = {}
        rails: dict[int, int] = {}
        members = tuple((hosts.setdefault(self.host_of(g), len(hosts)),
                         rails.setdefault(self.local_of(g), len(rails))) for g in gpus)
        npl = self.graph.graph.get("nodes_per_leaf")
        groups: dict[int, int] = {}
        if npl:
            for h in hosts:
                groups.setdefault(h // npl, len(groups))
        return members, tuple(groups[h // npl] for h in hosts) if npl else ()

    def distinct_shapes(self, instances: list[list[int]]) -> list[int] | None:
        """Positions in ``instances`` of the first member list of each
        distinct :meth:`shape`, in order, found with arrays for lists of one
        length (per member: host, rail and leaf group, each numbered by first
        appearance, say what the shape says); None for lists of several
        lengths or GPUs outside the per-GPU tables."""
        k = len(instances[0]) if instances else 0
        if not k or any(len(gpus) != k for gpus in instances):
            return None
        gpus = np.array(instances, dtype=np.int64).reshape(len(instances), k)
        hosts, rails = self.host_array(), self.local_array()
        if gpus.min() < 0 or gpus.max() >= len(hosts):
            return None
        h = hosts[gpus]
        cols = [_first_seen_labels(h), _first_seen_labels(rails[gpus])]
        npl = self.graph.graph.get("nodes_per_leaf")
        if npl:
            cols.append(_first_seen_labels(h // npl))
        firsts: dict[bytes, int] = {}
        for i, row in enumerate(np.ascontiguousarray(np.concatenate(cols, axis=1))):
            firsts.setdefault(row.tobytes(), i)
        return list(firsts.values())

    def by_host(self, gpus: list[int]) -> list[list[int]]:
        """Members grouped by host, hosts in order of first appearance."""
        groups: dict[int, list[int]] = {}
        for g in gpus:
            groups.setdefault(self.host_of(g), []).append(g)
        return list(groups.values())

    def uniform_hosts(self, gpus: list[int]) -> list[list[int]] | None:
        """Members by host, each sorted by local index, if every host has as
        many members; else None."""
        hosts = self.by_host(gpus)
        if len({len(h) for h in hosts}) != 1:
            return None
        return [sorted(h, key=self.local_of) for h in hosts]


class CollectiveAlgorithm(ABC):
    """Decomposes collectives into flow phases on the actual placement."""

    name: str = ""
    ops: tuple[str, ...] = ()
    #: protocols this algorithm runs with (NCCL runs NVLS and CollNet in Simple only)
    protocols: tuple[str, ...] = ("ll", "ll128", "simple")

    def supports(self, op: str, gpus: list[int], topo: TopologyView) -> bool:
        return op in self.ops and len(gpus) > 1

    @abstractmethod
    def phases(self, op: str, nbytes: float, gpus: list[int],
               topo: TopologyView) -> list[Phase]:
        """Flow phases of ``op`` on ``gpus`` (in rank order) moving ``nbytes``."""


def _first_seen_labels(x: np.ndarray) -> np.ndarray:
    """Per row of a 2-D integer array, each entry's value numbered by first
    appearance in its row (0, 1, ...)."""
    m, k = x.shape
    order = np.argsort(x, axis=1, kind="stable")
    ranked = np.take_along_axis(x, order, axis=1)
    starts = np.ones((m, k), dtype=bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    # the first position of each entry's value: where its run in sorted order starts
    run = np.maximum.accumulate(np.where(starts, np.arange(k), 0), axis=1)
    first = np.empty_like(order)
    np.put_along_axis(first, order, np.take_along_axis(order, run, axis=1), axis=1)
    seen = np.cumsum(first == np.arange(k), axis=1) - 1
    return np.take_along_axis(seen, first, axis=1)


def ring_flows(order: list[int], per_link: float) -> list[Flow]:
    """One flow per hop of the closed ring ``order``."""
    n = len(order)
    return [(order[i], order[(i + 1) % n], per_link) for i in range(n)] if n > 1 else []


def ring_hops(order: list[int]) -> tuple[tuple[int, int], ...]:
    n = len(order)
    return tuple((order[i], order[(i + 1) % n]) for i in range(n)) if n > 1 else ()


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
