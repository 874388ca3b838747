"""Small builders shared by tests."""
from sim.compute import ComputeModel, Efficiency
from workloads.trace import from_json

#: A compute model where an op of F FLOPs takes F / 1e12 seconds.
UNIT_COMPUTE = ComputeModel(1e12, 1e12, {"default": Efficiency(1.0, 1.0)})


def trace(world, programs, groups=None, **extra):
    return from_json({"world_size": world, "groups": groups or {}, "programs": programs, **extra})
