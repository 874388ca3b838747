"""The dropless MoE dispatcher's host synchronisation (host issue time per
local expert on a ``host`` stream, joined at the block's residual add)."""

import pytest

from sim.compute import HOST_SYNC, compute_model_for
from sim.scenario.load import parse_scenario
from sim.scenario.execute import run_scenario
from workloads import models
from workloads.generate.template import compile_items
from workloads.models import Shape
from workloads.models.items import ComputeItem, HostItem


def test_host_item_starts_with_the_next_compute_and_its_join_waits():
    items = [ComputeItem("router", 1.0, 1.0, "gemm"), HostItem("sync", join="sum", units=4),
             ComputeItem("permute", 1.0, 1.0, "elementwise"),
             ComputeItem("gemm", 1.0, 1.0, "gemm"), ComputeItem("sum", 1.0, 1.0, "elementwise")]
    t = compile_items(items, {})
    names = [s.suffix for s in t.steps]
    assert names == ["router", "permute", "sync", "gemm", "sum"]
    sync, permute, router = t.steps[2], t.steps[1], 0
    assert sync.stream == "host" and sync.deps == permute.deps == (router,)
    assert sync.dims == (4,) and sync.category == HOST_SYNC
    assert set(t.steps[4].deps) == {3, 2}            # "sum" waits for the gemm and the host
    assert t.steps[3].deps == (1,)                     # the GPU does not wait for the host


def test_host_issue_lasts_units_times_the_platform_rate():
    m = compute_model_for("b200", "mxfp8")
    assert m.host_issue_s > 0
    assert m.duration_s(_op(16)) == pytest.approx(16 * m.host_issue_s)
    assert m.duration_s(_op(1)) == pytest.approx(m.host_issue_s)


def _op(units):
    from workloads.trace import Op
    return Op("x", "compute", "host", (), 0.0, 0.0, None, HOST_SYNC, None, None, None, 0,
              None, (units,))


def test_moe_layers_sync_in_forward_only_and_dense_layers_never():
    spec = models.get_model("qwen3-30b-a3b")
    shape = Shape(1, 4096, ep=8)
    fwd = models.layer_forward(spec, shape)
    syncs = [i for i in fwd if isinstance(i, HostItem)]
    assert len(syncs) == 1 and syncs[0].units == 128 / 8 and syncs[0].join == "resid2"
    b, w = models.layer_backward(spec, shape)
    assert not [i for i in b + w if isinstance(i, HostItem)]
    free = Shape(1, 4096, ep=8, moe_sync_free=True)
    assert not [i for i in models.layer_forward(spec, free) if isinstance(i, HostItem)]
    dense = models.get_model("llama3-8b")
    assert not [i for i in models.layer_forward(dense, Shape(1, 4096)) if isinstance(i, HostItem)]


def _run(sync_free: bool):
    scn = {"name": "moe-host", "model": "qwen3-30b-a3b",
           "cluster": {"gpu": "b200", "gpus": 8},
           "parallelism": {"ep": 8, "zero": 1, "moe_sync_free": sync_free},
           "training": {"global_batch": 8, "micro_batch": 1, "seq_len": 1024,
                        "dtype": "mxfp8", "fp8_params": True}}
    return run_scenario(parse_scenario(scn, "moe-host"))


def test_step_is_bounded_below_by_the_host_and_sync_free_runs_faster():
    synced, free = _run(False), _run(True)
    m = compute_model_for("b200", "mxfp8")
    # one micro-batch per rank, 48 MoE layers: the forward alone cannot beat
    # the host issuing 16 local experts per layer
    host_bound = 48 * 16 * m.host_issue_s
    assert synced.result["step_time_s"] >= host_bound
    assert free.result["step_time_s"] < synced.result["step_time_s"]
    spans = [s for s in synced.shown_step.spans if s.stream == "host"]
    assert len(spans) == 48
    assert all(s.end - s.start == pytest.approx(16 * m.host_issue_s) for s in spans)
    assert not [s for s in free.shown_step.spans if s.stream == "host"]


def test_traces_with_host_ops_save_and_load(tmp_path):
    from sim.scenario.workload import generate_workload
    from workloads import trace as trace_format
    scn = {"name": "moe-host", "model": "qwen3-30b-a3b", "cluster": {"gpu": "b200", "gpus": 8},
           "parallelism": {"ep": 8, "zero": 1},
           "training": {"global_batch": 8, "micro_batch": 1, "seq_len": 1024, "dtype": "mxfp8"}}
    trace, _ = generate_workload(parse_scenario(scn, "moe-host"))
    path = tmp_path / "t.json"
    trace.save(path)
    back = trace_format.load(path)
    hosts = [op for op in back.programs[0].ops if op.category == HOST_SYNC]
    assert hosts and all(op.dims == (16.0,) and op.stream == "host" for op in hosts)


def test_host_op_dims_must_be_one_unit_count():
    from workloads.errors import InputError
    from workloads.trace import parse_op
    op = {"id": "a", "kind": "compute", "stream": "host", "flops": 0, "bytes": 0,
          "category": "host_sync", "dims": [1, 2, 3]}
    with pytest.raises(InputError, match=r"\[units\]"):
        parse_op(op, "ops[0]")
    assert parse_op({**op, "dims": [4]}, "ops[0]").dims == (4.0,)


def _scn(**par):
    return {"name": "moe-host", "model": "qwen3-30b-a3b", "cluster": {"gpu": "b200", "gpus": 8},
            "parallelism": {"ep": 4, "zero": 1, **par},
            "training": {"global_batch": 16, "micro_batch": 1, "seq_len": 1024,
                         "dtype": "mxfp8", "fp8_params": True}}


def test_folded_and_unfolded_runs_agree_with_host_ops():
    folded = run_scenario(parse_scenario({**_scn(), "sim": {"fold": True}}, "f")).result
    full = run_scenario(parse_scenario({**_scn(), "sim": {"fold": False}}, "u")).result
    assert folded["step_time_s"] == pytest.approx(full["step_time_s"], rel=1e-12)


def test_full_recompute_syncs_again_before_the_backward():
    plain = run_scenario(parse_scenario(_scn(pp=2), "p"))
    again = run_scenario(parse_scenario(_scn(pp=2, recompute="full"), "r"))
    count = [sum(1 for s in r.shown_step.spans if s.stream == "host") for r in (plain, again)]
    assert count[0] > 0 and count[1] == 2 * count[0]


def test_calibrate_fits_the_host_time_apart_from_the_efficiencies():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "calibrate.py"
    spec = importlib.util.spec_from_file_location("calibrate", path)
    cal = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cal)
    m = cal.model_with("b200", "mxfp8", {"moe_host_issue_s": 1e-3, "gemm_mxfp8": 0.5})
    assert m.host_issue_s == 1e-3 and m.eff("gemm_mxfp8").flop == 0.5
    moe = cal.prepare("b200", True, moe=True)
    assert [c.name for c, _, _, _ in moe] == ["qwen3_30b_a3b 8xb200 mxfp8 #133"]
