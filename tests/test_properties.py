"""Property-based tests of the step-level engine on random DAG traces (hypothesis).

Random traces: every rank runs one program (so the job is symmetric) of compute ops
with fixed durations, all-reduces on the whole job, and ring send/recv exchanges, on
random streams with random dependencies on earlier ops (so they form a DAG). They run
on a random small ring or single-switch topology. Examples are bounded so CI stays fast.
"""
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topologies
from sim.simulate import simulate_trace
from tests.helpers import UNIT_COMPUTE, trace as make_trace

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
STREAMS = ("compute", "comm", "aux")


@st.composite
def jobs(draw, p2p=True, collectives=True):
    n = draw(st.integers(2, 4))
    kinds = ["compute"] + (["all_reduce"] if collectives else []) + (["exchange"] if p2p else [])
    ops = []
    for i in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(kinds))
        deps = draw(st.lists(st.sampled_from([o["id"] for o in ops]), unique=True,
                             max_size=2)) if ops else []
        if kind == "compute":
            ops.append({"id": f"c{i}", "kind": "compute", "deps": deps,
                        "stream": draw(st.sampled_from(STREAMS)),
                        "duration_s": draw(st.floats(1e-6, 1e-2))})
        elif kind == "all_reduce":
            ops.append({"id": f"a{i}", "kind": "all_reduce", "group": "w", "deps": deps,
                        "stream": draw(st.sampled_from(STREAMS[1:])),
                        "bytes": draw(st.integers(1 << 10, 1 << 24))})
        else:                       # each rank sends to the next and receives from the last
            size = draw(st.integers(1 << 10, 1 << 24))
            ops.append({"id": f"s{i}", "kind": "send", "stream": f"send{i}", "tag": i,
                        "peer": {"group": "w", "offset": 1}, "bytes": size, "deps": deps})
            ops.append({"id": f"r{i}", "kind": "recv", "stream": f"recv{i}", "tag": i,
                        "peer": {"group": "w", "offset": -1}, "bytes": size, "deps": deps})
    trace = make_trace(n, [{"ranks": list(range(n)), "ops": ops}], {"w": [list(range(n))]})
    bw = draw(st.sampled_from([1e9, 2.5e10, 1e11]))
    latency = draw(st.sampled_from([0.0, 1e-6, 5e-6]))
    build = draw(st.sampled_from([topologies.ring, topologies.single_switch]))
    return trace, build(n, bw, latency)


def critical_path_s(trace) -> float:
    """Longest chain of compute durations through deps and stream order (comm counted 0)."""
    ops = trace.programs[0].ops
    finish: dict[str, float] = {}
    last: dict[str, str] = {}
    for op in ops:                  # ops only depend on earlier ones
        preds = [finish[d] for d in op.deps] + ([finish[last[op.stream]]]
                                                 if op.stream in last else [])
        finish[op.id] = max(preds, default=0.0) + (op.duration_s or 0.0)
        last[op.stream] = op.id
    return max(finish.values(), default=0.0)


def alone_s(trace, graph, op) -> float:
    """Time of ``op`` (with its partner for a send/recv) simulated alone on the idle graph."""
    n = trace.world_size
    ops = [o.to_json() for o in trace.programs[0].ops
           if o.id == op.id or (op.is_p2p and o.is_p2p and o.tag == op.tag)]
    for o in ops:
        o["deps"] = []
    alone = make_trace(n, [{"ranks": list(range(n)), "ops": ops}], trace.groups)
    return simulate_trace(alone, graph, UNIT_COMPUTE).makespan_s


@SETTINGS
@given(jobs())
def test_random_dags_terminate_within_the_critical_path_and_serial_bounds(job):
    trace, graph = job
    step = simulate_trace(trace, graph, UNIT_COMPUTE)
    assert math.isfinite(step.makespan_s)
    lower = critical_path_s(trace)
    upper = sum(o.duration_s for o in trace.programs[0].ops if o.is_compute) + sum(
        alone_s(trace, graph, o) for o in trace.programs[0].ops
        if o.is_collective or o.kind == "send")
    assert lower * (1 - 1e-9) <= step.makespan_s <= upper * (1 + 1e-9) + 1e-12


@SETTINGS
@given(jobs(collectives=False))
def test_bytes_sent_equal_bytes_received_and_reach_the_network(job):
    trace, graph = job
    ops = trace.programs[0].ops
    sent = sum(o.bytes for o in ops if o.kind == "send") * trace.world_size
    received = sum(o.bytes for o in ops if o.kind == "recv") * trace.world_size
    step = simulate_trace(trace, graph, UNIT_COMPUTE, fold=False)
    assert sent == received == step.network.bytes_moved


@SETTINGS
@given(jobs(), st.integers(0, 3), st.floats(0.1, 0.99))
def test_a_straggler_never_makes_the_step_faster(job, rank, factor):
    trace, graph = job
    speeds = [1.0] * trace.world_size
    speeds[rank % trace.world_size] = factor
    base = simulate_trace(trace, graph, UNIT_COMPUTE).makespan_s
    slow = simulate_trace(trace, graph, UNIT_COMPUTE, speeds=speeds).makespan_s
    assert slow >= base


@SETTINGS
@given(jobs())
def test_folding_never_changes_a_symmetric_result(job):
    trace, graph = job
    folded = simulate_trace(trace, graph, UNIT_COMPUTE, fold=True)
    flat = simulate_trace(trace, graph, UNIT_COMPUTE, fold=False)
    assert len(folded.classes) == 1 < len(flat.classes) == trace.world_size
    assert folded.makespan_s == flat.makespan_s


@pytest.mark.parametrize("n", [2, 3])
def test_generator_covers_every_op_kind(n):
    # the strategy above is only useful if it produces all three kinds of ops;
    # any such example will do, so it is not shrunk to a smallest one
    from hypothesis import Phase, find
    job = find(jobs(), lambda j: {o.kind for o in j[0].programs[0].ops} >=
               {"compute", "all_reduce", "send", "recv"} and j[0].world_size == n,
               settings=settings(phases=[Phase.generate], database=None, derandomize=True))
    assert job[0].world_size == n
