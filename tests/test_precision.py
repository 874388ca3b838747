"""Precision as data: datasheet peaks, low-precision GEMM recipes, errors."""

import pytest

import topologies
from sim.compute import compute_model_for
from tests.helpers import one_line_error, run_cli
from workloads import models
from workloads.errors import InputError
from workloads.models import Shape
from workloads.models.builder import GEMM_INPUT_BYTES


def _peaks(gpu):
    return topologies.gpu_spec(gpu).extra["peak_flops_by_precision"]


def test_datasheet_peaks():
    # H100 SXM datasheet: BF16 989 TFLOPS dense, FP8 1,979 dense (3,958 sparse)
    assert _peaks("h100-sxm") == {"bf16": 9.89e14, "fp16": 9.89e14, "fp8": 1.979e15}
    # DGX B200: 72 PFLOPS FP8 and 144 PFLOPS FP4 with sparsity per 8 GPUs
    b = _peaks("b200")
    assert b["fp8"] == pytest.approx(72e15 / 8 / 2) and b["nvfp4"] == pytest.approx(144e15 / 8 / 2)
    # GB200 NVL72: 360 / 720 / 1,440 PFLOPS (sparse) per rack of 72 GPUs
    g = _peaks("gb200")
    for p, rack in (("bf16", 360e15), ("fp8", 720e15), ("nvfp4", 1440e15)):
        assert g[p] == pytest.approx(rack / 72 / 2)
    assert "fp8" not in _peaks("a100-80gb")
    for gpu in ("a100-80gb", "h100-sxm", "h200-sxm", "b200", "gb200"):
        spec = topologies.gpu_spec(gpu)
        assert _peaks(gpu)["bf16"] == spec.peak_dense_flops


def test_missing_precision_is_an_input_error_naming_gpu_and_field():
    with pytest.raises(InputError, match="a100-80gb has no fp8") as e:
        compute_model_for("a100-80gb", "fp8")
    assert e.value.field == "training.dtype"
    with pytest.raises(InputError, match="h100-sxm has no mxfp8"):
        compute_model_for("h100-sxm", "mxfp8")
    compute_model_for("b200", "nvfp4")


def test_fp8_on_a100_exits_2():
    proc = run_cli("run", "--set", "training.dtype=fp8")
    one_line_error(proc, "training.dtype", "a100-80gb has no fp8 tensor cores")


def test_fp8_gemm_runs_at_the_fp8_peak():
    m = compute_model_for("h100-sxm", "fp8")
    flops = 1e15
    bf16 = m.cost_s(flops, 0.0, "gemm") - m.launch_overhead_s
    fp8 = m.cost_s(flops, 0.0, "gemm_fp8") - m.launch_overhead_s
    assert bf16 == pytest.approx(flops / (9.89e14 * m.eff("gemm").flop))
    assert fp8 == pytest.approx(flops / (1.979e15 * m.eff("gemm_fp8").flop))


def _items(precision):
    spec = models.get_model("llama3-8b")
    shape = Shape(micro_batch=1, seq_len=4096, precision=precision)
    return spec, models.layer_forward(spec, shape), models.layer_backward(spec, shape)


def test_fp8_recipe_gemms_low_precision_attention_bf16():
    spec, fwd, (bwd, wgt) = _items("fp8")
    cats = {i.name: i.category for i in fwd + bwd + wgt if hasattr(i, "category")}
    for g in ("qkv", "proj", "fc1", "fc2"):
        assert cats[g] == cats[g + "_dgrad"] == cats[g + "_wgrad"] == "gemm_fp8"
        assert cats[g + "_cast"] == cats[g + "_dcast"] == "elementwise"
    assert cats["attn"] == cats["attn_b"] == "attention"
    # same FLOPs as bf16; GEMM inputs read at 1 byte, the output written in bf16
    _, bf, _ = _items("bf16")
    fl = {i.name: i for i in bf if hasattr(i, "flops")}
    f8 = {i.name: i for i in fwd if hasattr(i, "flops")}
    T, h, n = 4096, spec.hidden, 2 * spec.ffn_hidden
    assert f8["fc1"].flops == fl["fc1"].flops == 2 * T * h * n
    assert f8["fc1"].bytes == pytest.approx((T * h + h * n) * 1 + T * n * 2)
    # the cast reads the bf16 input and writes row- and column-wise fp8 copies
    assert f8["fc1_cast"].bytes == pytest.approx(T * h * (2 + 2 * 1))


def test_moe_router_stays_bf16():
    spec = models.get_model("mixtral-8x7b")
    fwd = models.layer_forward(spec, Shape(1, 4096, precision="fp8"))
    cats = {i.name: i.category for i in fwd if hasattr(i, "category")}
    assert cats["router"] == "gemm" and cats["expert_fc1"] == "gemm_fp8"


def test_fp8_memory_keeps_bf16_weights_plus_fp8_copies():
    spec = models.get_model("llama3-8b")
    kw = dict(pp=1, stage_layers=spec.layers, dp=8, zero_stage=1, in_flight_microbatches=1)
    bf = models.memory_bytes(spec, Shape(1, 4096), **kw)
    f8 = models.memory_bytes(spec, Shape(1, 4096, precision="fp8"), **kw)
    layer_params = spec.layers * models.layer_params(spec)
    assert f8["weights_bytes"] - bf["weights_bytes"] == pytest.approx(2 * 1.0 * layer_params)
    assert f8["gradients_bytes"] == bf["gradients_bytes"]
    assert f8["optimizer_bytes"] == bf["optimizer_bytes"]
    # saved GEMM inputs at 1 byte: two norm outputs and the FC2 input drop by
    # one byte per element, the attention output is kept once more at 1 byte
    T = 4096
    per_layer = T * (2 * spec.hidden + spec.ffn_hidden - spec.heads * spec.head_dim)
    assert bf["activations_bytes"] - f8["activations_bytes"] == pytest.approx(
        spec.layers * per_layer + 0.0, rel=1e-9)


def test_mxfp8_and_nvfp4_carry_their_scales():
    assert GEMM_INPUT_BYTES["mxfp8"] == pytest.approx(1 + 1 / 32)
    assert GEMM_INPUT_BYTES["nvfp4"] == pytest.approx(0.5 + 1 / 16)
    with pytest.raises(InputError, match="training.dtype"):
        models.layer_forward(models.get_model("llama3-8b"), Shape(1, 128, precision="fp6"))
