"""The generator's collectives and byte counts, on the hand-made cost model of
``test_generate`` (tensor/context/expert/data parallelism, ZeRO stages,
pipeline activations, recomputation, zero-bubble weight gradients)."""
from __future__ import annotations

from collections import Counter

import pytest

from test_generate import H, ToyCosts, blocks_of, gen, ops_like


def test_tp_collectives_per_layer():
    t = gen(tp=2, pp=1, dp=1)
    p = t.programs[0]
    for layer in ("L0", "L3"):
        f = [o.kind for o in ops_like(p, f"F.mb0.c0.{layer}.") if o.group == "tp"]
        b = [o.kind for o in ops_like(p, f"B.mb0.c0.{layer}.") if o.group == "tp"]
        assert f == ["all_reduce"] * 2 and b == ["all_reduce"] * 2
    t = gen(tp=2, pp=1, dp=1, sequence_parallel=True)
    f = Counter(o.kind for o in ops_like(t.programs[0], "F.mb0.c0.L0.") if o.group == "tp")
    assert f == {"all_gather": 2, "reduce_scatter": 2}
    # tp = 1: no tensor-parallel collectives at all
    t = gen(tp=1, pp=1, dp=1)
    assert not any(o.group == "tp" for o in t.programs[0].ops)


def test_tp_collective_blocks_next_compute():
    p = gen(tp=2, pp=1, dp=1).programs[0]
    by = {o.id: o for o in p.ops}
    assert by["F.mb0.c0.L0.ln2"].deps == ("F.mb0.c0.L0.tp_ar1",)
    assert by["F.mb0.c0.L0.tp_ar1"].deps == ("F.mb0.c0.L0.proj",)
    assert by["F.mb0.c0.L0.tp_ar1"].stream == "compute"   # blocking, as in Megatron-LM


@pytest.mark.parametrize("cp", [2, 4])
def test_context_parallel_ring(cp):
    t = gen(tp=1, pp=1, dp=2, cp=cp)
    p = t.programs[0]
    ring = ops_like(p, "F.mb0.c0.L0.cp_kv")
    assert Counter(o.kind for o in ring) == {"send": cp - 1, "recv": cp - 1}
    assert {o.stream for o in ring} == {"cp_send", "cp_recv"}
    assert {(o.peer.group, o.peer.offset) for o in ring} == {("cp", 1), ("cp", -1)}
    by = {o.id: o for o in p.ops}
    # the ring starts with attention (same deps) and the next op waits for it
    assert by["F.mb0.c0.L0.cp_kv1.send"].deps == by["F.mb0.c0.L0.attn"].deps
    assert f"F.mb0.c0.L0.cp_kv{cp - 1}.recv" in by["F.mb0.c0.L0.proj"].deps
    # each step forwards the block received in the previous step
    if cp > 2:
        assert "F.mb0.c0.L0.cp_kv1.recv" in by["F.mb0.c0.L0.cp_kv2.send"].deps
    # dense gradients are reduced over dp x cp
    assert {o.group for o in p.ops if o.kind == "all_reduce"} == {"dpcp"}


def _stage_params(costs, t, s, tp=1, ep=1):
    layers = {o.layer for o in t.programs[s].ops if o.layer and o.layer.startswith("L")}
    dense = sum(costs.layer_params(int(l[1:]), tp, ep)[0] for l in layers)
    expert = sum(costs.layer_params(int(l[1:]), tp, ep)[1] for l in layers)
    names = {o.layer for o in t.programs[s].ops}
    if "embedding" in names:
        dense += costs.embedding_params(tp)
    if "head" in names:
        dense += costs.head_params(tp, len(t.programs) > 1)
    return dense, expert


@pytest.mark.parametrize("bucket", [26214400, 5000.0, 1.0])
@pytest.mark.parametrize("grad_bytes", [None, 4])
def test_dp_allreduce_bytes_equal_stage_params(bucket, grad_bytes):
    costs = ToyCosts(layers=6)
    t = gen(costs=costs, tp=2, pp=2, dp=2, gradient_bucket_bytes=bucket,
            grad_dtype_bytes=grad_bytes)
    gb = grad_bytes or 2
    for s, prog in enumerate(t.programs):
        ar = [o for o in prog.ops if o.kind == "all_reduce" and o.group == "dp"]
        dense, _ = _stage_params(costs, t, s, tp=2)
        assert sum(o.bytes for o in ar) == pytest.approx(dense * gb)
        assert all(o.stream == "dp" and o.layer == "grad_sync" for o in ar)
        if bucket == 1.0:   # one bucket per block
            assert len(ar) == len(blocks_of(prog))
        if bucket == 26214400:
            assert len(ar) == 1
        # buckets are issued during the last backward, before the optimizer
        idx = {o.id: i for i, o in enumerate(prog.ops)}
        last_b = max(i for i, o in enumerate(prog.ops) if o.id.startswith("B."))
        opt = next(o for o in prog.ops if o.id.startswith("opt."))
        dp_stream = [o for o in prog.ops if o.stream == "dp"]
        assert dp_stream[-1].id in opt.deps           # after every reduction
        assert set(o.id for o in ar) <= {o.id for o in dp_stream}
        if bucket == 1.0:
            assert idx[ar[0].id] < last_b          # overlapped with the backward


def test_tied_embedding_all_reduce_first_and_last_stage():
    t = gen(tp=2, pp=3, dp=2, costs=ToyCosts(layers=6), grad_dtype_bytes=4)
    assert t.groups["embd"][0] == [0, 8]          # stage 0 and stage 2 of one pipeline
    for s, prog in enumerate(t.programs):
        ar = [o for o in prog.ops if o.group == "embd"]
        if s == 1:
            assert not ar
        else:
            assert [o.bytes for o in ar] == [1000 * H / 2 * 4]
            opt = next(o for o in prog.ops if o.layer == "optimizer")
            assert opt.deps[-1] == ar[0].id
    assert not any(o.group == "embd" for o in gen(tp=2, pp=1, dp=2).programs[0].ops)


def test_grad_reduce_without_overlap_waits_for_backward():
    t = gen(tp=1, pp=2, dp=2, overlap_grad_reduce=False, gradient_bucket_bytes=1.0)
    for prog in t.programs:
        last_b = max(i for i, o in enumerate(prog.ops) if o.id.startswith("B."))
        first_ar = min(i for i, o in enumerate(prog.ops) if o.kind == "all_reduce")
        assert first_ar > last_b


@pytest.mark.parametrize("zero", [1, 2])
def test_zero12_reduce_scatter_then_all_gather(zero):
    costs = ToyCosts()
    t = gen(costs=costs, tp=1, pp=2, dp=4, zero=zero, global_batch=16,
            gradient_bucket_bytes=3000.0)
    for s, prog in enumerate(t.programs):
        dense, _ = _stage_params(costs, t, s)
        rs = [o for o in prog.ops if o.kind == "reduce_scatter"]
        ag = [o for o in prog.ops if o.kind == "all_gather"]
        assert not any(o.kind == "all_reduce" and o.group == "dp" for o in prog.ops)
        # ZeRO 1 accumulates whole gradients and reduces them once; ZeRO 2 keeps
        # only a shard, so each of the 16 / 4 = 4 micro-batches is reduced
        per_step = 1 if zero == 1 else t.meta["microbatches"]
        assert sum(o.bytes for o in rs) == pytest.approx(per_step * dense * 2)
        assert sum(o.bytes for o in ag) == pytest.approx(dense * 2)
        opt = [o for o in prog.ops if o.layer == "optimizer"]
        assert all(set(o.deps) == {opt[-1].id} for o in ag)
        # the optimizer updates only this rank's 1/dp shard
        assert opt[0].flops == pytest.approx(10 * dense / 4)


def test_zero3_per_layer_gathers():
    costs = ToyCosts()
    t = gen(costs=costs, tp=1, pp=2, dp=2, zero=3)
    m = t.meta["microbatches"]
    for prog in t.programs:
        blocks = blocks_of(prog)
        ag = [o for o in prog.ops if o.kind == "all_gather"]
        rs = [o for o in prog.ops if o.kind == "reduce_scatter"]
        assert len(ag) == 2 * m * len(blocks)       # before each forward and backward
        assert len(rs) == m * len(blocks)           # after each backward
        assert not any(o.kind == "all_reduce" and o.group == "dp" for o in prog.ops)
        by = {o.id: o for o in prog.ops}
        # each layer's first compute waits for its gather
        for b in blocks - {"embedding", "head"}:
            assert f"F.mb1.c0.{b}.ag" in by[f"F.mb1.c0.{b}.ln1"].deps
            assert f"B.mb1.c0.{b}.ag" in by[f"B.mb1.c0.{b}.mlp_dgrad"].deps
        for b in blocks:
            got = sum(o.bytes for o in ag if o.layer == b)
            dense = (costs.layer_params(int(b[1:]), 1, 1)[0] if b.startswith("L") else
                     costs.embedding_params(1) if b == "embedding" else
                     costs.head_params(1, True))
            assert got == pytest.approx(2 * m * dense * 2)


def test_zero3_prefetch_dependency():
    t = gen(tp=1, pp=1, dp=2, zero=3)
    by = {o.id: o for o in t.programs[0].ops}
    # gather of L1 may start once the embedding (two blocks earlier) finished
    assert by["F.mb0.c0.L1.ag"].deps == ("F.mb0.c0.embedding.lookup",)
    assert "F.mb0.c0.L1.ag" in by["F.mb0.c0.L1.ln1"].deps


def test_moe_expert_grads_on_edp():
    costs = ToyCosts(experts=4)
    t = gen(costs=costs, tp=1, pp=1, dp=4, ep=2, global_batch=8)
    p = t.programs[0]
    dense, expert = _stage_params(costs, t, 0, ep=2)
    assert expert > 0
    edp = [o for o in p.ops if o.group == "edp"]
    dp = [o for o in p.ops if o.group == "dp" and o.kind == "all_reduce"]
    assert sum(o.bytes for o in edp) == pytest.approx(expert * 2)
    assert sum(o.bytes for o in dp) == pytest.approx(dense * 2)
    a2a = ops_like(p, "F.mb0.c0.L1.", kind="all_to_all")
    assert [o.group for o in a2a] == ["ep", "ep"] and {o.stream for o in a2a} == {"compute"}
    assert not ops_like(p, "F.mb0.c0.L0.", kind="all_to_all")   # dense layer


@pytest.mark.parametrize("sp,cp", [(False, 1), (True, 1), (False, 2), (True, 2)])
def test_pipeline_activation_bytes(sp, cp):
    t = gen(tp=2, pp=2, dp=1, cp=cp, sequence_parallel=sp, micro_batch=2, global_batch=8,
            seq_len=32)
    # each of the tp=2 ranks sends half: a sequence shard under SP, else a
    # scatter/gather slice of the replicated activation (Megatron-LM SC'21 4.1)
    want = 2 * (32 / cp) * H * 2 / 2
    p2p = [o for p in t.programs for o in p.ops if o.kind in ("send", "recv")
           and o.peer.group == "pp"]
    assert p2p and {o.bytes for o in p2p} == {want}
    assert {o.stream for o in p2p} == {"pp_send", "pp_recv"}


@pytest.mark.parametrize("recompute,expect", [("none", 0), ("selective", 1), ("full", 9)])
def test_recompute_ops_before_backward(recompute, expect):
    t = gen(tp=2, pp=1, dp=1, recompute=recompute)
    p = t.programs[0]
    rec = ops_like(p, "B.mb0.c0.L2.r.")
    assert len(rec) == expect
    if expect:
        ids = [o.id for o in p.ops]
        first_bwd = ids.index("B.mb0.c0.L2.mlp_dgrad")
        assert all(ids.index(o.id) < first_bwd for o in rec)


def test_zero_bubble_splits_weight_grad():
    t = gen(tp=1, pp=2, dp=2, schedule="zero-bubble")
    p = t.programs[1]                      # layers L2, L3 and the head
    assert ops_like(p, "W.mb0.c0.L3.mlp_wgrad")
    assert not ops_like(p, "B.mb0.c0.L3.w.")
    by = {o.id: o for o in p.ops}
    # W waits for its own B (whose output also feeds the send to stage 0)
    assert by["W.mb0.c0.L3.mlp_wgrad"].deps == by["B.mb0.c0.send"].deps
    # the gradient reduction follows the last W
    ids = [o.id for o in p.ops]
    last_w = max(i for i, x in enumerate(ids) if x.startswith("W."))
    ar = [i for i, o in enumerate(p.ops) if o.kind == "all_reduce"]
    assert ar and max(ar) > last_w
    assert set(by[ids[ar[-1]]].deps) == {ids[last_w]}
