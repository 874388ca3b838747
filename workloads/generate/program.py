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
from workloads.generate.template import Instance, Template, compose, instantiate
from workloads.trace import Op, Peer

#: Generated programs are held compressed: one template instance per action
#: (its blocks chained) and micro-batch instead of its expanded ops (see
#: :class:`workloads.trace.Program`). False builds every op at generation, the
#: reference form.
COMPRESSED = True


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


def stage_pieces(plan: StagePlan, actions: list[Action]) -> list[Op | Instance]:
    """One pipeline stage's program in compressed form: single ops and
    template instances, in program order."""
    return _StageBuilder(plan, actions).build()


def stage_ops(plan: StagePlan, actions: list[Action]) -> list[Op]:
    """The ordered op list of one pipeline stage."""
    ops: list[Op] = []
    for p in stage_pieces(plan, actions):
        if type(p) is Op:
            ops.append(p)
        else:
            p.expand(ops)
    return ops


class _StageBuilder:
    """Expands one stage's actions into ops (one method per part of the
    module docstring: pipeline transfers, F / B / W actions, data-parallel
    buckets, ZeRO gathers and reduce-scatters, the tail of the step)."""

    def __init__(self, plan: StagePlan, actions: list[Action]):
        self.plan = plan
        self.actions = actions
        self.v_total = plan.pp * plan.vpp
        self.ops: list[Op | Instance] = []      # single ops and template instances
        self.open_chain: tuple | None = None    # (instance, head, outputs)
        self.chains: dict[tuple, Template] = {}
        self.peers: dict[int, Peer] = {}
        self.tag_cursor = 2 * plan.microbatches * self.v_total   # ring tags start past P2P tags
        self.block_ends: list[list[str]] = []
        self.b_outputs: dict[tuple[int, int], list[str]] = {}
        self.buckets: list[tuple[str, float]] = []   # (family, params) of emitted reductions
        self.last_dp: list[str] = []
        self.weight_kind = "W" if any(a.kind == "W" for a in actions) else "B"
        self.last_grad = {a.chunk: i for i, a in enumerate(actions) if a.kind == self.weight_kind}
        self.sizes = {f: plan.group_sizes[f] for f in (plan.dense_family, "edp")}
        self.pending = {plan.dense_family: 0.0, "edp": 0.0}
        self.deferred: list[tuple[Block, int]] = []   # (block, chunk) without overlap
        self.reduce_kind = "all_reduce" if plan.zero == 0 else "reduce_scatter"

    # -- building blocks -------------------------------------------------------
    def run(self, t: Template, prefix: str, layer: str, deps: list[str],
            head: str | None = None) -> list[str]:
        """Append an instance of ``t`` waiting for ``deps``; returns its outputs.

        Within one action (``head``, the common start of the prefixes), a
        block that waits for exactly the outputs of the instance just
        appended joins it: the two become one instance of their chain
        (:func:`~workloads.generate.template.compose`), so an action's
        blocks are one instance per micro-batch, not one per layer."""
        tag = self.tag_cursor
        self.tag_cursor += t.n_tags
        if not COMPRESSED:                  # the reference: every op at once
            return instantiate(t, self.ops, prefix, layer, deps, tag)
        inc = tuple(dict.fromkeys(deps))
        if not t.steps:
            return list(inc)
        o = self.open_chain
        if head is None:
            inst = Instance(t, prefix, layer, inc, tag)
            self.open_chain = None
            self.ops.append(inst)
            return inst.outputs()
        rel = prefix[len(head) + 1:]
        if o is not None and o[1] == head and self.ops[-1] is o[0] and inc == o[2]:
            inst, before = o[0], o[0].template
        else:
            inst, before = Instance(t, head, None, inc, tag), None
            self.ops.append(inst)
        key = (id(before), id(t), rel, layer)
        chain = self.chains.get(key)
        if chain is None:
            chain = self.chains[key] = compose((before.parts if before else ())
                                               + ((t, rel, layer),))
        inst.template = chain
        out = inst.outputs()
        self.open_chain = (inst, head, tuple(out))
        return out

    def action(self, kind: str, blocks: list[Block], head: str, deps: list[str]) -> list[str]:
        """One instance for an action's blocks when nothing comes between them:
        the chain of the parts :meth:`run` would append one by one (``kind``:
        F, BB with weight gradients, BW without, W), composed once per chunk."""
        key = (kind, id(blocks))
        chain = self.chains.get(key)
        if chain is None:
            parts = []
            for blk in blocks if kind == "F" else reversed(blocks):
                name = blk.name
                if kind == "F":
                    parts.append((blk.fwd, name, name))
                elif kind == "W":
                    parts.append((blk.wgt, name, name))
                else:
                    parts += [(blk.rec, f"{name}.r", name), (blk.bwd, name, name)]
                    if kind == "BB":
                        parts.append((blk.wgt, f"{name}.w", name))
            chain = self.chains[key] = compose(tuple(p for p in parts if p[0].steps))
        inc = tuple(dict.fromkeys(deps))
        self.open_chain = None
        if not chain.steps:
            return list(inc)
        inst = Instance(chain, head, None, inc, self.tag_cursor)
        self.tag_cursor += chain.n_tags
        self.ops.append(inst)
        return inst.outputs()

    def pipeline(self, kind: str, head: str, backward: bool, mb: int, vs: int,
                 deps: list[str]) -> str:
        """A send to or receive from the neighbouring virtual stage.

        Forward activations flow to the next virtual stage (offset +1), input
        gradients to the previous one (-1); the tag names the receiver."""
        plan = self.plan
        toward = -1 if backward else 1               # where this action's output goes
        offset = toward if kind == "send" else -toward
        receiver = vs + toward if kind == "send" else vs
        oid = f"{head}.{kind}"
        peer = self.peers.get(offset)
        if peer is None:
            peer = self.peers[offset] = Peer(group="pp", offset=offset)
        # positional: id, kind, stream, deps, flops, bytes, duration_s, category,
        # group, algorithm, peer, tag, layer (one per action: keywords cost)
        self.ops.append(Op(oid, kind, "pp_send" if kind == "send" else "pp_recv", tuple(deps),
                           0.0, plan.activation_bytes, None, None, None, None, peer,
                           p2p_tag(backward, mb, receiver, plan.microbatches, self.v_total),
                           "pipeline"))
        return oid

    def collective(self, oid: str, kind: str, family: str, nbytes: float, deps: list[str],
                   layer: str, stream: str = "dp") -> str | None:
        if self.sizes[family] <= 1 or nbytes <= 0:
            return None
        self.ops.append(Op(id=oid, kind=kind, stream=stream, deps=tuple(dict.fromkeys(deps)),
                           bytes=nbytes, group=family, layer=layer))
        self.last_dp[:] = [oid]
        return oid

    # -- data-parallel gradients and ZeRO parameters ----------------------------
    def flush(self, family: str, deps: list[str], c: int) -> None:
        params = self.pending[family]
        if params > 0 and self.collective(f"{family}.c{c}.b{len(self.buckets)}",
                                          self.reduce_kind, family,
                                          params * self.plan.grad_bytes, deps, "grad_sync"):
            self.buckets.append((family, params))
        self.pending[family] = 0.0

    def add_grads(self, blk: Block, deps: list[str], c: int) -> None:
        plan = self.plan
        for family, params in ((plan.dense_family, blk.dense_params),
                               ("edp", blk.expert_params)):
            self.pending[family] += params
            if self.pending[family] * plan.grad_bytes >= plan.bucket_bytes:
                self.flush(family, deps, c)

    def gather(self, blk: Block, prefix: str, deps: list[str]) -> list[str]:
        plan = self.plan
        ahead = self.block_ends[-2] if len(self.block_ends) >= 2 else []
        out = list(deps)
        for suf, family, params in ((".ag", plan.dense_family, blk.dense_params),
                                    (".agx", "edp", blk.expert_params)):
            oid = self.collective(prefix + suf, "all_gather", family,
                                  params * plan.dtype_bytes, ahead, blk.name, stream="dp_ag")
            if oid:
                out.append(oid)
        return out

    def after_wgrad(self, blk: Block, prefix: str, deps: list[str], final: bool,
                    c: int) -> None:
        plan = self.plan
        if plan.zero >= 2:
            self.collective(prefix + ".rs", "reduce_scatter", plan.dense_family,
                            blk.dense_params * plan.grad_bytes, deps, blk.name)
            self.collective(prefix + ".rsx", "reduce_scatter", "edp",
                            blk.expert_params * plan.grad_bytes, deps, blk.name)
            if plan.zero == 2 and final:      # updated shards are all-gathered after the step
                self.buckets.extend((f, p) for f, p in ((plan.dense_family, blk.dense_params),
                                                        ("edp", blk.expert_params)) if p > 0)
        elif final and plan.overlap_grad_reduce:
            self.add_grads(blk, deps, c)
        elif final:
            self.deferred.append((blk, c))

    # -- actions -----------------------------------------------------------------
    def forward(self, head: str, mb: int, vs: int, blocks: list[Block]) -> list[str]:
        deps: list[str] = []
        if vs > 0:
            deps = [self.pipeline("recv", head, False, mb, vs, [])]
        if COMPRESSED and self.plan.zero != 3:
            deps = self.action("F", blocks, head, deps)
        else:
            for blk in blocks:
                if self.plan.zero == 3:
                    deps = self.gather(blk, f"{head}.{blk.name}", deps)
                deps = self.run(blk.fwd, f"{head}.{blk.name}", blk.name, deps, head)
                self.block_ends.append(deps)
        if vs < self.v_total - 1:
            self.pipeline("send", head, False, mb, vs, deps)
        return deps

    def backward(self, head: str, mb: int, vs: int, c: int, blocks: list[Block],
                 final: bool) -> list[str]:
        deps: list[str] = []
        if vs < self.v_total - 1:
            deps = [self.pipeline("recv", head, True, mb, vs, [])]
        quiet = COMPRESSED and self.plan.zero < 2 and not final   # nothing between blocks
        for blk in ([] if quiet else reversed(blocks)):
            pre = f"{head}.{blk.name}"
            if self.plan.zero == 3:
                deps = self.gather(blk, pre, deps)
            if blk.rec.steps:
                deps = self.run(blk.rec, pre + ".r", blk.name, deps, head)
            deps = self.run(blk.bwd, pre, blk.name, deps, head)
            if self.weight_kind == "B":
                deps = self.run(blk.wgt, pre + ".w", blk.name, deps, head)
                self.after_wgrad(blk, pre, deps, final, c)
            self.block_ends.append(deps)
        if quiet:
            deps = self.action("B" + self.weight_kind, blocks, head, deps)
        self.b_outputs[(mb, c)] = deps
        if vs > 0:
            self.pipeline("send", head, True, mb, vs, deps)
        return deps

    def weight(self, head: str, mb: int, c: int, blocks: list[Block],
               final: bool) -> list[str]:
        deps = self.b_outputs.pop((mb, c))
        if COMPRESSED and self.plan.zero < 2 and not final:    # nothing between blocks
            return self.action("W", blocks, head, deps)
        for blk in reversed(blocks):
            pre = f"{head}.{blk.name}"
            deps = self.run(blk.wgt, pre, blk.name, deps, head)
            self.after_wgrad(blk, pre, deps, final, c)
            self.block_ends.append(deps)
        return deps

    def build(self) -> list[Op | Instance]:
        plan = self.plan
        deps: list[str] = []
        for i, a in enumerate(self.actions):
            c, mb = a.chunk, a.microbatch
            vs = c * plan.pp + plan.stage
            blocks = plan.chunks[c]
            head = f"{a.kind}.mb{mb}.c{c}"
            final = i == self.last_grad.get(c)
            if a.kind == "F":
                deps = self.forward(head, mb, vs, blocks)
            elif a.kind == "B":
                deps = self.backward(head, mb, vs, c, blocks, final)
            else:
                deps = self.weight(head, mb, c, blocks, final)
            if final and plan.zero < 2 and plan.overlap_grad_reduce:
                self.flush(plan.dense_family, deps, c)
                self.flush("edp", deps, c)
        return self.finish(deps)

    def finish(self, deps: list[str]) -> list[Op | Instance]:
        """Deferred gradient reductions, tied embeddings, optimizer, ZeRO 1/2 gathers."""
        plan = self.plan
        for blk, c in self.deferred:                 # overlap_grad_reduce = False
            self.add_grads(blk, deps, c)
        if self.deferred:
            last_c = self.deferred[-1][1]
            self.flush(plan.dense_family, deps, last_c)
            self.flush("edp", deps, last_c)
        if plan.tied_embedding_params > 0:           # sum the two copies' gradients
            self.ops.append(Op(id="embd.ar", kind="all_reduce", stream="dp", deps=tuple(deps),
                               bytes=plan.tied_embedding_params * plan.grad_bytes,
                               group="embd", layer="grad_sync"))
            self.last_dp[:] = ["embd.ar"]
        opt = self.run(plan.optimizer, "opt", "optimizer", deps + self.last_dp)
        if plan.zero in (1, 2) and plan.overlap_param_gather:
            _param_gather_ahead(self.ops, self.buckets, plan, self.sizes)
        elif plan.zero in (1, 2):
            for k, (family, params) in enumerate(self.buckets):
                self.collective(f"{family}.ag{k}", "all_gather", family,
                                params * plan.dtype_bytes, opt, "param_sync")
        return self.ops


def _param_gather_ahead(ops: list[Op | Instance], buckets: list, plan: StagePlan,
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
    first = next((p for p in ops if _first_forward_compute(p) is not None), None)
    if type(first) is Op:
        first.deps = tuple(first.deps) + (gathers[0].id,)
    elif first is not None:
        first.extra = (_first_forward_compute(first), (gathers[0].id,))
    ops[:0] = gathers


def _first_forward_compute(p: Op | Instance) -> int | None:
    """Step index of the first forward compute op in ``p`` (0 for a single op), or None."""
    if type(p) is Op:
        return 0 if p.id.startswith("F.") and p.kind == "compute" else None
    if not p.prefix.startswith("F"):
        return None
    return next((j for j, st in enumerate(p.template.steps) if st.kind == "compute"
                 and p.op_id(j).startswith("F.")), None)
