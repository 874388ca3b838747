"""One transformer layer on one rank: forward, backward (B and W parts), recompute.

Item lists follow Megatron-LM's layer (Shoeybi et al. 2019; Narayanan et al.
SC'21): norm -> attention -> residual -> norm -> MLP (or MoE) -> residual.
Per-rank figures for ONE micro-batch of ``b`` sequences, ``s`` tokens each:

* local tokens ``T = b s / cp``; norms, residuals and dropout see ``T / tp``
  rows with sequence parallelism, ``T`` rows otherwise;
* tensor parallelism (Megatron): column-parallel QKV/FC1 split their outputs,
  row-parallel proj/FC2 their inputs. Without sequence parallelism each block
  ends in an all-reduce of ``T h d`` bytes (``tp_ar1``, ``tp_ar2``) and its
  backward all-reduces the block input's gradient (``tp_ar1_b``, ``tp_ar2_b``).
  With sequence parallelism (Korthikanti et al. 2022, sec. 4.2.2) each
  all-reduce becomes an all-gather before the block (``sp_ag*``) and a
  reduce-scatter after it (``sp_rs*``), both of ``T h d`` bytes; backward
  swaps them and re-gathers the block input for the weight gradient
  (``sp_ag*_w``, overlapping the input-gradient GEMM), as Megatron-LM does;
* attention core as FlashAttention (Dao et al. 2022), or with
  ``Shape.flash_attention = False`` as unfused kernels that write the
  ``b (a/tp) (s/cp) s`` score matrix to HBM (a separate ``softmax`` op carries
  the softmax and dropout traffic): ``2 b (s/cp) s (a/tp)
  (d_qk + d_v) * causal_attention_flop_fraction`` FLOPs forward (QK^T and
  AV; = ``4 b s^2 h / (cp tp)`` for standard heads), bytes of Q, K, V, O and
  the fp32 log-sum-exp — no ``s^2`` tensor. ``causal_attention_flop_fraction``
  is 1.0 for kernels that compute the full square (Megatron 2021, and the
  formulas of Narayanan et al.); by default (None) it follows the kernel:
  1.0 for unfused attention, and for FlashAttention's causal kernels, which
  skip the key blocks wholly above the diagonal (Dao 2023, FlashAttention-2,
  sec. 3.1.1), ``(n + 1) / (2 n)`` with ``n = s / 128`` query/key blocks
  (0.516 at s = 4096). Backward = 2x forward FLOPs (the
  in-kernel recomputation of the scores is left to the attention efficiency);
* context parallelism (ring attention, Liu et al. 2023): ``cp - 1`` ring steps
  ``cp_kv1 .. cp_kv{cp-1}`` each carrying one K/V chunk
  ``b (s/cp) kv_heads/tp (d_qk + d_v) d`` bytes (= ``2 b (s/cp) kv_heads
  head_dim / tp * d``), overlapping ``attn``; backward rings carry K/V and
  their gradients (2x bytes), overlapping ``attn_b``. MLA exchanges the
  up-projected keys and values;
* mixture of experts (GShard, Lepikhin et al. 2020; Megatron-core): router
  GEMM (replicated on TP ranks), an all-to-all dispatch of
  ``T top_k h d * imbalance`` bytes in the ``ep`` group, grouped expert GEMMs
  on ``T top_k`` routed token copies (times ``imbalance`` when ``ep > 1``: the
  busiest rank sets the pace) reading every local expert's weights, an
  all-to-all combine of the same size, the weighted sum of the ``top_k``
  outputs, and the shared experts as a dense MLP. Before the dispatch the
  host waits for the routing counts (``moe_sync``, see :func:`_host_sync`).
  The token dispatcher's
  data movement is memory-bound work of its own (Megatron-Core
  ``MoEAlltoAllTokenDispatcher`` with ``moe_utils.permute`` /
  ``sort_chunks_by_idxs`` / ``unpermute``): before the dispatch the tokens
  are gathered into expert order, one copy per routed expert (``permute``;
  backward a scatter-add); with more than one local expert and ``ep > 1``
  the received chunks arrive ordered by source rank and are re-ordered by
  local expert (``sort_chunks``), and put back in source order before the
  combine (``unsort_chunks``); the combine's weighted sum is ``expert_sum``
  (Megatron's ``unpermute``). Experts are split by
  ``tp`` like a dense MLP (expert tensor parallelism = tp) and the block's
  TP communication is the dense MLP's — unless ``Shape.etp`` is set: MoE
  parallel folding, see :func:`_folded_moe`.
"""
from __future__ import annotations

import dataclasses

from workloads.models.builder import OpList
from workloads.models.items import CommItem, ComputeItem, HostItem, Item, Shape
from workloads.models.linears import attention_core_dims, attention_linears, mlp_linears
from workloads.models.params import layer_index
from workloads.models.shape_check import check_causal_fraction, check_shape
from workloads.models.spec import ModelSpec

# GELU (tanh form) ~8 FLOPs per element; SwiGLU: SiLU and a product ~6.
_ACT_FLOPS = {"gelu": 8.0, "swiglu": 6.0}


def _overlap(shape: Shape, gemm: str | None, suffix: str = "") -> str | None:
    """The GEMM a sequence-parallel collective is pipelined with under TP
    communication overlap (Megatron-Core ``tp_comm_overlap``, Transformer
    Engine userbuffers: the all-gather with the column-parallel GEMM that
    consumes it, the reduce-scatter with the row-parallel GEMM that produces
    it, and the backward counterparts with the dgrad GEMMs); None = blocking."""
    if not shape.tp_comm_overlap or not shape.sequence_parallel or gemm is None:
        return None
    return gemm + suffix


def _tp_enter(ops: OpList, shape: Shape, tag: str, nbytes: float,
              gemm: str | None = None) -> None:
    """The communication before a block's column-parallel GEMMs (``gemm``: the
    first of them, for TP communication overlap)."""
    if shape.tp == 1:
        return
    if shape.sequence_parallel:
        ops.comm(f"sp_ag{tag}", "all_gather", "tp", nbytes,
                 b=[CommItem(f"sp_ag{tag}_b", "reduce_scatter", "tp", nbytes,
                             _overlap(shape, gemm, "_dgrad"))],
                 overlap_with=_overlap(shape, gemm))
    else:
        ops.add(None, b=[CommItem(f"tp_ar{tag}_b", "all_reduce", "tp", nbytes)])


def _tp_exit(ops: OpList, shape: Shape, tag: str, nbytes: float,
             gemm: str | None = None) -> None:
    """The communication after a block's row-parallel GEMM ``gemm``."""
    if shape.tp == 1:
        return
    if shape.sequence_parallel:
        ops.comm(f"sp_rs{tag}", "reduce_scatter", "tp", nbytes,
                 b=[CommItem(f"sp_rs{tag}_b", "all_gather", "tp", nbytes,
                             _overlap(shape, gemm, "_dgrad"))],
                 overlap_with=_overlap(shape, gemm))
    else:
        ops.comm(f"tp_ar{tag}", "all_reduce", "tp", nbytes)


def _regather(shape: Shape, tag: str, nbytes: float, gemm: str) -> list[Item]:
    """Sequence parallelism: re-gather a block input for its weight gradient."""
    if shape.tp == 1 or not shape.sequence_parallel:
        return []
    return [CommItem(f"sp_ag{tag}_w", "all_gather", "tp", nbytes, gemm + "_dgrad")]


def _host_sync(ops: OpList, shape: Shape, local_experts: float) -> None:
    """The dropless token dispatcher's device-to-host synchronisation: the
    host needs the tokens per expert (all-to-all split sizes, grouped-GEMM
    splits) before it can issue the rest of the block, so the GPU queue runs
    dry: from here to the block's residual add the GPU cannot finish before
    the host has issued the block's kernels (Megatron-Core
    ``MoEAlltoAllTokenDispatcher`` and the flex dispatcher copy the routing
    counts to the host with a stream synchronisation; the Megatron-Core MoE
    guide counts host overhead among the "three walls" of MoE training, and
    only full-iteration CUDA graphs over padded, sync-free dispatch —
    ``moe_paged_stash``, ``moe_expert_rank_capacity_factor`` — remove it).
    ``moe_sync`` runs on the ``host`` stream from the next op on, and
    ``resid2`` waits for it: the block takes the longer of the GPU's work and
    the host's issue time. The host's work grows with the local experts
    (Transformer Engine's grouped linear layers issue each expert's
    quantisation and GEMM from the host, per expert split), so it lasts
    ``local_experts x moe_host_issue_s`` of the host platform
    (sim/data/compute.yaml, category ``host_sync``). Forward only: the
    backward reuses the counts. ``Shape.moe_sync_free`` drops it."""
    if not shape.moe_sync_free:
        ops.add(HostItem("moe_sync", join="resid2", units=local_experts))


def _permute(ops: OpList, tokens: float, copies: float, h: float) -> None:
    """Gather ``tokens`` rows into ``copies`` rows in expert order (forward
    reads and writes ``copies h`` elements; backward scatter-adds them back
    into ``tokens h``)."""
    ops.elementwise("permute", copies * h, copies * h, 0.0, bwd_elems=copies * h + tokens * h)


def _sort_chunks(ops: OpList, shape: Shape, name: str, rows: float, h: float,
                 local_experts: float) -> None:
    """Re-order ``rows`` received rows between source-rank and local-expert
    order (forward and backward each read and write them once); only needed
    when the ``ep`` group exchanges tokens for more than one local expert."""
    if shape.ep > 1 and local_experts > 1:
        ops.elementwise(name, rows * h, rows * h, 0.0, bwd_elems=2 * rows * h)


def _activation(ops: OpList, spec: ModelSpec, name: str, rows: float, width: float) -> None:
    """GELU (reads x, writes y) or SwiGLU (reads gate and up, writes their product)."""
    e = rows * width
    if spec.activation == "swiglu":
        ops.elementwise(name, 2 * e, e, _ACT_FLOPS["swiglu"], bwd_elems=5 * e)
    else:
        ops.elementwise(name, e, e, _ACT_FLOPS["gelu"], bwd_elems=3 * e)


def _attention(ops: OpList, spec: ModelSpec, shape: Shape, frac: float) -> None:
    b, tp, cp, d = shape.micro_batch, shape.tp, shape.cp, float(shape.dtype_bytes)
    s = shape.seq_len
    T = b * s / cp
    rows = T / tp if shape.sequence_parallel else T
    h = spec.hidden
    act_bytes = T * h * d
    ops.norm("ln1", rows, h)
    lins = attention_linears(spec)
    _tp_enter(ops, shape, "1", act_bytes, lins[0].name)
    takes_input = [l for l in lins if l.k == h and l.name != "proj"]
    for lin in lins[:-1]:
        k, n = lin.local(tp)
        pre = _regather(shape, "1", act_bytes, lin.name) if lin is takes_input[-1] else []
        ops.gemm(lin.name, T, k, n, pre_b=pre)
        if lin.name == "q_down":
            ops.norm("q_norm", T, spec.mla.q_lora_rank)
        elif lin.name == "kv_down":
            ops.norm("kv_norm", T, spec.mla.kv_lora_rank)
    heads, dqk, dv = attention_core_dims(spec)
    a_loc = heads / tp
    kv_loc = (heads if spec.mla is not None else spec.kv_heads) / tp
    if spec.position == "rope" and spec.mla is None:
        e = T * (a_loc + kv_loc) * dqk
        ops.elementwise("rope", e, e, 3.0)
    step_bytes = b * (s / cp) * kv_loc * (dqk + dv) * d
    ring_b: list[Item] = []
    for i in range(1, cp):
        ops.comm(f"cp_kv{i}", "sendrecv_ring", "cp", step_bytes, overlap_with="attn")
        ring_b.append(CommItem(f"cp_kv{i}_b", "sendrecv_ring", "cp", 2 * step_bytes, "attn_b"))
    flops = 2.0 * b * (s / cp) * s * a_loc * (dqk + dv) * frac
    q, o = T * a_loc * dqk, T * a_loc * dv
    kv = b * s * kv_loc * (dqk + dv)
    lse = 4.0 * T * a_loc
    scores = 0.0 if shape.flash_attention else b * a_loc * (s / cp) * s   # elements
    ops.add(ComputeItem("attn", flops, (q + kv + o) * d + lse + 2 * scores * d, "attention"),
            b=[*ring_b, ComputeItem("attn_b", 2 * flops,
                                    2 * (q + kv + o) * d + lse + 4 * scores * d, "attention")])
    if scores:
        # unfused kernels (Megatron-LM before FlashAttention): the fused
        # scale-mask-softmax reads and writes the scores, dropout reads them and
        # writes them and a 1-byte mask; backward touches each about twice
        ops.add(ComputeItem("softmax", 5 * scores, 4 * scores * d + scores, "elementwise"),
                b=[ComputeItem("softmax_b", 5 * scores, 6 * scores * d + scores,
                               "elementwise")])
    k, n = lins[-1].local(tp)
    ops.gemm(lins[-1].name, T, k, n)
    _tp_exit(ops, shape, "1", act_bytes, lins[-1].name)
    ops.elementwise("resid1", 2 * rows * h, rows * h, bwd_elems=2 * rows * h)


def _mlp(ops: OpList, spec: ModelSpec, shape: Shape, T: float, ffn: int, prefix: str,
         regather: list[Item], rows_factor: float = 1.0, weight_copies: float = 1.0) -> None:
    fc1, fc2 = mlp_linears(spec, ffn, prefix)
    m = T * rows_factor
    k, n = fc1.local(shape.tp)
    ops.gemm(fc1.name, m, k, n, weight_copies, pre_b=regather)
    _activation(ops, spec, prefix + "act", m, ffn / shape.tp)
    k, n = fc2.local(shape.tp)
    ops.gemm(fc2.name, m, k, n, weight_copies)


def _feed_forward(ops: OpList, spec: ModelSpec, shape: Shape, moe_layer: bool) -> None:
    b, tp, cp, d = shape.micro_batch, shape.tp, shape.cp, float(shape.dtype_bytes)
    T = b * shape.seq_len / cp
    rows = T / tp if shape.sequence_parallel else T
    h = spec.hidden
    act_bytes = T * h * d
    ops.norm("ln2", rows, h)
    if moe_layer and shape.etp is not None:
        _folded_moe(ops, spec, shape, rows)
        ops.elementwise("resid2", 2 * rows * h, rows * h, bwd_elems=2 * rows * h)
        return
    _tp_enter(ops, shape, "2", act_bytes, None if moe_layer else "fc1")
    if not moe_layer:
        _mlp(ops, spec, shape, T, spec.ffn_hidden, "", _regather(shape, "2", act_bytes, "fc1"))
    else:
        m = spec.moe
        last = "shared_fc1" if m.shared_experts else "router"
        regather = _regather(shape, "2", act_bytes, last)
        ops.gemm("router", T, h, m.experts, pre_b=[] if m.shared_experts else regather,
                 lowp=False)
        imbalance = m.load if shape.ep > 1 else 1.0
        a2a_bytes = T * m.top_k * h * d * imbalance
        local = m.experts / shape.ep
        _host_sync(ops, shape, local)
        _permute(ops, T, T * m.top_k, h)
        if shape.ep > 1:
            ops.comm("ep_dispatch", "all_to_all", "ep", a2a_bytes,
                     b=[CommItem("ep_dispatch_b", "all_to_all", "ep", a2a_bytes)])
        _sort_chunks(ops, shape, "sort_chunks", T * m.top_k * imbalance, h, local)
        _mlp(ops, spec, shape, T, m.expert_ffn_hidden, "expert_", [],
             rows_factor=m.top_k * imbalance, weight_copies=local)
        _sort_chunks(ops, shape, "unsort_chunks", T * m.top_k * imbalance, h, local)
        if shape.ep > 1:
            ops.comm("ep_combine", "all_to_all", "ep", a2a_bytes,
                     b=[CommItem("ep_combine_b", "all_to_all", "ep", a2a_bytes)])
        ops.elementwise("expert_sum", T * m.top_k * h, T * h,
                        bwd_elems=T * h + T * m.top_k * h)
        if m.shared_experts:
            _mlp(ops, spec, shape, T, m.shared_experts * m.shared_ffn_hidden, "shared_",
                 regather)
    _tp_exit(ops, shape, "2", act_bytes, None if moe_layer else "fc2")
    ops.elementwise("resid2", 2 * rows * h, rows * h, bwd_elems=2 * rows * h)


def _folded_moe(ops: OpList, spec: ModelSpec, shape: Shape, rows: float) -> None:
    """An MoE block under parallel folding (Liu et al., "MoE Parallel Folding",
    2025; Megatron-Core): the experts have their own tensor parallelism
    ``etp`` and expert parallelism ``ep`` over the same ranks that run
    attention with tp x cp x dp. Each rank enters with its ``rows`` tokens
    (its sequence-parallel shard); routed tokens are all-gathered over the
    ``etp`` group, exchanged over the ``ep`` group (all-to-all), run through
    the local experts split ``etp`` ways, and return the same way (all-to-all,
    reduce-scatter over ``etp``). Shared experts run as a dense MLP with the
    attention's tensor parallelism."""
    m, d, h = spec.moe, float(shape.dtype_bytes), spec.hidden
    etp = shape.etp
    T = shape.micro_batch * shape.seq_len / shape.cp
    imbalance = m.load if shape.ep > 1 else 1.0
    ops.gemm("router", rows, h, m.experts, lowp=False)
    gathered = rows * etp
    if etp > 1:
        ops.comm("etp_ag", "all_gather", "etp", gathered * h * d,
                 b=[CommItem("etp_ag_b", "reduce_scatter", "etp", gathered * h * d)])
    a2a_bytes = gathered * m.top_k * h * d * imbalance
    local = m.experts / shape.ep
    _host_sync(ops, shape, local)
    _permute(ops, gathered, gathered * m.top_k, h)
    if shape.ep > 1:
        ops.comm("ep_dispatch", "all_to_all", "ep", a2a_bytes,
                 b=[CommItem("ep_dispatch_b", "all_to_all", "ep", a2a_bytes)])
    _sort_chunks(ops, shape, "sort_chunks", gathered * m.top_k * imbalance, h, local)
    expert_shape = dataclasses.replace(shape, tp=etp)
    _mlp(ops, spec, expert_shape, gathered, m.expert_ffn_hidden, "expert_", [],
         rows_factor=m.top_k * imbalance, weight_copies=local)
    _sort_chunks(ops, shape, "unsort_chunks", gathered * m.top_k * imbalance, h, local)
    if shape.ep > 1:
        ops.comm("ep_combine", "all_to_all", "ep", a2a_bytes,
                 b=[CommItem("ep_combine_b", "all_to_all", "ep", a2a_bytes)])
    if etp > 1:
        ops.comm("etp_rs", "reduce_scatter", "etp", gathered * h * d,
                 b=[CommItem("etp_rs_b", "all_gather", "etp", gathered * h * d)])
    ops.elementwise("expert_sum", rows * m.top_k * h, rows * h,
                    bwd_elems=rows * h + rows * m.top_k * h)
    if m.shared_experts:
        act_bytes = T * h * d
        _tp_enter(ops, shape, "2", act_bytes)
        _mlp(ops, spec, shape, T, m.shared_experts * m.shared_ffn_hidden, "shared_",
             _regather(shape, "2", act_bytes, "shared_fc1"))
        _tp_exit(ops, shape, "2", act_bytes)


FLASH_BLOCK = 128     # FlashAttention-2 key/query block (Dao 2023)


def kernel_causal_fraction(shape: Shape) -> float:
    """Fraction of the ``s x s`` score square the attention kernel computes."""
    if not shape.flash_attention:
        return 1.0
    n = max(1, -(-shape.seq_len // FLASH_BLOCK))
    return (n + 1) / (2 * n)


def _build(spec: ModelSpec, shape: Shape, frac: float | None, layer: int | None) -> OpList:
    check_shape(spec, shape)
    frac = check_causal_fraction(kernel_causal_fraction(shape) if frac is None else frac)
    i = layer_index(spec, layer)
    ops = OpList(shape.dtype_bytes, shape.precision)
    _attention(ops, spec, shape, frac)
    _feed_forward(ops, spec, shape, spec.is_moe_layer(i))
    return ops


def layer_forward(spec: ModelSpec, shape: Shape, *, causal_attention_flop_fraction: float | None = None,
                  layer: int | None = None) -> list[Item]:
    """One layer's forward on one rank, in execution order (comms included).

    ``layer`` (0-based) picks a dense or MoE layer in mixed models; None
    means the first MoE layer if the model has any, else layer 0.
    """
    return _build(spec, shape, causal_attention_flop_fraction, layer).forward


def layer_backward(spec: ModelSpec, shape: Shape, *, causal_attention_flop_fraction: float | None = None,
                   layer: int | None = None) -> tuple[list[Item], list[Item]]:
    """(B, W): input-gradient ops with the backward comms, then weight-gradient
    GEMMs; each in execution order. Recomputation is not included."""
    return _build(spec, shape, causal_attention_flop_fraction, layer).backward()


def layer_recompute(spec: ModelSpec, shape: Shape, *, causal_attention_flop_fraction: float | None = None,
                    layer: int | None = None) -> list[Item]:
    """What re-runs before the backward: "full" — the whole forward with its
    communication; "selective" — the attention core (and its context-parallel
    ring) only (Korthikanti et al. 2022, sec. 5); "none" — nothing."""
    fwd = layer_forward(spec, shape, causal_attention_flop_fraction=causal_attention_flop_fraction,
                        layer=layer)
    if shape.recompute == "full":
        return fwd
    if shape.recompute == "selective":
        return [it for it in fwd
                if it.name in ("attn", "softmax") or it.name.startswith("cp_kv")]
    return []

