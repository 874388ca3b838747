"""GEMM efficiency by shape: tile and wave quantisation, small-K falloff."""
import pytest

from sim.compute import GemmTiling, compute_model_for
from sim.scenario.execute import run_scenario
from sim.scenario.load import parse_scenario
from workloads import models
from workloads.models import Shape

A100 = GemmTiling(sms=108, tile_m=128, tile_n=128, k_half=128)


def test_full_waves_lose_only_the_k_falloff():
    # 108 tiles of 128 x 128 = exactly one wave
    m, n, k = 12 * 128, 9 * 128, 4096
    assert A100.efficiency(m, n, k) == pytest.approx(k / (k + 128))


def test_one_tile_more_costs_a_whole_wave():
    m, n, k = 12 * 128, 9 * 128 + 1, 4096
    tiles = 12 * 10
    assert A100.efficiency(m, n, k) == pytest.approx(m * n / (2 * 108 * 128 * 128) * k / (k + 128))
    assert tiles > 108


def test_partial_tile_is_padded():
    # a 64-row GEMM fills half of each 128-row tile
    full = A100.efficiency(128, 108 * 128, 8192)
    half = A100.efficiency(64, 108 * 128, 8192)
    assert half == pytest.approx(full / 2)


def test_grouped_gemm_counts_tiles_of_every_group():
    # 8 experts x (1 x 27) tiles = 216 tiles = 2 full waves
    assert A100.efficiency(128, 27 * 128, 1024, 8) == pytest.approx(1024 / (1024 + 128))


def test_gemm_items_carry_their_shape():
    spec = models.get_model("gpt3-1.3b")
    fwd = models.layer_forward(spec, Shape(micro_batch=2, seq_len=2048, tp=8))
    fc2 = next(i for i in fwd if i.name == "fc2")
    assert fc2.dims == (4096, spec.hidden, 4 * spec.hidden / 8, 1.0)
    b, w = models.layer_backward(spec, Shape(micro_batch=2, seq_len=2048, tp=8))
    assert next(i for i in b if i.name == "fc2_dgrad").dims == (4096, 1024.0, 2048, 1.0)
    assert next(i for i in w if i.name == "fc2_wgrad").dims == (1024.0, 2048, 4096, 1.0)


def test_small_model_computes_slower_split_eight_ways():
    # gpt3-1.3b on 8 A100: TP8 cuts every GEMM's N or K to 1/8 (e.g. the
    # attention projection's K = 256), so the same FLOPs take longer than at TP1
    def compute_s(tp):
        scn = parse_scenario({"model": "gpt3-1.3b", "cluster": {"gpu": "a100-80gb", "gpus": 8},
                        "parallelism": {"tp": tp, "dp": 8 // tp},
                        "training": {"global_batch": 64, "micro_batch": 8 // (8 // tp)}}, "t")
        return run_scenario(scn).result["breakdown"]["compute_s"]
    assert compute_s(8) > 1.05 * compute_s(1)


def test_shape_efficiency_only_touches_gemms():
    m = compute_model_for("a100-80gb")
    assert m.shape_efficiency("attention", (64, 64, 64)) == 1.0
    assert m.shape_efficiency("gemm", (64, 64, 64)) < 0.05
