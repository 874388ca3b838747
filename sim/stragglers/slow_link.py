"""``slow_link``: a degraded NIC (or all NICs) of one node at ``factor`` x bandwidth.

A NIC that trained down to a lower link speed, or a flapping cable with
retransmissions, delivers a fraction of its nominal bandwidth. Every directed
link touching the NIC (GPU/PCIe side and fabric side) has its
``bw_bytes_per_s`` multiplied by ``factor`` in a copy of the topology graph
before the step is simulated. Scenario keys: ``node``, ``nic`` (index on the
node; default every NIC of the node), ``factor``.
"""
from __future__ import annotations

import numpy as np

from topologies.graph import nic_name
from workloads.errors import InputError

from .base import StepInputs, need


def apply(cfg, where: str, x: StepInputs, rng: np.random.Generator) -> None:
    node = need(cfg.node, where, "node", "the index of a node")
    g = x.graph
    if cfg.nic is not None:
        nics = [nic_name(node, cfg.nic)] if nic_name(node, cfg.nic) in g else []
        field, value = f"{where}.nic", cfg.nic
    else:
        nics, local = [], 0
        while nic_name(node, local) in g:
            nics.append(nic_name(node, local))
            local += 1
        field, value = f"{where}.node", node
    if not nics:
        raise InputError("no such NIC in the cluster's topology (single-node clusters "
                         "have none)", field=field, value=value)
    edges = [e for nic in nics for e in list(g.in_edges(nic)) + list(g.out_edges(nic))]
    x.scale_links(edges, cfg.factor)
