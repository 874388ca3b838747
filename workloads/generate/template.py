"""Turning a list of work items into trace ops, fast.

An item list (one block's forward, backward, ...) is compiled once into a
:class:`Template`: op suffixes, kinds, streams, sizes and dependencies given as
indices into the template. Instantiating it for one micro-batch then only
formats ids and resolves indices, which keeps generation of 10^5-10^6 ops
quick.

Dependency rules (the items come in execution order):

* a compute item waits for the critical-path op before it;
* a blocking comm item (``overlap_with`` None) runs on its family's stream
  after the op before it, and the next op waits for it (tensor-parallel
  all-reduces are on the critical path);
* a comm item with ``overlap_with = X`` starts together with compute X (same
  dependencies) on its own stream (``<family>_overlap`` for families whose
  blocking collectives run on the compute stream), and the first op after X
  waits for both;
* a ``sendrecv_ring`` item is one ring step: a send to the next rank of its
  family (stream ``<family>_send``) and a receive from the previous one
  (``<family>_recv``) sharing a tag. Consecutive steps overlapping the same
  compute form a ring: each send forwards the block the previous step
  received (ring attention, Liu et al. 2023);
* collectives and rings on a family of size 1 are dropped (nothing to move);
* a host item (the host issuing work after a synchronisation) starts with
  the next compute item on stream ``host``, and the compute item it names
  (``join``) waits for it; its work units travel as ``dims``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from workloads.models.items import CommItem, ComputeItem, HostItem, Item
from workloads.trace import INCOMING, Op, Peer   # INCOMING: "whatever the block was told to wait for"

#: stream of each communicator family's collectives. Tensor- and
#: expert-parallel collectives block the computation that follows them and, as
#: in Megatron-LM, run on the compute stream; data-parallel reductions and
#: context-parallel exchanges run on their own streams and overlap compute.
STREAMS = {"tp": "compute", "cp": "cp", "ep": "compute", "etp": "compute", "dp": "dp", "edp": "dp",
           "dpcp": "dp", "pp": "pp"}


@dataclass(frozen=True, slots=True)
class Step:
    suffix: str
    kind: str
    stream: str
    deps: tuple[int, ...]
    flops: float = 0.0
    bytes: float = 0.0
    category: str | None = None
    group: str | None = None
    peer: Peer | None = None
    tag_slot: int = -1
    dims: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Template:
    """Compiled item list: ``steps``, the step indices the next op must wait
    for (``outputs``; INCOMING if the list produced no op), and the number of
    distinct point-to-point tags one instance uses."""

    steps: tuple[Step, ...]
    outputs: tuple[int, ...]
    n_tags: int
    #: a chain of templates (see :func:`compose`): (template, relative prefix, layer) each
    parts: tuple[tuple["Template", str, str | None], ...] | None = None
    #: per step its layer, in a chain (else every step takes the instance's)
    layers: tuple[str | None, ...] | None = None

    @cached_property
    def stream_names(self) -> tuple[str, ...]:
        """The streams the steps use, in order of first use."""
        return tuple(dict.fromkeys(st.stream for st in self.steps))

    @cached_property
    def proto_ops(self) -> tuple[Op, ...]:
        """One op per step (ids are the bare suffixes): what the steps are,
        for code that needs kinds, streams, groups and sizes, not instances."""
        ops: list[Op] = []
        Instance(self, "", None, (), 0).expand(ops)
        for op in ops:
            op.id = op.id[1:]
        return tuple(ops)

    @cached_property
    def tagged(self) -> tuple[bool, ...]:
        """Per step, whether its tag counts from the instance's first tag
        (a point-to-point step) rather than being 0."""
        ops: list[Op] = []
        Instance(self, "", None, (), 1).expand(ops)
        return tuple(op.tag != proto.tag for op, proto in zip(ops, self.proto_ops))


class Instance:
    """One use of a template in a program (one block of one micro-batch):
    what :func:`instantiate` would append, kept unexpanded. ``extra``:
    ``(step, ids)``, further dependencies of one step."""

    __slots__ = ("template", "prefix", "layer", "incoming", "tag_base", "extra")

    def __init__(self, template: Template, prefix: str, layer: str | None,
                 incoming: tuple[str, ...], tag_base: int):
        self.template = template
        self.prefix = prefix
        self.layer = layer
        self.incoming = incoming
        self.tag_base = tag_base
        self.extra: tuple[int, tuple[str, ...]] | None = None

    @property
    def n_ops(self) -> int:
        return len(self.template.steps)

    def op_id(self, step: int) -> str:
        return f"{self.prefix}.{self.template.steps[step].suffix}"

    def outputs(self) -> list[str]:
        """The ids the next op must wait for."""
        inc, steps, dot = self.incoming, self.template.steps, self.prefix + "."
        out: list[str] = []
        for d in self.template.outputs:
            if d == INCOMING:
                out.extend(inc)
            else:
                out.append(dot + steps[d].suffix)
        return out

    def expand(self, ops: list[Op]) -> None:
        """Append this instance's ops to ``ops``."""
        start = len(ops)
        t = self.template
        if t.parts is None:
            instantiate(t, ops, self.prefix, self.layer, self.incoming, self.tag_base)
        else:
            inc, tag = self.incoming, self.tag_base
            for sub, rel, layer in t.parts:
                inc = instantiate(sub, ops, f"{self.prefix}.{rel}", layer, inc, tag)
                tag += sub.n_tags
        if self.extra is not None:
            j, ids = self.extra
            op = ops[start + j]
            op.deps = tuple(op.deps) + ids


def compile_items(items: list[Item], group_sizes: dict[str, int]) -> Template:
    """Compile ``items`` (see the module docstring for the rules)."""
    steps: list[Step] = []
    used: dict[str, int] = {}
    n_tags = 0
    pending: list[int] = [INCOMING]          # what the next critical op waits for
    compute_deps: dict[str, tuple[int, ...]] = {}
    waiting: dict[str, list[CommItem]] = {}   # overlapping comms before their compute
    ring_recv: dict[tuple, int] = {}          # last ring receive per (family, overlap)
    hosts: list[HostItem] = []                # host items waiting for the next compute
    joins: dict[str, list[int]] = {}          # host steps each join item waits for

    def suffix(name: str) -> str:
        used[name] = used.get(name, 0) + 1
        return name if used[name] == 1 else f"{name}#{used[name]}"

    def emit_comm(it: CommItem, deps: tuple[int, ...]) -> list[int]:
        nonlocal n_tags
        size = group_sizes.get(it.group, 1)
        if size <= 1:
            return []
        if it.kind == "sendrecv_ring":
            base = suffix(it.name)
            chain = (it.group, it.overlap_with)
            sdeps = deps if chain not in ring_recv else deps + (ring_recv[chain],)
            steps.append(Step(f"{base}.send", "send", f"{it.group}_send", sdeps,
                              bytes=it.bytes, peer=Peer(group=it.group, offset=1),
                              tag_slot=n_tags))
            steps.append(Step(f"{base}.recv", "recv", f"{it.group}_recv", deps,
                              bytes=it.bytes, peer=Peer(group=it.group, offset=-1),
                              tag_slot=n_tags))
            n_tags += 1
            ring_recv[chain] = len(steps) - 1
            return [len(steps) - 2, len(steps) - 1]
        stream = STREAMS.get(it.group, it.group)
        if it.overlap_with is not None and stream == "compute":
            # declared to overlap a GEMM (the sequence-parallel re-gather
            # under its dgrad): its own stream, as Megatron-LM issues it async
            stream = f"{it.group}_overlap"
        steps.append(Step(suffix(it.name), it.kind, stream, deps,
                          bytes=it.bytes, group=it.group))
        return [len(steps) - 1]

    for it in items:
        if isinstance(it, HostItem):
            hosts.append(it)
        elif isinstance(it, ComputeItem):
            deps = tuple(dict.fromkeys(pending + joins.pop(it.name, [])))
            steps.append(Step(suffix(it.name), "compute", "compute", deps, flops=it.flops,
                              bytes=it.bytes, category=it.category, dims=it.dims))
            pending = [len(steps) - 1]
            compute_deps[it.name] = deps
            for h in hosts:
                steps.append(Step(suffix(h.name), "compute", "host", deps, category=h.category,
                                  dims=(h.units,)))
                joins.setdefault(h.join, []).append(len(steps) - 1)
            hosts = []
            for c in waiting.pop(it.name, []):
                pending += emit_comm(c, deps)
        elif it.overlap_with is None:
            outs = emit_comm(it, tuple(dict.fromkeys(pending)))
            if outs:
                pending = outs
        elif it.overlap_with in compute_deps:
            pending += emit_comm(it, compute_deps[it.overlap_with])
        else:
            waiting.setdefault(it.overlap_with, []).append(it)
    for h in hosts:                         # no compute after it: the block waits
        steps.append(Step(suffix(h.name), "compute", "host", tuple(dict.fromkeys(pending)),
                          category=h.category, dims=(h.units,)))
        pending = [len(steps) - 1]
    for waits in joins.values():            # join target never came: the next op waits
        pending += waits
    for comms in waiting.values():          # overlap target never came: blocking
        for c in comms:
            outs = emit_comm(c, tuple(dict.fromkeys(pending)))
            if outs:
                pending = outs
    return Template(tuple(steps), tuple(dict.fromkeys(pending)), n_tags)


def compose(parts: tuple[tuple[Template, str, str | None], ...]) -> Template:
    """One template for a chain of templates: each part waits for the outputs
    of the one before (the first for the instance's incoming ids); step
    suffixes are ``<relative prefix>.<suffix>``, tag slots follow one another.
    An instance of it with prefix P expands to exactly the ops of instances of
    the parts with prefixes ``P.<relative prefix>``, chained (a block's
    forward, recomputation and backward items of every layer of one
    micro-batch's action, referenced as one)."""
    steps: list[Step] = []
    layers: list[str | None] = []
    before: tuple[int, ...] = (INCOMING,)
    tags = 0

    def remap(ids, off: int) -> tuple[int, ...]:
        """Step indices of one part in the chain: INCOMING becomes the previous
        part's outputs, the rest shift by the part's offset (duplicates dropped)."""
        out: list[int] = []
        for d in ids:
            if d == INCOMING:
                out.extend(before)
            else:
                out.append(d + off)
        return tuple(dict.fromkeys(out))

    for t, rel, layer in parts:
        off = len(steps)
        for st in t.steps:
            steps.append(Step(f"{rel}.{st.suffix}", st.kind, st.stream,
                              remap(st.deps, off), st.flops, st.bytes, st.category,
                              st.group, st.peer, st.tag_slot + tags if st.tag_slot >= 0 else -1,
                              st.dims))
            layers.append(layer)
        before = remap(t.outputs, off)
        tags += t.n_tags
    return Template(tuple(steps), before, tags, tuple(parts), tuple(layers))


def instantiate(t: Template, ops: list[Op], prefix: str, layer: str,
                incoming: list[str], tag_base: int) -> list[str]:
    """Append one instance of ``t`` to ``ops``; ids are ``prefix.suffix``.

    ``incoming``: ids the instance's first ops wait for. ``tag_base``: first
    tag of this instance (it uses ``t.n_tags``). Returns the ids the next op
    must wait for.
    """
    ids: list[str] = []
    inc = tuple(dict.fromkeys(incoming))
    append = ops.append
    add_id = ids.append
    dot = prefix + "."
    for st in t.steps:
        sd = st.deps
        if sd == (INCOMING,):
            deps = inc
        elif INCOMING in sd:
            deps = []
            for d in sd:
                if d == INCOMING:
                    deps.extend(inc)
                else:
                    deps.append(ids[d])
            deps = tuple(deps)
        else:
            deps = tuple([ids[d] for d in sd])
        oid = dot + st.suffix
        add_id(oid)
        # positional: id, kind, stream, deps, flops, bytes, duration_s, category,
        # group, algorithm, peer, tag, layer, dims (millions of ops: keywords cost)
        append(Op(oid, st.kind, st.stream, deps, st.flops, st.bytes, None, st.category,
                  st.group, None, st.peer, tag_base + st.tag_slot if st.tag_slot >= 0 else 0,
                  layer, st.dims))
    out: list[str] = []
    for d in t.outputs:
        if d == INCOMING:
            out.extend(inc)
        else:
            out.append(ids[d])
    return out
