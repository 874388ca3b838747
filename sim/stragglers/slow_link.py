"""``slow_link``: a degraded NIC (or all NICs) of one node at ``factor`` x bandwidth.

A NIC that trained down to a lower link speed, or a flapping cable with
retransmissions, delivers a fraction of its nominal bandwidth. Every directed
link touching the NIC (GPU/PCIe side and fabric side) has its
``bw_bytes_per_s`` multiplied by ``factor`` in a copy of the topology graph
before the step is simulated. Scenario keys: ``node``, ``nic`` (index on the
node; default every NIC of the node), ``factor``.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from topologies.graph import nic_name
from workloads.errors import InputError
from workloads.schema import Float

from .base import StepInputs, factor_field, Straggler


class SlowLink(Straggler):
    kind: Literal["slow_link"]
    node: int = Field(ge=0, description="node index")
    nic: int | None = Field(None, ge=0, description="NIC index on the node (default: "
                            "every NIC of the node)")
    factor: Float = factor_field()

    def apply(self, where: str, x: StepInputs, rng: np.random.Generator) -> None:
        g, node = x.graph, self.node
        if self.nic is not None:
            nics = [nic_name(node, self.nic)] if nic_name(node, self.nic) in g else []
            field, value = f"{where}.nic", self.nic
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
        x.scale_links(edges, self.factor)
