"""Unfused attention (scores in HBM) versus FlashAttention-style items."""
from workloads import models
from workloads.models import Shape


def _items(flash, recompute="none"):
    spec = models.get_model("gpt-22b")
    shape = Shape(micro_batch=2, seq_len=2048, tp=8, flash_attention=flash, recompute=recompute)
    return spec, shape


def test_unfused_attention_adds_score_traffic_not_flops():
    spec, fused = _items(True)
    _, unfused = _items(False)
    f = {i.name: i for i in models.layer_forward(spec, fused, causal_attention_flop_fraction=1.0)
         if hasattr(i, "flops")}
    u = {i.name: i for i in models.layer_forward(spec, unfused) if hasattr(i, "flops")}
    scores = 2 * (spec.heads / 8) * 2048 * 2048          # b * a/tp * s * s elements
    assert "softmax" in u and "softmax" not in f
    assert u["attn"].flops == f["attn"].flops
    assert u["attn"].bytes - f["attn"].bytes == 2 * scores * 2
    assert u["softmax"].bytes == 4 * scores * 2 + scores


def test_selective_recompute_reruns_the_softmax_when_unfused():
    spec, shape = _items(False, "selective")
    names = [i.name for i in models.layer_recompute(spec, shape)]
    assert names == ["attn", "softmax"]
