"""Primary FP8 weights (Megatron-Core --fp8-param-gather): memory and runs."""

import pytest

from sim.scenario.load import parse_scenario
from sim.scenario.workload import generate_workload
from sim.validation import cases
from workloads import models
from workloads.models import Shape
from workloads.models.builder import GEMM_INPUT_BYTES

KW = dict(pp=1, dp=8, zero_stage=1, in_flight_microbatches=1)


@pytest.mark.parametrize("precision", ["fp8", "mxfp8"])
def test_fp8_params_drop_the_bf16_copy_of_the_layer_weights(precision):
    spec = models.get_model("llama3-8b")
    shape = Shape(1, 4096, precision=precision)
    kept = models.memory_bytes(spec, shape, stage_layers=spec.layers, **KW)
    primary = models.memory_bytes(spec, shape, stage_layers=spec.layers, fp8_params=True,
                                  **KW)
    layer_params = spec.layers * models.layer_params(spec)
    # 2 bytes of bf16 weight per layer parameter are gone; the quantised row-
    # and column-wise copies (2 q bytes) stay; embedding and head stay bf16
    assert kept["weights_bytes"] - primary["weights_bytes"] == pytest.approx(2 * layer_params)
    q = GEMM_INPUT_BYTES[precision]
    bf = models.memory_bytes(spec, Shape(1, 4096), stage_layers=spec.layers, **KW)
    assert primary["weights_bytes"] == pytest.approx(
        bf["weights_bytes"] - 2 * layer_params + 2 * q * layer_params)
    for kind in ("gradients_bytes", "optimizer_bytes", "activations_bytes"):
        assert primary[kind] == kept[kind]


def test_fp8_params_moe_expert_weights_and_no_effect_in_bf16_or_nvfp4():
    spec = models.get_model("qwen3-30b-a3b")
    for precision in ("bf16", "nvfp4"):
        shape = Shape(4, 4096, ep=8, precision=precision)
        a = models.memory_bytes(spec, shape, stage_layers=spec.layers, **KW)
        b = models.memory_bytes(spec, shape, stage_layers=spec.layers, fp8_params=True, **KW)
        assert a == b
    shape = Shape(4, 4096, ep=8, precision="mxfp8")
    a = models.memory_bytes(spec, shape, stage_layers=spec.layers, **KW)
    b = models.memory_bytes(spec, shape, stage_layers=spec.layers, fp8_params=True, **KW)
    stage = a["params_on_rank"] - models.embedding_params(spec) - models.head_params(spec)
    assert a["weights_bytes"] - b["weights_bytes"] == pytest.approx(2 * stage)


def test_qwen3_30b_on_8_b200_fits_with_primary_fp8_weights():
    # Megatron-Bridge's MXFP8 recipe (fp8_param_gather) ran this layout on
    # 8 B200 of 180 GB (calibration/modern.yaml row 133); with a bf16 copy of
    # every weight it would need about 184 GB as modelled
    case = next(c for c in cases("modern") if c.name.endswith("#133"))
    scn = dict(case.scenario)
    _, facts = generate_workload(parse_scenario(scn, case.name))
    assert facts.memory_gb_per_gpu < 180
    training = dict(scn["training"], fp8_params=False)
    with pytest.raises(Exception, match="does not fit"):
        generate_workload(parse_scenario(dict(scn, training=training), case.name))
