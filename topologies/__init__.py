"""Topology builders (pure functions returning ``networkx.DiGraph``) and
hardware presets as data (GPUs, nodes, fabrics).

Graph conventions are documented in :mod:`topologies.graph`; :func:`check`
enforces them. This package imports nothing else from clustersim.
"""
from topologies.basic import ring, single_switch
from topologies.check import check
from topologies.cluster import build_cluster
from topologies.data import from_dict, from_yaml, to_dict
from topologies.dgx import dgx_node
from topologies.errors import TopologyError
from topologies.fat_tree import fat_tree
from topologies.rail import rail_optimized
from topologies.two_level import two_level
from topologies.specs import (FabricSpec, GpuSpec, NodeSpec, fabric_spec, gpu_spec,
                              list_fabrics, list_gpus, list_nodes, node_spec)

__all__ = [
    "ring", "single_switch", "dgx_node", "rail_optimized", "fat_tree", "build_cluster",
    "two_level",
    "from_yaml", "from_dict", "to_dict", "check", "TopologyError",
    "GpuSpec", "NodeSpec", "FabricSpec", "gpu_spec", "node_spec", "fabric_spec",
    "list_gpus", "list_nodes", "list_fabrics",
]
