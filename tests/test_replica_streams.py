"""Run-level replicas draw from independent streams (``Generator.spawn``).

Replica r's outcome depends only on the seed and r: not on how many replicas
run, nor on what the replicas before it drew, so replicas can be computed in
any order or in parallel.
"""
import numpy as np

from sim.reliability import CheckpointConfig, FaultConfig, RunConfig, SparesConfig, simulate_run
from sim.reliability.replica import replica_streams

FAULTS = FaultConfig(job_mtbf_h=3.0, blast="node", detection_s=120, restart_s=300,
                     spares=SparesConfig(nodes=2, repair_h=4.0))
CKPT = CheckpointConfig(stall_s=30)


def _run(replicas: int, seed: int = 11):
    return simulate_run(5.0, 1e6, 256, 8, FAULTS, CKPT, RunConfig(days=10, replicas=replicas),
                        np.random.default_rng(seed))


def test_a_replica_does_not_depend_on_how_many_run():
    few, many = _run(4), _run(9)
    for key, values in few.per_replica.items():
        np.testing.assert_array_equal(values, many.per_replica[key][:4], err_msg=key)


def test_replicas_differ_and_the_seed_decides():
    a, b, c = _run(6), _run(6), _run(6, seed=12)
    for key in a.per_replica:
        np.testing.assert_array_equal(a.per_replica[key], b.per_replica[key])
    wall = a.per_replica["useful_s"]
    assert len(set(wall.tolist())) == len(wall)          # each replica its own draws
    assert not np.array_equal(wall, c.per_replica["useful_s"])


def test_streams_are_independent_children_of_the_seed():
    first = [g.random(3) for g in replica_streams(np.random.default_rng(5), 3)]
    again = [g.random(3) for g in replica_streams(np.random.default_rng(5), 5)][:3]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[0], first[1])
