"""The training-trace generator, on a small hand-made cost model.

``ToyCosts`` mimics a Megatron transformer layer (Shoeybi et al. 2019:
two tensor-parallel all-reduces in the forward, two in the backward; with
sequence parallelism each becomes an all-gather + reduce-scatter pair,
Korthikanti et al. 2022), ring-attention KV exchange under context
parallelism and an all-to-all dispatch/combine for MoE layers. Its numbers are
simple closed forms so the tests can check the generator's bookkeeping
exactly without depending on the real model math.
"""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict

import pytest

from workloads.errors import InputError
from workloads.generate import Layout, Training, generate
from workloads.models.items import CommItem, ComputeItem
from workloads.trace import from_json, validate

H = 64  # toy hidden size


class ToyCosts:
    def __init__(self, layers=4, heads=8, hidden=H, experts=0, name="toy"):
        self.layers, self.heads, self.hidden, self.experts = layers, heads, hidden, experts
        self.name = name

    def _tokens(self, sh):
        return sh.micro_batch * sh.seq_len / sh.cp

    def _moe(self, layer):
        return self.experts > 0 and layer % 2 == 1

    def layer_forward(self, layer, sh):
        t, d = self._tokens(sh), sh.dtype_bytes
        act = t * self.hidden * d
        sp = sh.sequence_parallel
        g = lambda n, f: ComputeItem(n, f * t, act, "gemm")
        out = [ComputeItem("ln1", t, act, "norm")]
        if sp:
            out.append(CommItem("sp_ag1", "all_gather", "tp", act))
        out += [g("qkv", 3), ComputeItem("attn", 5 * t, act, "attention")]
        out += [CommItem(f"cp_kv{i}", "sendrecv_ring", "cp", act / 4, overlap_with="attn")
                for i in range(1, sh.cp)]
        out.append(g("proj", 1))
        out.append(CommItem("sp_rs1", "reduce_scatter", "tp", act) if sp
                   else CommItem("tp_ar1", "all_reduce", "tp", act))
        out.append(ComputeItem("ln2", t, act, "norm"))
        if sp:
            out.append(CommItem("sp_ag2", "all_gather", "tp", act))
        if self._moe(layer):
            out += [CommItem("ep_dispatch", "all_to_all", "ep", act), g("experts", 8),
                    CommItem("ep_combine", "all_to_all", "ep", act)]
        else:
            out += [g("fc1", 4), g("fc2", 4)]
        out.append(CommItem("sp_rs2", "reduce_scatter", "tp", act) if sp
                   else CommItem("tp_ar2", "all_reduce", "tp", act))
        return out

    def layer_backward(self, layer, sh):
        t, d = self._tokens(sh), sh.dtype_bytes
        act = t * self.hidden * d
        sp = sh.sequence_parallel
        tp1 = ("all_gather" if sp else "all_reduce")
        b = [ComputeItem("mlp_dgrad", 8 * t, act, "gemm"),
             CommItem("tp_b2", tp1, "tp", act),
             ComputeItem("ln2_b", t, act, "norm"),
             ComputeItem("attn_dgrad", 14 * t, act, "attention"),
             CommItem("tp_b1", tp1, "tp", act),
             ComputeItem("ln1_b", t, act, "norm")]
        if sp:
            b += [CommItem("sp_rs_b2", "reduce_scatter", "tp", act),
                  CommItem("sp_rs_b1", "reduce_scatter", "tp", act)]
        w = [ComputeItem("mlp_wgrad", 8 * t, act, "gemm"),
             ComputeItem("attn_wgrad", 4 * t, act, "gemm")]
        return b, w

    def layer_recompute(self, layer, sh):
        if sh.recompute == "full":
            return self.layer_forward(layer, sh)
        if sh.recompute == "selective":
            return [ComputeItem("attn", 5 * self._tokens(sh), 1.0, "attention")]
        return []

    def embedding_forward(self, sh):
        return [ComputeItem("lookup", 0.0, self._tokens(sh) * self.hidden * 2, "embedding")]

    def embedding_backward(self, sh):
        return [ComputeItem("lookup_b", 0.0, self._tokens(sh) * self.hidden * 2, "embedding")]

    def head_forward(self, sh):
        return [ComputeItem("logits", 100 * self._tokens(sh), 1e3, "gemm"),
                ComputeItem("loss", self._tokens(sh), 1e3, "loss")]

    def head_backward(self, sh):
        return [ComputeItem("logits_b", 200 * self._tokens(sh), 1e3, "gemm")]

    def optimizer_items(self, params_on_rank, dtype_bytes):
        return [ComputeItem("adam", 10 * params_on_rank, 16 * params_on_rank, "optimizer")]

    def layer_params(self, layer, tp, ep):
        dense = 4 * self.hidden ** 2 / tp + 2 * self.hidden
        expert = self.experts * 8 * self.hidden ** 2 / (ep * tp) if self._moe(layer) else 0.0
        if not self._moe(layer):
            dense += 8 * self.hidden ** 2 / tp
        return dense, expert

    def embedding_params(self, tp):
        return 1000 * self.hidden / tp

    def head_params(self, tp, separate_stage):
        return (1000 * self.hidden if separate_stage else 0.0) / tp + self.hidden

    def tied_output_params(self, tp):
        return 1000 * self.hidden / tp

    def model_flops_per_step(self, tokens, seq_len):
        return 123.0 * tokens


def gen(costs=None, placement_order="tp,cp,dp,pp", global_batch=8, micro_batch=1,
        seq_len=32, dtype_bytes=2, grad_dtype_bytes=None, **layout):
    costs = costs or ToyCosts()
    return generate(None, Layout(**layout),
                    Training(global_batch, micro_batch, seq_len, dtype_bytes, grad_dtype_bytes),
                    placement_order=placement_order, costs=costs)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def run_logically(trace):
    """Execute one representative rank per program with no timing: streams in
    order, deps respected, collectives and intra-program rings complete when
    reached, pipeline send/recv complete when both partners are posted.
    Returns True when every op finished; False on a deadlock."""
    reps = [prog.ranks[0] for prog in trace.programs]
    rep_of_prog = {i: r for i, r in enumerate(reps)}
    owner = trace.program_of_rank()
    streams = []
    for prog in trace.programs:
        q = defaultdict(list)
        for op in prog.ops:
            q[op.stream].append(op)
        streams.append({k: list(reversed(v)) for k, v in q.items()})
    done = [set() for _ in trace.programs]
    posted = {}
    total = sum(len(p.ops) for p in trace.programs)
    finished = 0
    progress = True
    while progress:
        progress = False
        for p, qs in enumerate(streams):
            rank = rep_of_prog[p]
            for q in qs.values():
                while q:
                    op = q[-1]
                    if any(d not in done[p] for d in op.deps):
                        break
                    if op.is_p2p and op.peer.group == "pp":
                        peer = op.peer.resolve(rank, trace)
                        peer_rep = rep_of_prog[owner[peer]]
                        me = (p, op.id)
                        if op.kind == "send":
                            key, other = (rank, peer_rep, op.tag), "recv"
                        else:
                            key, other = (peer_rep, rank, op.tag), "send"
                        posted.setdefault((key, op.kind), me)
                        partner = posted.get((key, other))
                        if partner is None:
                            break
                        q.pop()
                        done[p].add(op.id)
                        pp_, pid = partner
                        done[pp_].add(pid)
                        streams[pp_][trace.programs[pp_].ops[[o.id for o in trace.programs[pp_].ops].index(pid)].stream].pop()
                        finished += 2
                    else:
                        q.pop()
                        done[p].add(op.id)
                        finished += 1
                    progress = True
    return finished == total


def blocks_of(prog):
    """Model blocks (embedding, L<i>, head) a stage runs."""
    return {o.layer for o in prog.ops if o.id.startswith("F.") and o.layer != "pipeline"}


def ops_like(prog, start, kind=None, group=None):
    return [o for o in prog.ops if o.id.startswith(start)
            and (kind is None or o.kind == kind) and (group is None or o.group == group)]


CONFIGS = [
    dict(tp=2, pp=2, dp=2),
    dict(tp=2, pp=4, dp=1, schedule="gpipe"),
    dict(tp=1, pp=4, dp=2, schedule="zero-bubble"),
    dict(tp=2, pp=2, dp=1, vpp=2, schedule="interleaved"),
    dict(tp=1, pp=4, dp=1, vpp=2, schedule="interleaved", global_batch=8,
         costs=ToyCosts(layers=8)),
    dict(tp=2, pp=2, dp=2, cp=2, sequence_parallel=True, recompute="full"),
    dict(tp=1, pp=2, dp=2, zero=3, recompute="selective"),
    dict(tp=1, pp=2, dp=2, zero=1, schedule="zero-bubble"),
    dict(tp=1, pp=2, dp=4, ep=2, costs=ToyCosts(experts=4)),
    dict(tp=2, pp=2, dp=2, overlap_grad_reduce=False, placement_order="pp,dp,cp,tp"),
]


def _gen(cfg):
    cfg = dict(cfg)
    gb = cfg.pop("global_batch", 8 * cfg.get("dp", 1))
    return gen(global_batch=gb, **cfg)


# ---------------------------------------------------------------------------
# structure
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", CONFIGS)
def test_valid_trace_matched_p2p_and_no_deadlock(cfg):
    t = _gen(cfg)
    validate(t)                     # ids unique, deps known and acyclic, groups known
    assert len(t.programs) == t.meta["layout"]["pp"]
    # every recv has exactly one send with the same tag on the peer, and back
    owner = t.program_of_rank()
    for prog in t.programs:
        for rank in prog.ranks:
            for op in prog.ops:
                if not op.is_p2p:
                    continue
                peer = op.peer.resolve(rank, t)
                assert peer != rank
                want = "send" if op.kind == "recv" else "recv"
                matches = [o for o in t.programs[owner[peer]].ops
                           if o.kind == want and o.tag == op.tag
                           and o.peer.resolve(peer, t) == rank]
                assert len(matches) == 1, (rank, op.id)
                assert matches[0].bytes == op.bytes
    assert all(op.layer for prog in t.programs for op in prog.ops)
    assert run_logically(t)


def test_logical_executor_detects_deadlock():
    t = gen(tp=1, pp=2, dp=1)
    ops = t.programs[1].ops
    first_recv = next(i for i, o in enumerate(ops) if o.kind == "recv")
    # stage 1 waits for a gradient before the activation it needs: stuck
    ops[first_recv].tag = 10 ** 6
    assert not run_logically(t)


@pytest.mark.parametrize("cfg", [dict(tp=2, pp=2, dp=2, cp=2),
                                 dict(tp=4, pp=1, dp=4, ep=4, costs=ToyCosts(experts=8)),
                                 dict(tp=1, pp=3, dp=2, cp=3, ep=2, costs=ToyCosts(experts=2,
                                                                                    layers=6),
                                      seq_len=33)])
def test_groups_partition_world(cfg):
    t = gen(**cfg)
    lo = t.meta["layout"]
    sizes = {"tp": lo["tp"], "cp": lo["cp"], "dp": lo["dp"], "pp": lo["pp"],
             "dpcp": lo["dp"] * lo["cp"], "ep": lo["ep"],
             "edp": lo["dp"] * lo["cp"] // lo["ep"], "world": t.world_size}
    assert t.world_size == lo["tp"] * lo["cp"] * lo["dp"] * lo["pp"]
    for fam, size in sizes.items():
        lists = t.groups[fam]
        assert sorted(r for ms in lists for r in ms) == list(range(t.world_size))
        assert {len(ms) for ms in lists} == {size}
    # each ep group lies inside one dpcp group, and ep x edp tile it
    for ms in t.groups["ep"] + t.groups["edp"]:
        assert any(set(ms) <= set(g) for g in t.groups["dpcp"])


def test_default_placement_tp_innermost():
    t = gen(tp=2, pp=2, dp=2, cp=2)
    # rank = tp + 2 cp + 4 dp + 8 pp
    assert t.groups["tp"][:2] == [[0, 1], [2, 3]]
    assert t.groups["cp"][0] == [0, 2]
    assert t.groups["dp"][0] == [0, 4]
    assert t.groups["pp"][0] == [0, 8]
    assert t.programs[0].ranks == list(range(8))
    assert t.programs[1].ranks == list(range(8, 16))
    assert t.placement == list(range(16))


def test_placement_order_is_the_lever():
    t = gen(tp=2, pp=2, dp=4, placement_order="dp,tp,cp,pp")
    assert t.groups["dp"][0] == [0, 1, 2, 3]      # DP ring inside a node
    assert t.groups["tp"][0] == [0, 4]
    t = gen(tp=2, pp=2, dp=2, placement_order="pp,tp,dp,cp")
    assert t.groups["pp"][0] == [0, 1]
    assert t.programs[0].ranks == [0, 2, 4, 6]


def test_bad_placement_order():
    with pytest.raises(InputError) as e:
        gen(tp=2, placement_order="tp,dp,pp")
    assert e.value.field == "placement_order"


def test_blocks_per_stage_and_layer_split():
    t = gen(costs=ToyCosts(layers=5), tp=1, pp=2, dp=1)
    layers = [sorted(blocks_of(p)) for p in t.programs]
    assert layers[0] == ["L0", "L1", "L2", "embedding"]   # extra layer to stage 0
    assert layers[1] == ["L3", "L4", "head"]
    t = gen(costs=ToyCosts(layers=8), tp=1, pp=2, dp=1, vpp=2, schedule="interleaved")
    got = {(o.id.split(".")[2], o.layer) for o in t.programs[0].ops
           if o.id.startswith("F.") and o.layer != "pipeline"}
    assert got == {("c0", "embedding"), ("c0", "L0"), ("c0", "L1"), ("c1", "L4"), ("c1", "L5")}


def test_interleaved_wraps_from_last_device_to_first():
    t = gen(costs=ToyCosts(layers=8), tp=1, pp=2, dp=1, vpp=2, schedule="interleaved")
    s0 = t.programs[0].ops
    recv = next(o for o in s0 if o.id == "F.mb0.c1.recv")
    assert recv.peer.offset == -1 and recv.peer.resolve(0, t) == 1
    assert not any(o.id == "F.mb0.c0.recv" for o in s0)


def test_one_shared_program_per_stage_and_meta():
    t = gen(tp=2, pp=2, dp=2, global_batch=16, micro_batch=2, seq_len=32)
    assert [len(p.ranks) for p in t.programs] == [4, 4]
    assert t.meta["microbatches"] == 4
    assert t.meta["tokens_per_step"] == 16 * 32
    assert t.meta["model_flops_per_step"] == 123.0 * 16 * 32
    assert t.meta["layout"]["tp"] == 2 and t.meta["layout"]["placement_order"] == "tp,cp,dp,pp"
    counts = Counter(o.id.split(".")[0] for o in t.programs[0].ops)
    assert counts["F"] and counts["B"]


def test_json_round_trip(tmp_path):
    t = gen(tp=2, pp=2, dp=2, cp=2, vpp=2, schedule="interleaved", costs=ToyCosts(layers=8),
            zero=1)
    data = json.loads(json.dumps(t.to_json()))
    back = from_json(data)
    assert back.to_json() == t.to_json()
    t.save(tmp_path / "t.json")
    from workloads.trace import load
    assert load(tmp_path / "t.json").to_json() == t.to_json()


# ---------------------------------------------------------------------------
# invalid input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,field,value", [
    (dict(tp=3), "parallelism.tp", 3),                              # 8 heads
    (dict(tp=0), "parallelism.tp", 0),
    (dict(pp=5), "parallelism.pp", 5),                              # 4 layers
    (dict(dp=3), "training.global_batch", 8),
    (dict(dp=2, ep=2), "parallelism.ep", 2),                        # dense model
    (dict(dp=2, ep=3, costs=ToyCosts(experts=3)), "parallelism.ep", 3),
    (dict(dp=4, ep=4, costs=ToyCosts(experts=6)), "parallelism.ep", 4),
    (dict(cp=3), "parallelism.cp", 3),                              # seq 32
    (dict(pp=2, vpp=2), "parallelism.vpp", 2),                      # 1f1b
    (dict(pp=4, vpp=2, schedule="interleaved", global_batch=6, costs=ToyCosts(layers=8)),
     "training.global_batch", 6),
    (dict(schedule="pipedream"), "parallelism.schedule", "pipedream"),
    (dict(zero=4), "parallelism.zero", 4),
    (dict(recompute="some"), "parallelism.recompute", "some"),
    (dict(sequence_parallel="yes"), "parallelism.sequence_parallel", "yes"),
    (dict(gradient_bucket_bytes=0), "parallelism.gradient_bucket_bytes", 0),
    (dict(micro_batch=0), "training.micro_batch", 0),
    (dict(seq_len=-4), "training.seq_len", -4),
    (dict(grad_dtype_bytes=1.5), "training.grad_dtype_bytes", 1.5),
])
def test_invalid_layouts_name_field_and_value(kwargs, field, value):
    with pytest.raises(InputError) as e:
        gen(**kwargs)
    assert e.value.field == field
    assert e.value.value == value
    assert field in str(e.value) and repr(value) in str(e.value)


# ---------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------

def test_large_job_generates():
    # Llama-3-405B-like shape: 126 layers, 128 heads, pp=16, 128 micro-batches
    # (generation speed is measured in benchmarks/, not asserted here)
    costs = ToyCosts(layers=126, heads=128, name="405b-like")
    t = gen(costs=costs, tp=8, pp=16, dp=2, global_batch=256, seq_len=64)
    assert t.meta["microbatches"] == 128 and len(t.programs) == 16
    assert sum(len(p.ops) for p in t.programs) > 250_000
