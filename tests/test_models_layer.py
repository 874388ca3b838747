"""Per-layer items: conservation under TP/CP/EP splitting, backward structure, comms."""
import pytest

from workloads.errors import InputError
from workloads.models import (CommItem, ComputeItem, Shape, embedding_backward,
                              embedding_forward, get_model, head_backward, head_forward,
                              layer_backward, layer_forward, optimizer_items)


def flops(items, categories=("gemm", "attention")):
    return sum(i.flops for i in items if isinstance(i, ComputeItem) and i.category in categories)


def comms(items):
    return [i for i in items if isinstance(i, CommItem)]


@pytest.mark.parametrize("name", ["gpt3-175b", "llama3-70b"])
@pytest.mark.parametrize("sp", [False, True])
def test_tensor_parallel_conserves_flops(name, sp):
    s = get_model(name)
    whole = layer_forward(s, Shape(2, 1024))
    tp = 8
    part = layer_forward(s, Shape(2, 1024, tp=tp, sequence_parallel=sp))
    assert tp * flops(part) == pytest.approx(flops(whole), rel=1e-12)
    b, w = layer_backward(s, Shape(2, 1024, tp=tp, sequence_parallel=sp))
    b1, w1 = layer_backward(s, Shape(2, 1024))
    assert tp * (flops(b) + flops(w)) == pytest.approx(flops(b1) + flops(w1), rel=1e-12)


def test_tensor_parallel_replicates_only_the_mla_down_projections():
    s = get_model("deepseek-v3")
    whole = layer_forward(s, Shape(1, 1024), layer=0)          # dense layer
    part = layer_forward(s, Shape(1, 1024, tp=8), layer=0)
    replicated = sum(i.flops for i in whole if i.name in ("q_down", "kv_down"))
    assert 8 * flops(part) == pytest.approx(flops(whole) + 7 * replicated, rel=1e-12)


def test_sequence_parallel_shards_norms_and_residuals():
    s = get_model("gpt-22b")
    plain = {i.name: i for i in layer_forward(s, Shape(4, 2048, tp=8))}
    sp = {i.name: i for i in layer_forward(s, Shape(4, 2048, tp=8, sequence_parallel=True))}
    for name in ("ln1", "ln2", "resid1", "resid2"):
        assert sp[name].flops == pytest.approx(plain[name].flops / 8)


@pytest.mark.parametrize("name", ["gpt3-175b", "llama3-8b", "mixtral-8x7b", "deepseek-v3"])
def test_backward_is_twice_forward_and_b_w_split_conserves(name):
    s = get_model(name)
    shape = Shape(1, 1024, tp=2, sequence_parallel=True)
    fwd = layer_forward(s, shape)
    b, w = layer_backward(s, shape)
    gemms = [i for i in fwd if isinstance(i, ComputeItem) and i.category == "gemm"]
    dgrad = {i.name: i.flops for i in b if i.name.endswith("_dgrad")}
    wgrad = {i.name: i.flops for i in w}
    assert all(i.name.endswith("_wgrad") for i in w)
    assert not any(i.name.endswith("_wgrad") for i in b)
    for g in gemms:
        assert dgrad[g.name + "_dgrad"] == g.flops
        assert wgrad[g.name + "_wgrad"] == g.flops
    assert flops(b, ("gemm",)) + flops(w, ("gemm",)) == pytest.approx(2 * flops(fwd, ("gemm",)))
    attn = next(i for i in fwd if i.name == "attn")
    assert next(i for i in b if i.name == "attn_b").flops == 2 * attn.flops


def test_names_are_unique_per_list():
    s = get_model("deepseek-v3")
    shape = Shape(1, 4096, tp=2, cp=2, ep=8, sequence_parallel=True)
    fwd = layer_forward(s, shape)
    b, w = layer_backward(s, shape)
    for items in (fwd, b + w):
        names = [i.name for i in items]
        assert len(names) == len(set(names))


def test_tensor_parallel_all_reduces():
    s = get_model("gpt3-175b")
    b_, seq, d = 2, 2048, 2
    act = b_ * seq * s.hidden * d
    fwd = layer_forward(s, Shape(b_, seq, tp=8))
    bwd, _ = layer_backward(s, Shape(b_, seq, tp=8))
    assert [(c.name, c.kind, c.group, c.bytes) for c in comms(fwd)] == [
        ("tp_ar1", "all_reduce", "tp", act), ("tp_ar2", "all_reduce", "tp", act)]
    assert [(c.name, c.kind, c.bytes) for c in comms(bwd)] == [
        ("tp_ar2_b", "all_reduce", act), ("tp_ar1_b", "all_reduce", act)]
    assert comms(layer_forward(s, Shape(b_, seq))) == []


def test_sequence_parallel_replaces_each_all_reduce():
    s = get_model("gpt3-175b")
    act = 2048 * s.hidden * 2
    fwd = layer_forward(s, Shape(1, 2048, tp=8, sequence_parallel=True))
    assert [(c.name, c.kind, c.bytes) for c in comms(fwd)] == [
        ("sp_ag1", "all_gather", act), ("sp_rs1", "reduce_scatter", act),
        ("sp_ag2", "all_gather", act), ("sp_rs2", "reduce_scatter", act)]
    bwd, _ = layer_backward(s, Shape(1, 2048, tp=8, sequence_parallel=True))
    kinds = [c.kind for c in comms(bwd)]
    assert kinds.count("all_reduce") == 0
    assert kinds.count("reduce_scatter") == 2
    assert kinds.count("all_gather") == 4            # 2 backward of sp_rs + 2 re-gathers
    regather = [c for c in comms(bwd) if c.name.endswith("_w")]
    assert {c.overlap_with for c in regather} == {"fc1_dgrad", "qkv_dgrad"}


def test_context_parallel_ring_and_attention_share():
    s = get_model("llama3-70b")
    b_, seq, tp, cp, d = 1, 8192, 8, 4, 2
    whole = layer_forward(s, Shape(b_, seq, tp=tp))
    part = layer_forward(s, Shape(b_, seq, tp=tp, cp=cp))
    attn = lambda items: next(i for i in items if i.name == "attn").flops
    assert attn(part) == pytest.approx(attn(whole) / cp)
    assert flops(part) == pytest.approx(flops(whole) / cp)
    ring = [c for c in comms(part) if c.group == "cp"]
    chunk = 2 * b_ * (seq / cp) * s.kv_heads * s.head_dim / tp * d
    assert [(c.kind, c.bytes, c.overlap_with) for c in ring] == \
        [("sendrecv_ring", chunk, "attn")] * (cp - 1)
    bwd, _ = layer_backward(s, Shape(b_, seq, tp=tp, cp=cp))
    ring_b = [c for c in comms(bwd) if c.group == "cp"]
    assert len(ring_b) == cp - 1 and all(c.overlap_with == "attn_b" for c in ring_b)


def test_attention_full_square_closed_form():
    s = get_model("gpt3-175b")
    b_, seq = 2, 2048
    full = layer_forward(s, Shape(b_, seq), causal_attention_flop_fraction=1.0)
    attn = next(i for i in full if i.name == "attn")
    assert attn.flops == 4 * b_ * seq * seq * s.hidden
    half = layer_forward(s, Shape(b_, seq), causal_attention_flop_fraction=0.5)
    assert next(i for i in half if i.name == "attn").flops == 2 * b_ * seq * seq * s.hidden
    # FlashAttention bytes grow linearly with the sequence, not quadratically
    attn2 = next(i for i in layer_forward(s, Shape(b_, 2 * seq), causal_attention_flop_fraction=1.0)
                 if i.name == "attn")
    assert attn2.bytes == pytest.approx(2 * attn.bytes)


def test_expert_parallel_moves_tokens_not_flops():
    s = get_model("mixtral-8x7b")
    T, h, k, d = 4096, s.hidden, 2, 2
    one = {i.name: i for i in layer_forward(s, Shape(1, T))}
    four = {i.name: i for i in layer_forward(s, Shape(1, T, ep=4))}
    assert "ep_dispatch" not in one
    for name in ("expert_fc1", "expert_fc2"):
        assert four[name].flops == one[name].flops
        assert four[name].bytes < one[name].bytes           # fewer local expert weights
    assert one["expert_fc1"].flops == 2 * T * k * h * 2 * s.moe.expert_ffn_hidden
    for name in ("ep_dispatch", "ep_combine"):
        c = four[name]
        assert (c.kind, c.group, c.bytes) == ("all_to_all", "ep", T * k * h * d)


def test_imbalance_scales_the_busiest_rank():
    base = get_model("mixtral-8x7b")
    skew = get_model({"preset": "mixtral-8x7b",
                      "moe": {"experts": 8, "top_k": 2, "imbalance": 1.25}})
    a = {i.name: i for i in layer_forward(base, Shape(1, 1024, ep=8))}
    b = {i.name: i for i in layer_forward(skew, Shape(1, 1024, ep=8))}
    assert b["expert_fc1"].flops == pytest.approx(1.25 * a["expert_fc1"].flops)
    assert b["ep_dispatch"].bytes == pytest.approx(1.25 * a["ep_dispatch"].bytes)


def test_deepseek_shared_expert_and_dense_layers():
    s = get_model("deepseek-v3")
    moe = [i.name for i in layer_forward(s, Shape(1, 4096), layer=3)]
    dense = [i.name for i in layer_forward(s, Shape(1, 4096), layer=0)]
    assert "shared_fc1" in moe and "router" in moe and "fc1" not in moe
    assert "fc1" in dense and "router" not in dense


def test_head_and_embedding():
    s = get_model("gpt3-175b")
    shape = Shape(1, 2048, tp=8, sequence_parallel=True)
    head = {i.name: i for i in head_forward(s, shape)}
    assert head["logits"].flops == 2 * 2048 * s.hidden * s.vocab / 8
    assert head["loss_ar"].kind == "all_reduce"
    hb = {i.name: i for i in head_backward(s, shape)}
    assert hb["logits_dgrad"].flops + hb["logits_wgrad"].flops == 2 * head["logits"].flops
    emb = embedding_forward(s, shape)
    assert [c.kind for c in comms(emb)] == ["reduce_scatter"]
    assert [c.kind for c in comms(embedding_backward(s, shape))] == ["all_gather"]
    assert comms(embedding_forward(s, Shape(1, 2048))) == []


def test_adam_step_bytes():
    (item,) = optimizer_items(get_model("gpt-22b"), 1e9)
    assert item.category == "optimizer" and item.bytes == 28e9
    with pytest.raises(InputError, match="params_on_rank"):
        optimizer_items(get_model("gpt-22b"), -1)


@pytest.mark.parametrize("shape,field", [
    (Shape(1, 2048, tp=3), "parallelism.tp"),
    (Shape(1, 2048, tp=16), "parallelism.tp"),      # 8 KV heads
    (Shape(1, 2048, cp=3), "parallelism.cp"),
    (Shape(1, 2048, ep=2), "parallelism.ep"),       # dense model
    (Shape(0, 2048), "training.micro_batch"),
    (Shape(1, 2048, recompute="most"), "parallelism.recompute"),
    (Shape(1, 2048, dtype_bytes=3), "training.dtype"),
])
def test_bad_shapes_name_the_field(shape, field):
    with pytest.raises(InputError) as e:
        layer_forward(get_model("llama3-8b"), shape)
    assert e.value.field == field


def test_causal_flash_attention_skips_blocks_above_the_diagonal():
    # FlashAttention-2 computes the n (n + 1) / 2 lower-triangle blocks of an
    # n x n block grid (n = s / 128); unfused kernels compute the full square
    s = get_model("gpt3-175b")
    b_, seq = 1, 4096
    n = seq // 128
    flash = next(i for i in layer_forward(s, Shape(b_, seq)) if i.name == "attn")
    assert flash.flops == pytest.approx(4 * b_ * seq * seq * s.hidden * (n * (n + 1) / 2) / n**2)
    unfused = next(i for i in layer_forward(s, Shape(b_, seq, flash_attention=False))
                   if i.name == "attn")
    assert unfused.flops == 4 * b_ * seq * seq * s.hidden


def test_token_dispatcher_moves_each_routed_copy():
    # Megatron-Core's all-to-all dispatcher: permute (gather into expert order),
    # sort_chunks / unsort_chunks around the exchange when a rank holds more
    # than one expert, unpermute (expert_sum) after the combine
    s = get_model("mixtral-8x7b")
    T, h, k, d = 4096, s.hidden, s.moe.top_k, 2
    one = {i.name: i for i in layer_forward(s, Shape(1, T))}
    four = {i.name: i for i in layer_forward(s, Shape(1, T, ep=4))}
    eight = {i.name: i for i in layer_forward(s, Shape(1, T, ep=8))}
    for items in (one, four, eight):
        assert items["permute"].bytes == 2 * T * k * h * d
    assert "sort_chunks" not in one               # no exchange
    assert "sort_chunks" not in eight             # one expert per rank: already in order
    for name in ("sort_chunks", "unsort_chunks"):
        assert four[name].bytes == 2 * T * k * h * d
    order = list(four)
    assert order.index("permute") < order.index("ep_dispatch") < order.index("sort_chunks") \
        < order.index("expert_fc1") < order.index("unsort_chunks") < order.index("ep_combine")
    b, _ = layer_backward(s, Shape(1, T, ep=4))
    perm_b = next(i for i in b if i.name == "permute_b")
    assert perm_b.bytes == (T * k * h + T * h) * d   # scatter-add back into the tokens
