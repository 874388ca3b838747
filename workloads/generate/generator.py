"""The training-trace generator: model + layout + batch -> :class:`Trace`.

One program per pipeline stage (all TP/CP/DP ranks of a stage run the same
ops); the first virtual stage also runs the embedding, the last the head
(final norm, logits, loss). Op ids are ``<action>.mb<i>.c<chunk>.<block>.<item>``
(e.g. ``F.mb3.c0.L5.fc1``; ``.r`` marks recomputation, ``.w`` weight-gradient
items inside a fused backward); every op's ``layer`` is its block
(``embedding``, ``L<i>``, ``head``) or ``pipeline`` (P2P), ``grad_sync`` /
``param_sync`` (data-parallel buckets) and ``optimizer``.

Layers are split over the ``pp * vpp`` virtual stages as evenly as possible;
when they do not divide, the first ``layers mod (pp * vpp)`` virtual stages
get one layer more. Pipeline activations are ``micro_batch * seq_len / cp *
hidden * dtype_bytes`` bytes, of which each tensor-parallel rank sends
``1/tp``: under sequence parallelism each rank holds a sequence shard
(Korthikanti et al. 2022); without it Megatron-LM's scatter/gather
optimisation splits the replicated tensor over the TP ranks and re-gathers
it over NVLink on the receiving side (Narayanan et al., SC'21, Sec. 4.1; the
small intra-node all-gather is not modelled).
"""
from __future__ import annotations

import gc
from dataclasses import asdict
from typing import Any

from workloads.errors import InputError
from workloads.generate.costs import Costs, ModelCosts
from workloads.generate.layout import Layout, Training
from workloads.generate import program as program_form
from workloads.generate.program import Block, StagePlan, stage_pieces
from workloads.generate.ranks import DEFAULT_ORDER, RankGrid, parse_order
from workloads.generate.schedules import get_schedule, shared_schedule
from workloads.generate.template import Template, compile_items
from workloads.models.items import Shape
from workloads.trace import Program, Trace


def check_job(costs: Costs, layout: Layout, training: Training) -> int:
    """Cross-field checks; returns the number of micro-batches per step.

    Each error names the field a user would change (``parallelism.vpp`` when
    pp alone fits the layers, ``training.micro_batch`` when it does not divide
    the per-replica batch).
    """
    lo, tr = layout, training
    sched = get_schedule(lo.schedule)
    if costs.heads % lo.tp:
        raise InputError(f"tp must divide the model's {costs.heads} attention heads",
                         field="parallelism.tp", value=lo.tp)
    slots = costs.layers + lo.embedding_in_split + lo.loss_in_split
    if slots < lo.pp * lo.vpp:
        field, value = ("parallelism.pp", lo.pp) if slots < lo.pp else \
            ("parallelism.vpp", lo.vpp)
        ends = " (embedding and loss counted)" if slots > costs.layers else ""
        raise InputError(f"pp * vpp = {lo.pp * lo.vpp} exceeds the model's "
                         f"{costs.layers} layers{ends}", field=field, value=value)
    if lo.etp is None and (lo.dp * lo.cp) % lo.ep:
        raise InputError(f"ep must divide dp * cp = {lo.dp * lo.cp} (expert parallelism "
                         "uses the data-parallel ranks)", field="parallelism.ep", value=lo.ep)
    if lo.ep > 1 and not costs.experts:
        raise InputError("ep > 1 needs a mixture-of-experts model",
                         field="parallelism.ep", value=lo.ep)
    if costs.experts and costs.experts % lo.ep:
        raise InputError(f"ep must divide the model's {costs.experts} experts",
                         field="parallelism.ep", value=lo.ep)
    if tr.seq_len % lo.cp:
        raise InputError(f"cp must divide seq_len = {tr.seq_len}",
                         field="parallelism.cp", value=lo.cp)
    per_step = tr.micro_batch * lo.dp
    if tr.global_batch % lo.dp:
        raise InputError(f"global_batch must be a multiple of dp = {lo.dp}",
                         field="training.global_batch", value=tr.global_batch)
    if tr.global_batch % per_step:
        raise InputError(f"micro_batch must divide global_batch / dp = "
                         f"{tr.global_batch // lo.dp} (sequences per replica)",
                         field="training.micro_batch", value=tr.micro_batch)
    m = tr.global_batch // per_step
    if lo.vpp > 1 and lo.schedule == "interleaved" and m % lo.pp:
        raise InputError(f"the interleaved schedule needs the micro-batch count "
                         f"global_batch / (micro_batch * dp) = {m} to be a multiple of "
                         f"pp = {lo.pp}", field="training.global_batch",
                         value=tr.global_batch)
    sched.validate(lo.pp, m, lo.vpp)
    return m


def layer_split(layers: int, virtual_stages: int, embedding: bool = False,
                loss: bool = False) -> list[range]:
    """Layer indices of each virtual stage (extra layers to the earliest).

    ``embedding`` / ``loss``: the split places ``layers + embedding + loss``
    slots, the embedding in the first slot and the output layer with the
    loss in the last, so the first (last) virtual stage gets one transformer
    layer fewer (Megatron-Core ``account_for_embedding_in_pipeline_split``,
    ``account_for_loss_in_pipeline_split``: e.g. Llama 3.1 405B's 126 layers
    as 128 slots over PP 16 x VP 8, one per virtual stage).
    """
    e = int(embedding)
    base, extra = divmod(layers + e + int(loss), virtual_stages)
    out, start = [], 0
    for j in range(virtual_stages):
        n = base + (1 if j < extra else 0)
        out.append(range(min(max(start - e, 0), layers), min(max(start + n - e, 0), layers)))
        start += n
    return out


def generate(model: Any, layout: Layout, training: Training, *,
             placement_order: str = DEFAULT_ORDER, costs: Costs | None = None) -> Trace:
    """Build the trace of one training step.

    ``model``: a ``workloads.models.ModelSpec``, a preset name or an inline
    model dict (anything ``get_model`` accepts); ``costs`` overrides where work items come from (see
    :class:`~workloads.generate.costs.Costs`). ``placement_order``: rank
    numbering, first name innermost. Raises InputError for impossible layouts.
    """
    # millions of ops, none of them garbage: the cyclic collector would only
    # re-scan them again and again (about half the generation time)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(model, layout, training, placement_order, costs)
    finally:
        if enabled:
            gc.enable()


def _generate(model: Any, layout: Layout, training: Training, placement_order: str,
              costs: Costs | None) -> Trace:
    order = parse_order(placement_order)
    if not isinstance(layout, Layout):
        raise InputError("expected a Layout", field="parallelism", value=layout)
    if not isinstance(training, Training):
        raise InputError("expected a Training", field="training", value=training)
    if costs is None:
        from workloads.models import get_model
        costs = ModelCosts(get_model(model))
    m = check_job(costs, layout, training)
    lo, tr = layout, training
    actions = shared_schedule(lo.schedule, lo.pp, m, lo.vpp)

    grid = RankGrid({"tp": lo.tp, "cp": lo.cp, "dp": lo.dp, "pp": lo.pp}, order)
    groups = grid.groups(lo.ep, lo.etp)
    sizes = {"tp": lo.tp, "cp": lo.cp, "dp": lo.dp, "pp": lo.pp, "dpcp": lo.dp * lo.cp,
             "ep": lo.ep, "edp": lo.edp, "etp": lo.etp or 1, "embd": 2 if lo.pp > 1 else 1,
             "world": grid.world_size}
    shape = Shape(micro_batch=tr.micro_batch, seq_len=tr.seq_len, tp=lo.tp, cp=lo.cp,
                  ep=lo.ep, sequence_parallel=lo.sequence_parallel,
                  dtype_bytes=tr.dtype_bytes, recompute=lo.recompute,
                  flash_attention=tr.flash_attention, precision=tr.precision,
                  tp_comm_overlap=lo.tp_comm_overlap, etp=lo.etp,
                  moe_sync_free=lo.moe_sync_free)
    templates: dict[tuple, Template] = {}

    def tmpl(items: list) -> Template:
        key = tuple(items)
        if key not in templates:
            templates[key] = compile_items(list(items), sizes)
        return templates[key]

    empty = tmpl([])
    v_total = lo.pp * lo.vpp
    split = layer_split(costs.layers, v_total, lo.embedding_in_split, lo.loss_in_split)

    def blocks_of(vs: int) -> list[Block]:
        out = []
        if vs == 0:
            out.append(Block("embedding", tmpl(costs.embedding_forward(shape)), empty,
                             tmpl(costs.embedding_backward(shape)), empty,
                             costs.embedding_params(lo.tp), 0.0))
        for i in split[vs]:
            b, w = costs.layer_backward(i, shape)
            dense, expert = (costs.layer_params(i, lo.tp, lo.ep) if lo.etp is None
                             else costs.layer_params(i, lo.tp, lo.ep, etp=lo.etp))
            out.append(Block(f"L{i}", tmpl(costs.layer_forward(i, shape)),
                             tmpl(costs.layer_recompute(i, shape)), tmpl(b), tmpl(w),
                             dense, expert))
        if vs == v_total - 1:
            out.append(Block("head", tmpl(costs.head_forward(shape)), empty,
                             tmpl(costs.head_backward(shape)), empty,
                             costs.head_params(lo.tp, lo.pp > 1), 0.0))
        return out

    dense_family = "dpcp" if lo.cp > 1 else "dp"
    act_bytes = tr.micro_batch * (tr.seq_len // lo.cp) * costs.hidden * tr.dtype_bytes / lo.tp
    programs = []
    for s in range(lo.pp):
        chunks = [blocks_of(c * lo.pp + s) for c in range(lo.vpp)]
        dense = sum(b.dense_params for ch in chunks for b in ch)
        expert = sum(b.expert_params for ch in chunks for b in ch)
        layer_params = sum(b.dense_params + b.expert_params for ch in chunks for b in ch
                           if b.name.startswith("L"))
        if lo.zero >= 1:
            dense, expert = dense / sizes[dense_family], expert / sizes["edp"]
        plan = StagePlan(stage=s, pp=lo.pp, vpp=lo.vpp, microbatches=m, chunks=chunks,
                         activation_bytes=float(act_bytes), dtype_bytes=tr.dtype_bytes,
                         grad_bytes=tr.grad_bytes, zero=lo.zero,
                         bucket_bytes=float(lo.gradient_bucket_bytes),
                         overlap_grad_reduce=lo.overlap_grad_reduce,
                         overlap_param_gather=lo.overlap_param_gather,
                         dense_family=dense_family, group_sizes=sizes,
                         optimizer=tmpl(costs.optimizer_items(dense + expert, tr.dtype_bytes)
                                        + (costs.weight_cast_items(layer_params, tr.precision)
                                           if tr.precision != "bf16"
                                           and hasattr(costs, "weight_cast_items") else [])),
                         tied_embedding_params=(costs.tied_output_params(lo.tp)
                                                if lo.pp > 1 and s in (0, lo.pp - 1) else 0.0))
        ranks = sorted(members[s] for members in groups["pp"])
        pieces = stage_pieces(plan, actions[s])
        programs.append(Program(ranks=ranks, pieces=pieces) if program_form.COMPRESSED
                        else Program(ranks=ranks, ops=pieces))

    tokens = tr.global_batch * tr.seq_len
    meta: dict[str, Any] = {
        "microbatches": m,
        "tokens_per_step": tokens,
        "layout": {**asdict(lo), "placement_order": ",".join(order)},
        "training": asdict(tr),
    }
    flops = costs.model_flops_per_step(tokens, tr.seq_len)
    if flops is not None:
        meta["model_flops_per_step"] = flops
    name = (f"{costs.name} tp{lo.tp} pp{lo.pp} dp{lo.dp} cp{lo.cp} ep{lo.ep} "
            f"vpp{lo.vpp} {lo.schedule}")
    return Trace(world_size=grid.world_size, programs=programs, groups=groups,
                 placement=list(range(grid.world_size)), name=name, meta=meta)
