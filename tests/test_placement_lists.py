"""Placement shapes and host grouping read from the per-GPU host and rail
lists equal the member-by-member reference (host_of and local_of per GPU)."""
import numpy as np
import pytest

import topologies
from sim.collectives import TopologyView

GRAPHS = {
    "rail-h100": lambda: topologies.rail_optimized(16, node="dgx-h100", nodes_per_leaf=4),
    "a100-cluster": lambda: topologies.build_cluster("a100-80gb", 64),
    "two-level": lambda: topologies.two_level(8, 8, 400e9, 50e9),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("seed", range(4))
def test_shape_and_by_host_equal_the_reference(name, seed):
    graph = GRAPHS[name]()
    topo = TopologyView(graph)
    gpus = sorted(g for g in graph.nodes if isinstance(g, int))
    rng = np.random.default_rng(seed)
    for _ in range(40):
        size = int(rng.integers(1, len(gpus) + 1))
        members = [gpus[int(i)] for i in rng.choice(len(gpus), size, replace=False)]
        if rng.random() < 0.3:
            members.sort()
        assert topo._shape(members) == topo._shape_reference(members)
        assert topo.by_host(members) == topo.by_host_reference(members)
    assert topo._shape([]) == topo._shape_reference([])
    assert topo.by_host([]) == []


def test_shape_of_known_placements():
    """Two hosts of one leaf group, members numbered by first appearance."""
    topo = TopologyView(topologies.rail_optimized(16, node="dgx-h100", nodes_per_leaf=4))
    # GPUs 9 (host 1, rail 1), 0 (host 0, rail 0), 8 (host 1, rail 0); hosts 0 and 1 share leaf group 0
    assert topo.shape([9, 0, 8]) == (((0, 0), (1, 1), (0, 1)), (0, 0))
    # host 4 lies in leaf group 1
    assert topo.shape([0, 32]) == (((0, 0), (1, 0)), (0, 1))
    assert topo.by_host([9, 0, 8, 1]) == [[9, 8], [0, 1]]


def test_ids_outside_the_gpu_table_take_the_reference_path():
    topo = TopologyView(topologies.build_cluster("a100-80gb", 16))
    with pytest.raises(KeyError):
        topo.by_host([0, 1000])
    with pytest.raises(KeyError):
        topo.shape([0, 1000])


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_per_gpu_tables_equal_host_of_and_local_of(name):
    topo = TopologyView(GRAPHS[name]())
    ref = TopologyView(GRAPHS[name]())
    assert np.array_equal(topo.host_array(), ref._per_gpu(ref.host_of))
    assert np.array_equal(topo.local_array(), ref._per_gpu(ref.local_of))
    assert topo.host_array().dtype == np.int64 and len(topo.host_array()) == len(
        [g for g in ref.graph.nodes if isinstance(g, int)])
