"""One pipeline stage's program: schedule actions expanded into trace ops.

Per action (see :mod:`workloads.generate.schedules`):

* F of chunk c (virtual stage k): receive the activations from the previous
  virtual stage (``pp`` peer offset -1, stream ``pp_recv``; none for k = 0),
  run every block's forward, send to the next virtual stage (offset +1,
  stream ``pp_send``; none for the last). Offsets are cyclic, so chunk c of
  the last device feeds chunk c + 1 of device 0 in the interleaved schedule.
* B: receive the output gradient (offset +1), then per block in reverse:
  recomputation, input-gradient items, and the weight-gradient items unless
  the schedule has W actions; send the input gradient (offset -1).
* W: the weight-gradient items of every block, in reverse.

P2P tags encode (direction, micro-batch, receiving virtual stage), so every
receive matches exactly one send. Data parallelism (stream ``dp``):

* ZeRO 0/1: when the last weight-gradient action of a chunk runs, each
  block's gradients join a bucket; a full bucket (``gradient_bucket_bytes``)
  is reduced at once (all-reduce; reduce-scatter for ZeRO 1), the rest at
  the chunk's end (PyTorch DDP / Megatron-LM overlapped reduction). Dense
  gradients go over ``dp`` (``dpcp`` when cp > 1), expert gradients over
  ``edp``. After the optimizer, ZeRO 1 all-gathers the updated parameters
  bucket by bucket.
* ZeRO 2: a rank keeps only its shard of the gradients, so it cannot
  accumulate whole gradients over micro-batches: every block's gradients
  are reduce-scattered after its weight-gradient items in every micro-batch
  (Rajbhandari et al., SC'20, sec. 5.2; DeepSpeed reduces each micro-step's
  gradients during the backward), then the updated shards are all-gathered
  after the optimizer as for ZeRO 1.
* ZeRO 3: every block all-gathers its parameters before its forward and its
  backward, prefetched one block ahead (it may start once the block two
  places earlier has finished), and reduce-scatters its gradients after its
  weight-gradient items, every micro-batch (Rajbhandari et al., SC'20). The
  gathers run on a stream of their own (``dp_ag``), so a prefetch never
  queues behind a gradient reduce-scatter (PyTorch FSDP and Megatron-FSDP
  issue the two on separate streams).

With tied input/output embeddings and pp > 1, the first and last stage then
all-reduce the shared matrix's gradient over the ``embd`` family (Megatron-LM
keeps a copy on each). The optimizer step (compute) follows the last backward
and every reduction.
"""
from __future__ import annotations

from dataclasses import dataclass

from workloads.generate.schedules import Action
from workloads.generate.template import Template, instantiate
from workloads.trace import Op, Peer


@dataclass(frozen=True)
class Block:
    """A unit of the model on one device: ``embedding``, ``L<i>`` or ``head``.

    Templates for forward, recomputation, input gradient (B) and weight
    gradient (W); parameters per rank (elements), dense and expert.
    """

    name: str
    fwd: Template
    rec: Template
    bwd: Template
    wgt: Template
    dense_params: float
    expert_params: float


@dataclass(frozen=True)
class StagePlan:
    """Everything :func:`stage_ops` needs about the job (sizes in bytes)."""

    stage: int
    pp: int
    vpp: int
    microbatches: int
    chunks: list[list[Block]]       # chunks[c] = blocks of virtual stage c*pp+stage
    activation_bytes: float
    dtype_bytes: int
    grad_bytes: int
    zero: int
    bucket_bytes: float
    overlap_grad_reduce: bool
    dense_family: str               # "dp" or "dpcp"
    group_sizes: dict[str, int]
    optimizer: Template
    tied_embedding_params: float = 0.0   # per rank, first/last stage only
    overlap_param_gather: bool = False


def p2p_tag(backward: bool, microbatch: int, receiver_vs: int, m: int, v_total: int) -> int:
    """Tag of the transfer into virtual stage ``receiver_vs``."""
    return ((1 if backward else 0) * v_total + receiver_vs) * m + microbatch


def stage_ops(plan: StagePlan, actions: list[Action]) -> list[Op]:
    """The ordered op list of one pipeline stage."""
    pp, m, s = plan.pp, plan.microbatches, plan.stage
    v_total = pp * plan.vpp
    ops: list[Op] = []
    tag_cursor = 2 * m * v_total          # ring tags start past every P2P tag
    block_ends: list[list[str]] = []
    b_outputs: dict[tuple[int, int], list[str]] = {}
    buckets: list[tuple[str, float]] = []  # (family, params) of emitted reductions
    last_dp: list[str] = []
    weight_kind = "W" if any(a.kind == "W" for a in actions) else "B"
    last_grad = {a.chunk: i for i, a in enumerate(actions) if a.kind == weight_kind}
    sizes = {f: plan.group_sizes[f] for f in (plan.dense_family, "edp")}
    pending = {plan.dense_family: 0.0, "edp": 0.0}
    deferred: list[tuple[Block, int]] = []     # (block, chunk) without overlap
    reduce_kind = "all_reduce" if plan.zero == 0 else "reduce_scatter"

    def run(t: Template, prefix: str, layer: str, deps: list[str]) -> list[str]:
        nonlocal tag_cursor
        out = instantiate(t, ops, prefix, layer, deps, tag_cursor)
        tag_cursor += t.n_tags
        return out

    def collective(oid: str, kind: str, family: str, nbytes: float, deps: list[str],
                   layer: str, stream: str = "dp") -> str | None:
        if sizes[family] <= 1 or nbytes <= 0:
            return None
        ops.append(Op(id=oid, kind=kind, stream=stream, deps=tuple(dict.fromkeys(deps)),
                      bytes=nbytes, group=family, layer=layer))
        last_dp[:] = [oid]
        return oid

    def flush(family: str, deps: list[str], c: int) -> None:
        params = pending[family]
        if params > 0 and collective(f"{family}.c{c}.b{len(buckets)}", reduce_kind, family,
                                     params * plan.grad_bytes, deps, "grad_sync"):
            buckets.append((family, params))
        pending[family] = 0.0

    def add_grads(blk: Block, deps: list[str], c: int) -> None:
        for family, params in ((plan.dense_family, blk.dense_params),
                               ("edp", blk.expert_params)):
            pending[family] += params
            if pending[family] * plan.grad_bytes >= plan.bucket_bytes:
                flush(family, deps, c)

    def gather(blk: Block, prefix: str, deps: list[str]) -> list[str]:
        ahead = block_ends[-2] if len(block_ends) >= 2 else []
        out = list(deps)
        for suf, family, params in ((".ag", plan.dense_family, blk.dense_params),
                                    (".agx", "edp", blk.expert_params)):
            oid = collective(prefix + suf, "all_gather", family, params * plan.dtype_bytes,
                             ahead, blk.name, stream="dp_ag")
            if oid:
                out.append(oid)
        return out

    def after_wgrad(blk: Block, prefix: str, deps: list[str], final: bool, c: int) -> None:
        if plan.zero >= 2:
            collective(prefix + ".rs", "reduce_scatter", plan.dense_family,
                       blk.dense_params * plan.grad_bytes, deps, blk.name)
            collective(prefix + ".rsx", "reduce_scatter", "edp",
                       blk.expert_params * plan.grad_bytes, deps, blk.name)
            if plan.zero == 2 and final:      # updated shards are all-gathered after the step
                buckets.extend((f, p) for f, p in ((plan.dense_family, blk.dense_params),
                                                   ("edp", blk.expert_params)) if p > 0)
        elif final and plan.overlap_grad_reduce:
            add_grads(blk, deps, c)
        elif final:
            deferred.append((blk, c))

    deps: list[str] = []
    for i, a in enumerate(actions):
        c, mb = a.chunk, a.microbatch
        vs = c * pp + s
        blocks = plan.chunks[c]
        head = f"{a.kind}.mb{mb}.c{c}"
        final = i == last_grad.get(c)
        if a.kind == "F":
            deps = []
            if vs > 0:
                ops.append(Op(id=f"{head}.recv", kind="recv", stream="pp_recv",
                              bytes=plan.activation_bytes, peer=Peer(group="pp", offset=-1),
                              tag=p2p_tag(False, mb, vs, m, v_total), layer="pipeline"))
                deps = [f"{head}.recv"]
            for blk in blocks:
                if plan.zero == 3:
                    deps = gather(blk, f"{head}.{blk.name}", deps)
                deps = run(blk.fwd, f"{head}.{blk.name}", blk.name, deps)
                block_ends.append(deps)
            if vs < v_total - 1:
                ops.append(Op(id=f"{head}.send", kind="send", stream="pp_send",
                              deps=tuple(deps), bytes=plan.activation_bytes,
                              peer=Peer(group="pp", offset=1),
                              tag=p2p_tag(False, mb, vs + 1, m, v_total), layer="pipeline"))
        elif a.kind == "B":
            deps = []
            if vs < v_total - 1:
                ops.append(Op(id=f"{head}.recv", kind="recv", stream="pp_recv",
                              bytes=plan.activation_bytes, peer=Peer(group="pp", offset=1),
                              tag=p2p_tag(True, mb, vs, m, v_total), layer="pipeline"))
                deps = [f"{head}.recv"]
            for blk in reversed(blocks):
                pre = f"{head}.{blk.name}"
                if plan.zero == 3:
                    deps = gather(blk, pre, deps)
                if blk.rec.steps:
                    deps = run(blk.rec, pre + ".r", blk.name, deps)
                deps = run(blk.bwd, pre, blk.name, deps)
                if weight_kind == "B":
                    deps = run(blk.wgt, pre + ".w", blk.name, deps)
                    after_wgrad(blk, pre, deps, final, c)
                block_ends.append(deps)
            b_outputs[(mb, c)] = deps
            if vs > 0:
                ops.append(Op(id=f"{head}.send", kind="send", stream="pp_send",
                              deps=tuple(deps), bytes=plan.activation_bytes,
                              peer=Peer(group="pp", offset=-1),
                              tag=p2p_tag(True, mb, vs - 1, m, v_total), layer="pipeline"))
        else:
            deps = b_outputs.pop((mb, c))
            for blk in reversed(blocks):
                pre = f"{head}.{blk.name}"
                deps = run(blk.wgt, pre, blk.name, deps)
                after_wgrad(blk, pre, deps, final, c)
                block_ends.append(deps)
        if final and plan.zero < 2 and plan.overlap_grad_reduce:
            flush(plan.dense_family, deps, c)
            flush("edp", deps, c)
    for blk, c in deferred:                 # overlap_grad_reduce = False
        add_grads(blk, deps, c)
    if deferred:
        last_c = deferred[-1][1]
        flush(plan.dense_family, deps, last_c)
        flush("edp", deps, last_c)
    if plan.tied_embedding_params > 0:     # sum the two copies' gradients
        ops.append(Op(id="embd.ar", kind="all_reduce", stream="dp", deps=tuple(deps),
                      bytes=plan.tied_embedding_params * plan.grad_bytes, group="embd",
                      layer="grad_sync"))
        last_dp[:] = ["embd.ar"]
    opt = run(plan.optimizer, "opt", "optimizer", deps + last_dp)
    if plan.zero in (1, 2) and plan.overlap_param_gather:
        _param_gather_ahead(ops, buckets, plan, sizes)
    elif plan.zero in (1, 2):
        for k, (family, params) in enumerate(buckets):
            collective(f"{family}.ag{k}", "all_gather", family, params * plan.dtype_bytes,
                       opt, "param_sync")
    return ops


def _param_gather_ahead(ops: list[Op], buckets: list, plan: StagePlan,
                        sizes: dict[str, int]) -> None:
    """The distributed optimizer's parameter all-gather overlapped with the
    forward pass (Megatron-Core ``overlap_param_gather``): in steady state the
    gathers of step i's updated parameters run under step i + 1's forward, in
    forward order, and the first forward waits only for the first bucket. A
    one-step trace shows that as gathers at the start of the step (stream
    ``dp_ag``)."""
    gathers = [Op(id=f"{family}.ag{k}", kind="all_gather", stream="dp_ag",
                  bytes=params * plan.dtype_bytes, group=family, layer="param_sync")
               for k, (family, params) in reversed(list(enumerate(buckets)))
               if sizes[family] > 1 and params > 0]
    if not gathers:
        return
    first = next((o for o in ops if o.id.startswith("F.") and o.kind == "compute"), None)
    if first is not None:
        first.deps = tuple(first.deps) + (gathers[0].id,)
    ops[:0] = gathers
