"""Helpers that build graphs following the topology conventions.

Conventions (the network engine relies on them):

* a topology is a :class:`topologies.digraph.DiGraph` (networkx's interface and
  storage layout without importing networkx; a ``networkx.DiGraph`` is accepted
  too, and ``G.to_networkx()`` converts); each full-duplex physical link is
  two directed edges carrying ``bw_bytes_per_s`` (nominal bandwidth per
  direction, bytes/s), ``latency_s`` (per hop, s), ``kind`` (one of
  :data:`LINK_KINDS`) and ``efficiency`` (achievable fraction of nominal, (0, 1]);
* GPUs are the integer nodes ``0..num_gpus-1`` with global index
  ``host * gpus_per_node + local``; every other node is a string;
* node attribute ``kind`` is one of :data:`NODE_KINDS`; GPUs, NVSwitches and NICs
  carry ``host``; GPUs and NICs carry ``local``; fabric switches carry ``tier``;
* graph attributes ``num_gpus``, ``gpus_per_node``, ``num_hosts``, ``name`` and
  ``gpu_transit`` (True only when GPUs forward traffic between other nodes, as
  in a ring of direct links); ``gpu`` names the GPU preset when there is one.
"""
from __future__ import annotations

import functools
import gc

from topologies.digraph import DiGraph

LINK_KINDS = frozenset({"nvlink", "pcie", "ib", "link"})
NODE_KINDS = frozenset({"gpu", "nvswitch", "nic", "switch"})
SWITCH_TIERS = frozenset({"leaf", "spine", "edge", "agg", "core"})


def new_graph(name: str, num_gpus: int, gpus_per_node: int, *,
              gpu: str | None = None, gpu_transit: bool = False) -> DiGraph:
    """An empty topology graph with the conventional graph attributes set."""
    G = DiGraph()
    G.graph.update(name=name, num_gpus=num_gpus, gpus_per_node=gpus_per_node,
                   num_hosts=num_gpus // gpus_per_node, gpu_transit=gpu_transit)
    if gpu is not None:
        G.graph["gpu"] = gpu
    return G


def nvswitch_name(host: int) -> str:
    """Name of the NVSwitch node of ``host``, e.g. ``"h3.nvsw"``."""
    return f"h{host}.nvsw"


def nic_name(host: int, local: int) -> str:
    """Name of NIC ``local`` of ``host``, e.g. ``"h3.nic5"``."""
    return f"h{host}.nic{local}"


def add_gpu(G: DiGraph, gpu_id: int, host: int, local: int) -> None:
    G.add_node(gpu_id, kind="gpu", host=host, local=local)


def add_switch(G: DiGraph, name: str, tier: str) -> None:
    G.add_node(name, kind="switch", tier=tier)


def duplex(a, b, bw_bytes_per_s: float, latency_s: float, kind: str,
           efficiency: float = 1.0) -> list[tuple]:
    """The two directed edges of one full-duplex link, for ``add_edges_from``.

    Each direction gets its own attribute dict.
    """
    return [
        (a, b, {"bw_bytes_per_s": bw_bytes_per_s, "latency_s": latency_s,
                "kind": kind, "efficiency": efficiency}),
        (b, a, {"bw_bytes_per_s": bw_bytes_per_s, "latency_s": latency_s,
                "kind": kind, "efficiency": efficiency}),
    ]


def gc_paused(build):
    """Decorator: ``build`` runs with the cyclic garbage collector off (as it
    was before, after). A large fabric is millions of fresh attribute dicts,
    none of them garbage, which the collector would otherwise rescan again
    and again (more than half of the building time)."""
    @functools.wraps(build)
    def run(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return build(*args, **kwargs)
        finally:
            # what the build made is long-lived: straight to the oldest
            # generation (freeze and unfreeze move objects, scanning none),
            # where a young collection would have put it after scanning it all;
            # if the caller keeps objects frozen, it joins them instead (an
            # unfreeze here would thaw the caller's too)
            held = gc.get_freeze_count()
            gc.freeze()
            if not held:
                gc.unfreeze()
            if enabled:
                gc.enable()
    return run
