"""The replay's memo of compute durations keys on everything a duration
depends on: a forward GEMM and its dgrad/wgrad have equal FLOPs and bytes but
different shapes (so different tile/wave and reduction efficiencies), and
host-issue ops of one category differ by their work units. Every compute
span must last exactly ``ComputeModel.duration_s`` of its own op, on the
fast path and on every reference switch."""
import pytest

import topologies
from sim.compute import HOST_SYNC, compute_model_for
from sim.scenario import workload
from sim.simulate import simulate_trace
from workloads.generate import program as program_form
from workloads.trace import ops_by_id

from test_folding import LAYOUTS
from tests.helpers import small_job, trace

GPU = "a100-80gb"
COMPUTE = compute_model_for(GPU)
FLOPS = 2.0 * 4096 * 1024 * 1024
NBYTES = 2.0 * (4096 * 1024 + 1024 * 1024 + 4096 * 1024)
#: one GEMM with three shapes of equal FLOPs (m, n, k permuted), bytes and category
SHAPES = [[4096, 1024, 1024], [1024, 1024, 4096], [2048, 1024, 2048]]
#: replay switches: the default, each reference path alone, all of them at once
SWITCHES = [{}, {"run_ahead": False}, {"fuse": False}, {"private_fast_path": False},
            {"p2p_fast_path": False}, {"alone_fast_path": False},
            {"run_ahead": False, "fuse": False, "private_fast_path": False,
             "p2p_fast_path": False, "alone_fast_path": False}]
SWITCH_IDS = ["fast", "no-run-ahead", "no-fuse", "no-private", "no-p2p", "no-alone", "all-ref"]


def _hand_trace():
    ops = [{"id": f"g{i}", "kind": "compute", "flops": FLOPS, "bytes": NBYTES,
            "category": "gemm", "dims": d, "deps": [f"g{i - 1}"] if i else []}
           for i, d in enumerate(SHAPES)]
    ops += [{"id": f"h{u}", "kind": "compute", "stream": "host", "category": HOST_SYNC,
             "flops": 1e6, "bytes": 1e3, "dims": [u]} for u in (2, 8)]
    ops.append({"id": "ar", "kind": "all_reduce", "group": "w", "bytes": 2**20,
                "deps": ["g2", "h8"]})
    return trace(2, [{"ranks": [0, 1], "ops": ops}], {"w": [[0, 1]]})


def _check_every_compute_span(step, tr) -> int:
    """Assert each compute span lasts its op's model duration; return how many."""
    ops = [ops_by_id(p.ops) for p in tr.programs]
    checked = 0
    for s in step.spans:
        if s.kind != "compute":
            continue
        op = ops[step.classes[s.cls].program][s.op]
        assert s.end - s.start == pytest.approx(COMPUTE.duration_s(op), rel=1e-12, abs=1e-18), \
            (s.op, op.dims)
        checked += 1
    return checked


def test_the_model_gives_the_shapes_and_host_units_different_durations():
    tr = _hand_trace()
    by_id = ops_by_id(tr.programs[0].ops)
    gemms = [COMPUTE.duration_s(by_id[f"g{i}"]) for i in range(len(SHAPES))]
    assert len(set(gemms)) == len(SHAPES)
    assert COMPUTE.duration_s(by_id["h8"]) == pytest.approx(4 * COMPUTE.duration_s(by_id["h2"]))
    keys = {COMPUTE.duration_key(op) for op in by_id.values() if op.kind == "compute"}
    assert len(keys) == len(SHAPES) + 2


@pytest.mark.parametrize("switches", SWITCHES, ids=SWITCH_IDS)
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_hand_trace_gemm_shapes_and_host_units_keep_their_own_durations(switches, fold):
    tr = _hand_trace()
    graph = topologies.build_cluster(GPU, 2, gpus_per_node=2)
    step = simulate_trace(tr, graph, COMPUTE, fold=fold, **switches)
    assert _check_every_compute_span(step, tr) == (len(SHAPES) + 2) * (1 if fold else 2)
    # the GEMMs run back to back: the step is at least their three model lengths
    chain = sum(COMPUTE.duration_s(op) for op in tr.programs[0].ops if op.id.startswith("g"))
    assert step.makespan_s > chain


def _distinct_shapes_of_one_cost(tr) -> int:
    """How many (FLOPs, bytes, category) of ``tr``'s GEMMs have shapes of
    different model durations (what a memo without the shape would merge)."""
    seen: dict[tuple, set] = {}
    for p in tr.programs:
        for op in p.ops:
            if op.kind == "compute" and op.duration_s is None:
                seen.setdefault((op.flops, op.bytes, op.category), set()).add(
                    COMPUTE.duration_s(op))
    return sum(len(v) > 1 for v in seen.values())


JOBS = [LAYOUTS[0], LAYOUTS[1], LAYOUTS[4], LAYOUTS[5]]


@pytest.mark.parametrize("compressed", [True, False], ids=["compressed", "expanded"])
@pytest.mark.parametrize("name,model,gpus,par,batch", JOBS, ids=[j[0] for j in JOBS])
def test_generated_jobs_time_every_gemm_by_its_own_shape(name, model, gpus, par, batch,
                                                         compressed, monkeypatch):
    monkeypatch.setattr(workload, "TRACE_MEMO", False)
    monkeypatch.setattr(program_form, "COMPRESSED", compressed)
    tr, graph, _ = small_job(model, gpus, par, batch)
    assert all(p.compressed == compressed for p in tr.programs)
    assert _distinct_shapes_of_one_cost(tr) >= 2
    for switches in (SWITCHES[0], SWITCHES[2], SWITCHES[-1]):   # fast, no-fuse, all-ref
        step = simulate_trace(tr, graph, COMPUTE, **switches)
        assert _check_every_compute_span(step, tr) > 0
