"""Topology builders (pure functions returning a networkx-compatible
:class:`~topologies.digraph.DiGraph`) and hardware presets as data (GPUs,
nodes, fabrics).

Graph conventions are documented in :mod:`topologies.graph`; :func:`check`
enforces them. This package imports nothing else from clustersim.
"""
from importlib import import_module

#: public name -> defining module (imported on first use, so that reading an
#: error type or one builder does not import every builder and networkx)
_EXPORTS = {
    "ring": "basic", "single_switch": "basic",
    "build_cluster": "cluster", "from_dict": "data", "from_yaml": "data", "to_dict": "data",
    "dgx_node": "dgx", "TopologyError": "errors", "fat_tree": "fat_tree",
    "rail_optimized": "rail", "two_level": "two_level",
    "FabricSpec": "specs", "GpuSpec": "specs", "NodeSpec": "specs", "fabric_spec": "specs",
    "gpu_spec": "specs", "list_fabrics": "specs", "list_gpus": "specs", "list_nodes": "specs",
    "node_spec": "specs", "DiGraph": "digraph",
}


# ``check`` is both a submodule and its function: bound here once, so that a later
# ``import topologies.check`` cannot replace the function by the module
from topologies.check import check  # noqa: E402  (small: no networkx)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'topologies' has no attribute {name!r}")
    value = getattr(import_module(f"topologies.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "ring", "single_switch", "dgx_node", "rail_optimized", "fat_tree", "build_cluster",
    "two_level",
    "from_yaml", "from_dict", "to_dict", "check", "TopologyError",
    "GpuSpec", "NodeSpec", "FabricSpec", "gpu_spec", "node_spec", "fabric_spec",
    "list_gpus", "list_nodes", "list_fabrics", "DiGraph",
]
