"""Memory per GPU against the ZeRO paper and Korthikanti et al. (2022)."""
import pytest

from workloads.errors import InputError
from workloads.models import (Shape, activation_bytes_per_layer, get_model, memory_bytes,
                              model_state_bytes)


def test_mixed_precision_adam_is_16_psi():
    psi = 7.5e9
    assert sum(model_state_bytes(psi, 64, 0)) == 16 * psi


@pytest.mark.parametrize("stage,gb", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_figure_1(stage, gb):
    # Rajbhandari et al. 2020, Fig. 1: Psi = 7.5B, K = 12, N_d = 64
    assert sum(model_state_bytes(7.5e9, 64, stage)) / 1e9 == pytest.approx(gb, abs=0.05)


def test_zero_stages_shard_what_the_paper_says():
    psi, n = 1e9, 8
    w0, g0, o0 = model_state_bytes(psi, n, 0)
    assert model_state_bytes(psi, n, 1) == (w0, g0, o0 / n)
    assert model_state_bytes(psi, n, 2) == (w0, g0 / n, o0 / n)
    assert model_state_bytes(psi, n, 3) == (w0 / n, g0 / n, o0 / n)
    assert model_state_bytes(psi, n, 0, fp32_grads=True)[1] == 4 * psi
    assert model_state_bytes(psi, n, 0, master_weights=False)[2] == 8 * psi
    with pytest.raises(InputError, match="parallelism.zero"):
        model_state_bytes(psi, n, 4)


GPT3 = dict(s=2048, b=1, h=12288, a=96, t=8)


def _korthikanti(kind, s, b, h, a, t):
    # Korthikanti et al. 2022, Table 2 (bytes per layer)
    return {
        "none": s * b * h * (34 + 5 * a * s / h),
        "tp": s * b * h * (10 + 24 / t + 5 * a * s / (h * t)),
        "tp_sp": s * b * h / t * (34 + 5 * a * s / h),
        "tp_selective": s * b * h * (10 + 24 / t),
        "tp_sp_selective": s * b * h * 34 / t,
        "full": 2 * s * b * h,
    }[kind]


@pytest.mark.parametrize("kind,shape", [
    ("none", Shape(1, 2048)),
    ("tp", Shape(1, 2048, tp=8)),
    ("tp_sp", Shape(1, 2048, tp=8, sequence_parallel=True)),
    ("tp_selective", Shape(1, 2048, tp=8, recompute="selective")),
    ("tp_sp_selective", Shape(1, 2048, tp=8, sequence_parallel=True, recompute="selective")),
    ("full", Shape(1, 2048, recompute="full")),
])
def test_activation_memory_reproduces_korthikanti_table_2(kind, shape):
    got = activation_bytes_per_layer(get_model("gpt3-175b"), shape, flash_attention=False)
    assert got == pytest.approx(_korthikanti(kind, **GPT3), rel=1e-12)


def test_flash_attention_removes_the_quadratic_term():
    s = get_model("gpt3-175b")
    flash = activation_bytes_per_layer(s, Shape(1, 2048, tp=8, sequence_parallel=True))
    selective = _korthikanti("tp_sp_selective", **GPT3)
    lse = 4 * 2048 * 96 / 8
    assert flash == pytest.approx(selective + lse)


def test_full_recompute_with_sequence_parallel_shards_the_input():
    s = get_model("gpt3-175b")
    shape = Shape(1, 2048, tp=8, sequence_parallel=True, recompute="full")
    assert activation_bytes_per_layer(s, shape) == 2 * 2048 * 12288 / 8


def test_memory_bytes_totals_and_stage_contents():
    s = get_model("gpt3-175b")
    shape = Shape(1, 2048, tp=8, sequence_parallel=True, recompute="selective")
    kw = dict(pp=8, stage_layers=12, dp=4, zero_stage=0, in_flight_microbatches=8)
    mid = memory_bytes(s, shape, stage="middle", workspace_bytes=0.0, flash_attention=False,
                       **kw)
    layer = (12 * 12288**2 + 7 * 12288) / 8 + 6 * 12288     # column-split + replicated
    assert mid["params_on_rank"] == pytest.approx(12 * layer)
    assert mid["weights_bytes"] + mid["gradients_bytes"] + mid["optimizer_bytes"] == \
        pytest.approx(16 * mid["params_on_rank"])
    assert mid["activations_bytes"] == pytest.approx(8 * 12 * 34 * 2048 * 12288 / 8)
    first = memory_bytes(s, shape, stage="first", **kw)
    assert first["params_on_rank"] - mid["params_on_rank"] == pytest.approx(
        (51200 + 2048) * 12288 / 8)
    last = memory_bytes(s, shape, stage="last", **kw)
    assert last["activations_bytes"] > mid["activations_bytes"]        # logits
    total = sum(v for k, v in first.items() if k not in ("params_on_rank", "total_bytes"))
    assert first["total_bytes"] == pytest.approx(total)


def test_zero_and_expert_parallel_sharding_in_memory_bytes():
    s = get_model("mixtral-8x7b")
    shape = Shape(1, 4096, ep=8)
    z0 = memory_bytes(s, shape, 1, 32, 8, 0, 1)
    z3 = memory_bytes(s, shape, 1, 32, 8, 3, 1)
    # dp 8 / ep 8: each expert shard has one replica, so only dense params shrink
    assert z3["weights_bytes"] < z0["weights_bytes"]
    with pytest.raises(InputError, match="parallelism.ep"):
        memory_bytes(s, Shape(1, 4096, ep=8), 1, 32, 4, 1, 1)


def test_full_recompute_saves_memory():
    s = get_model("llama3-70b")
    kw = dict(pp=4, stage_layers=20, dp=8, zero_stage=1, in_flight_microbatches=4)
    none = memory_bytes(s, Shape(1, 8192, tp=8, sequence_parallel=True), **kw)
    full = memory_bytes(s, Shape(1, 8192, tp=8, sequence_parallel=True, recompute="full"), **kw)
    assert full["activations_bytes"] < none["activations_bytes"] / 5


def test_bad_memory_arguments():
    s = get_model("gpt-22b")
    with pytest.raises(InputError, match="stage"):
        memory_bytes(s, Shape(1, 2048), 1, 48, 1, 0, 1, stage="top")
    with pytest.raises(InputError, match="in_flight_microbatches"):
        memory_bytes(s, Shape(1, 2048), 1, 48, 1, 0, 0)
    with pytest.raises(InputError, match="optimizer"):
        memory_bytes(s, Shape(1, 2048), 1, 48, 1, 0, 1, optimizer="lion")
