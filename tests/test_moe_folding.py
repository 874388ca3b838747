"""MoE parallel folding (expert TP/EP/DP apart from attention) and capacity factor."""
import pytest

from workloads import models
from workloads.errors import InputError
from workloads.generate import Layout, Training, generate
from workloads.generate.ranks import RankGrid
from workloads.models import Shape

TR = Training(global_batch=16, micro_batch=1, seq_len=4096)


def _expert_flops(trace):
    return sum(len(p.ranks) * sum(o.flops for o in p.ops
                                  if o.kind == "compute" and "expert_fc" in o.id)
               for p in trace.programs)


def test_folding_moves_experts_not_flops():
    spec = models.get_model("mixtral-8x7b")
    plain = generate(spec, Layout(tp=2, dp=8, ep=8, sequence_parallel=True), TR)
    for etp in (1, 2):
        folded = generate(spec, Layout(tp=2, dp=8, ep=8 // etp,
                                       etp=etp, sequence_parallel=True), TR)
        assert _expert_flops(folded) == pytest.approx(_expert_flops(plain))


def test_fold_groups_span_tensor_parallel_ranks():
    # 16 ranks of one stage, tp 2 x dp 8; experts: etp 1, ep 8, edp 2 (DeepSeek-V3's
    # way of running EP across the TP ranks)
    g = RankGrid({"tp": 2, "cp": 1, "dp": 8, "pp": 1}, ("tp", "cp", "dp", "pp")).groups(8, 1)
    assert g["ep"] == [list(range(0, 8)), list(range(8, 16))]
    assert g["edp"] == [[i, i + 8] for i in range(8)]
    assert g["etp"] == [[i] for i in range(16)]
    g2 = RankGrid({"tp": 4, "cp": 1, "dp": 2, "pp": 1}, ("tp", "cp", "dp", "pp")).groups(2, 2)
    assert g2["etp"] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert g2["ep"] == [[0, 2], [1, 3], [4, 6], [5, 7]]
    assert g2["edp"] == [[0, 4], [1, 5], [2, 6], [3, 7]]


def test_folded_layer_items_closed_form():
    spec = models.get_model("mixtral-8x7b")
    tp, etp, ep, b, s = 4, 2, 4, 1, 4096
    shape = Shape(b, s, tp=tp, ep=ep, etp=etp, sequence_parallel=True)
    items = {i.name: i for i in models.layer_forward(spec, shape)}
    own, h, d, k = b * s / tp, spec.hidden, 2, spec.moe.top_k
    assert items["etp_ag"].bytes == own * etp * h * d and items["etp_ag"].group == "etp"
    assert items["ep_dispatch"].bytes == own * etp * k * h * d
    f = spec.moe.expert_ffn_hidden
    # SwiGLU FC1: (gate, up) of width f / etp each, on own * etp * top_k rows
    assert items["expert_fc1"].flops == pytest.approx(2 * own * etp * k * h * 2 * f / etp)
    assert "sp_ag2" not in items                # attention's TP all-gather is not used


def test_folded_expert_memory():
    spec = models.get_model("mixtral-8x7b")
    shape = Shape(1, 4096, tp=2, ep=8, etp=1, sequence_parallel=True)
    mem = models.memory_bytes(spec, shape, 1, [0], 8, 1, 1)
    per_expert = models.layer_params_split(spec, 0)[1] / spec.moe.experts
    dense = models.layer_params_on_rank(spec, 8, tp=2, layer=0)[0]
    expert = spec.moe.experts / 8 * per_expert           # etp 1: whole experts
    assert mem["params_on_rank"] == pytest.approx(
        dense + expert + models.embedding_params(spec) / 2 + models.head_params(spec) / 2)
    # ZeRO 1: expert optimizer state sharded over edp = 2 * 8 / (8 * 1) = 2
    with pytest.raises(InputError, match="ep \\* etp"):
        models.memory_bytes(spec, Shape(1, 4096, tp=2, ep=8, etp=4, sequence_parallel=True),
                            1, [0], 2, 1, 1)


def test_folding_needs_sequence_parallelism_with_tp():
    spec = models.get_model("mixtral-8x7b")
    with pytest.raises(InputError, match="parallelism.sequence_parallel"):
        models.layer_forward(spec, Shape(1, 4096, tp=2, ep=8, etp=1))
    with pytest.raises(InputError, match="parallelism.etp"):
        Layout(tp=2, dp=4, ep=8, etp=2)


def test_capacity_factor_drops_tokens_of_the_busiest_expert():
    spec = models.get_model({"preset": "mixtral-8x7b",
                             "moe": {"experts": 8, "top_k": 2, "imbalance": 1.5,
                                     "capacity_factor": 1.25}})
    assert spec.moe.load == 1.25
    shape = Shape(1, 4096, ep=8)
    a2a = next(i for i in models.layer_forward(spec, shape) if i.name == "ep_dispatch")
    assert a2a.bytes == 4096 * 2 * spec.hidden * 2 * 1.25
    with pytest.raises(InputError, match="capacity_factor"):
        models.get_model({"preset": "mixtral-8x7b",
                          "moe": {"experts": 8, "top_k": 2, "capacity_factor": 0}})
