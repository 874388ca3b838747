"""Placement shapes and host grouping of known placements; the per-GPU host
and rail tables equal host_of and local_of GPU by GPU."""
import numpy as np
import pytest

import topologies
from sim.collectives import TopologyView

GRAPHS = {
    "rail-h100": lambda: topologies.rail_optimized(16, node="dgx-h100", nodes_per_leaf=4),
    "a100-cluster": lambda: topologies.build_cluster("a100-80gb", 64),
    "two-level": lambda: topologies.two_level(8, 8, 400e9, 50e9),
}


def test_shape_of_known_placements():
    """Two hosts of one leaf group, members numbered by first appearance."""
    topo = TopologyView(topologies.rail_optimized(16, node="dgx-h100", nodes_per_leaf=4))
    # GPUs 9 (host 1, rail 1), 0 (host 0, rail 0), 8 (host 1, rail 0); hosts 0 and 1 share leaf group 0
    assert topo.shape([9, 0, 8]) == (((0, 0), (1, 1), (0, 1)), (0, 0))
    # host 4 lies in leaf group 1
    assert topo.shape([0, 32]) == (((0, 0), (1, 0)), (0, 1))
    assert topo.by_host([9, 0, 8, 1]) == [[9, 8], [0, 1]]


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_per_gpu_tables_equal_host_of_and_local_of(name):
    topo = TopologyView(GRAPHS[name]())
    ref = TopologyView(GRAPHS[name]())
    assert np.array_equal(topo.host_array(), ref._per_gpu(ref.host_of))
    assert np.array_equal(topo.local_array(), ref._per_gpu(ref.local_of))
    assert topo.host_array().dtype == np.int64 and len(topo.host_array()) == len(
        [g for g in ref.graph.nodes if isinstance(g, int)])
