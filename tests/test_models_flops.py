"""FLOPs per token against Narayanan et al. (SC'21) and against the per-op items."""
import pytest

from workloads.errors import InputError
from workloads.models import (ComputeItem, Shape, attention_flops_per_token,
                              embedding_forward, forward_flops_per_token, get_model,
                              hardware_flops_per_token, head_forward, layer_forward,
                              layer_recompute, model_flops_per_token, param_count)


def _gemm_attn_flops(items):
    return sum(i.flops for i in items
               if isinstance(i, ComputeItem) and i.category in ("gemm", "attention"))


def test_gpt3_175b_within_1pct_of_6n_plus_attention():
    s = get_model("gpt3-175b")
    l, h, seq = s.layers, s.hidden, s.seq_len
    assert model_flops_per_token(s) == pytest.approx(6 * param_count(s) + 12 * l * h * seq,
                                                     rel=0.01)


@pytest.mark.parametrize("name", ["gpt3-175b", "gpt-530b", "gpt-22b", "gpt-1.7b"])
def test_gpt_model_flops_equal_narayanan_without_recompute(name):
    # 72 B s l h^2 (1 + s/(6h)) + 6 B s h V per iteration, divided by B s tokens
    s = get_model(name)
    l, h, seq, V = s.layers, s.hidden, s.seq_len, s.vocab
    expected = 72 * l * h * h * (1 + seq / (6 * h)) + 6 * h * V
    assert model_flops_per_token(s) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["gpt3-175b", "gpt-145b", "gpt-39b"])
def test_gpt_full_recompute_equals_narayanan_96_formula(name):
    s = get_model(name)
    l, h, seq, V = s.layers, s.hidden, s.seq_len, s.vocab
    per_token = 96 * l * h * h * (1 + seq / (6 * h) + V / (16 * l * h))
    assert hardware_flops_per_token(s, recompute="full") == pytest.approx(per_token, rel=1e-12)


def test_causal_fraction_scales_only_the_attention_term():
    s = get_model("llama3-8b")
    full = model_flops_per_token(s, 8192)
    half = model_flops_per_token(s, 8192, causal_attention_flop_fraction=0.5)
    assert full - half == pytest.approx(1.5 * attention_flops_per_token(s, 8192))
    with pytest.raises(InputError, match="causal_attention_flop_fraction"):
        model_flops_per_token(s, 8192, causal_attention_flop_fraction=0.0)


@pytest.mark.parametrize("name", ["gpt3-175b", "llama3-8b", "mixtral-8x7b", "deepseek-v3"])
def test_items_sum_to_the_closed_form_forward(name):
    s = get_model(name)
    seq = 512
    shape = Shape(micro_batch=2, seq_len=seq)
    total = sum(_gemm_attn_flops(layer_forward(s, shape, layer=i)) for i in range(s.layers))
    total += _gemm_attn_flops(embedding_forward(s, shape) + head_forward(s, shape))
    # causal FlashAttention: (n + 1) / (2 n) of the square, n = 512 / 128 blocks
    closed = forward_flops_per_token(s, seq, causal_attention_flop_fraction=5 / 8)
    assert total / (2 * seq) == pytest.approx(closed, rel=1e-12)


@pytest.mark.parametrize("name", ["gpt-22b", "mixtral-8x7b"])
def test_full_recompute_adds_exactly_one_layer_forward(name):
    s = get_model(name)
    shape = Shape(micro_batch=1, seq_len=s.seq_len, recompute="full")
    re = sum(_gemm_attn_flops(layer_recompute(s, shape, layer=i,
                                              causal_attention_flop_fraction=1.0))
             for i in range(s.layers))
    extra = hardware_flops_per_token(s, recompute="full") - model_flops_per_token(s)
    assert re / s.seq_len == pytest.approx(extra, rel=1e-12)
    assert layer_recompute(s, shape) == layer_forward(s, shape)


def test_selective_recompute_adds_the_attention_core():
    s = get_model("gpt3-175b")
    shape = Shape(micro_batch=1, seq_len=2048, tp=8, recompute="selective")
    items = layer_recompute(s, shape, causal_attention_flop_fraction=1.0)
    assert [i.name for i in items] == ["attn"]
    extra = hardware_flops_per_token(s, recompute="selective") - model_flops_per_token(s)
    assert 8 * s.layers * items[0].flops / 2048 == pytest.approx(extra, rel=1e-12)
    assert layer_recompute(s, Shape(1, 2048)) == []


def test_bad_recompute_name_is_an_input_error():
    with pytest.raises(InputError, match="parallelism.recompute"):
        hardware_flops_per_token(get_model("gpt-22b"), recompute="some")
