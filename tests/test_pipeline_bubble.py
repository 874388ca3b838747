"""Pipeline bubbles simulated by the engine against their closed forms.

Compute-only pipeline traces (zero-byte activations on a zero-latency switch)
built straight from the schedules: a device's work per micro-batch is
t_f + t_b, split evenly over its vpp chunks, so the bubble fraction
(makespan - ideal) / ideal is (p-1)/m for GPipe and 1F1B and (p-1)/(v m) for
the interleaved schedule (Narayanan et al., SC'21, Sec. 2.2).
"""
import pytest

import topologies
from sim.simulate import simulate_trace
from tests.helpers import UNIT_COMPUTE, trace
from workloads.generate import schedule

T_F, T_B = 1.0e-3, 2.0e-3


def pipeline_trace(name: str, p: int, m: int, v: int):
    programs = []
    last_vs = p * v - 1
    for s, actions in enumerate(schedule(name, p, m, v)):
        ops = []
        for a in actions:
            vs = a.chunk * p + s
            tag = lambda kind, vstage: (0 if kind == "F" else 1) * 10**6 + a.microbatch * 1000 + vstage
            oid = f"{a.kind}{a.microbatch}c{a.chunk}"
            deps = []
            if a.kind == "F" and vs > 0:
                ops.append({"id": f"r{oid}", "kind": "recv", "bytes": 0, "stream": "recv",
                            "tag": tag("F", vs), "peer": {"group": "pp", "offset": -1}})
                deps.append(f"r{oid}")
            if a.kind == "B":
                deps.append(f"F{a.microbatch}c{a.chunk}")
                if vs < last_vs:
                    ops.append({"id": f"r{oid}", "kind": "recv", "bytes": 0, "stream": "recv",
                                "tag": tag("B", vs), "peer": {"group": "pp", "offset": 1}})
                    deps.append(f"r{oid}")
            dur = (T_F if a.kind == "F" else T_B) / v
            ops.append({"id": oid, "kind": "compute", "duration_s": dur, "deps": deps})
            if a.kind == "F" and vs < last_vs:
                ops.append({"id": f"s{oid}", "kind": "send", "bytes": 0, "stream": "send",
                            "tag": tag("F", vs + 1), "deps": [oid],
                            "peer": {"group": "pp", "offset": 1}})
            if a.kind == "B" and vs > 0:
                ops.append({"id": f"s{oid}", "kind": "send", "bytes": 0, "stream": "send",
                            "tag": tag("B", vs - 1), "deps": [oid],
                            "peer": {"group": "pp", "offset": -1}})
        programs.append({"ranks": [s], "ops": ops})
    return trace(p, programs, {"pp": [list(range(p))]})


@pytest.mark.parametrize("name,p,m,v", [
    ("gpipe", 4, 8, 1), ("1f1b", 4, 8, 1), ("1f1b", 8, 16, 1), ("1f1b", 4, 3, 1),
    ("interleaved", 4, 8, 2), ("interleaved", 4, 8, 4), ("interleaved", 8, 16, 2),
])
def test_bubble_fraction_matches_closed_form(name, p, m, v):
    graph = topologies.single_switch(p, 1e12, 0.0)
    result = simulate_trace(pipeline_trace(name, p, m, v), graph, UNIT_COMPUTE)
    ideal = m * (T_F + T_B)
    bubble = (result.makespan_s - ideal) / ideal
    expected = (p - 1) / (v * m) if name == "interleaved" else (p - 1) / m
    assert bubble == pytest.approx(expected, rel=1e-9)
    # the engine's per-rank accounting sees the same idle time
    first = result.ranks[0]
    assert first.idle_s == pytest.approx(result.makespan_s - ideal, rel=1e-9)
