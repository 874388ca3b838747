"""Kernel efficiencies of an earlier software release (``cluster.software``)."""
import pytest

from sim.compute import compute_model_for, software_releases
from sim.validation import cases, run_case
from tests.helpers import one_line_error, run_cli
from workloads.errors import InputError


def test_release_scales_gemm_and_attention_not_memory_bound_ops():
    latest = compute_model_for("b200", "fp8")
    old = compute_model_for("b200", "fp8", "nemo-25.02")
    assert "nemo-25.02" in software_releases("b200")
    scale = old.eff("gemm_fp8").flop / latest.eff("gemm_fp8").flop
    assert 0 < scale < 1
    assert old.eff("attention").flop == pytest.approx(scale * latest.eff("attention").flop)
    assert old.eff("gemm").flop == pytest.approx(scale * latest.eff("gemm").flop)
    for cat in ("elementwise", "norm", "default"):
        assert old.eff(cat) == latest.eff(cat)
    flops = 1e15       # a compute-bound GEMM takes 1 / scale as long
    assert (old.cost_s(flops, 0.0, "gemm_fp8") - old.launch_overhead_s) == pytest.approx(
        (latest.cost_s(flops, 0.0, "gemm_fp8") - latest.launch_overhead_s) / scale)


def test_same_recipe_two_releases_matches_the_published_ratio():
    # modern.yaml rows 41 (NeMo 25.02) and 190 (25.11): Llama 3 8B, 8 B200, FP8,
    # the same layout and batch; 26,006 and 30,624 tokens/s/GPU (1.178x)
    rows = {c.name: c for c in cases("modern")}
    old = run_case(rows["llama3_8b 8xb200 fp8 #41"])
    new = run_case(rows["llama3_8b 8xb200 fp8 #190"])
    assert old["predicted_s"] / new["predicted_s"] == pytest.approx(30624 / 26006, rel=0.03)


def test_unknown_release_is_an_input_error():
    with pytest.raises(InputError, match="known: nemo-25.02") as e:
        compute_model_for("b200", "fp8", "nemo-24.01")
    assert e.value.field == "cluster.software"
    with pytest.raises(InputError, match="none besides the latest"):
        compute_model_for("h100-sxm", "fp8", "nemo-25.02")


def test_unknown_release_exits_2_naming_the_field():
    proc = run_cli("run", "--set", "cluster.gpu=b200", "--set", "cluster.software=nemo-9")
    one_line_error(proc, "cluster.software", "nemo-9")
