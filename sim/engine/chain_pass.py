"""Ordering passes over programs without expanding compressed ones.

A *chain* is a set of ops (``in_chain(op)`` true: some collectives, sends or
receives). :func:`serialised_pieces` decides whether each chain op can start
only after every earlier one has finished; :func:`ordered_positions`, per
chain op, whether it is ordered with every other one (one of the two
certainly ends before the other starts). Both are the single passes of
:mod:`sim.engine.private_families` (an op's value from the op before it on
its stream and from its dependencies), run piece by piece: a template
instance with no chain op only carries values from its inputs (its streams'
values, its incoming and extra ids' values) to its outputs, in a way fixed
by its template, computed once per template.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from workloads.trace import INCOMING, Op, Program

if TYPE_CHECKING:
    from workloads.generate.template import Template


def serialised_pieces(program: Program, in_chain) -> bool:
    """:func:`sim.engine.private_families.serialised_mask` on a compressed
    program without expanding it: whether each chain op (``in_chain(op)``
    true) can start only after every earlier one has finished.

    The pass carries, per op, how many chain ops are certainly finished when
    it ends. An instance's steps see only its streams' values, its incoming
    and extra ids' values and the count so far, and all of these are at most
    the count. A value below the count can never equal it again (the count
    only grows) and loses every max to one that can, so only whether each
    input is at the count matters: an instance's result is computed once per
    template and that pattern.
    """
    after: dict[str, int] = {}
    on_stream: dict[str, int] = {}
    get = after.get
    seen = 0
    masks: dict[int, tuple[bool, ...]] = {}
    memo: dict[tuple, tuple | None] = {}
    for p in program.pieces:
        if type(p) is Op:
            v = _latest(p, on_stream, get)
            if in_chain(p):
                if v != seen:
                    return False
                seen += 1
                v = seen
            after[p.id] = v
            on_stream[p.stream] = v
            continue
        t = p.template
        mask = _mask(masks, t, in_chain)
        names = t.stream_names
        j_extra, x, y = _instance_inputs(p, get)
        # a value below the count can never equal it again (the count only
        # grows) and loses every max to one that can: all such are alike
        key = (id(t), j_extra, tuple([1 if on_stream.get(n, 0) < seen else 0 for n in names]),
               1 if x < seen else 0, 1 if y < seen else 0)
        hit = memo.get(key)
        if hit is None and key not in memo:
            hit = memo[key] = _chain_block(t, mask, names, j_extra, key[2], key[3], key[4])
        if hit is None:
            return False
        n_chain, streams_below, outs_below = hit
        seen += n_chain
        for n, b in zip(names, streams_below):
            on_stream[n] = seen - b
        dot, steps = p.prefix + ".", t.steps
        for o, b in outs_below:
            after[dot + steps[o].suffix] = seen - b
    return True


def _instance_inputs(p, get) -> tuple[int, int, int]:
    """Of an instance, in a pass whose values combine by max: the step its
    extra ids feed (-1 if none), the largest value of its incoming ids and
    that of its extra ids."""
    x = max(map(get, p.incoming, [0] * len(p.incoming)), default=0)
    j_extra, extra = p.extra if p.extra is not None else (-1, ())
    return j_extra, x, max(map(get, extra, [0] * len(extra)), default=0)


def _latest(op: Op, on_stream: dict, get) -> int:
    """The largest value of ``op``'s stream so far and of its dependencies."""
    v = on_stream.get(op.stream, 0)
    for d in op.deps:
        w = get(d, 0)
        if w > v:
            v = w
    return v


def _chain_block(t: Template, mask, names, j_extra: int, streams_below, x_below: int,
                 y_below: int):
    """One instance of ``t`` in the chain pass, with values as distances
    below the count at its start (count 0 here, so values are negatives)."""
    cur = {n: -b for n, b in zip(names, streams_below)}
    vals: list[int] = []
    seen = 0
    for j, st in enumerate(t.steps):
        v = cur[st.stream]
        for d in st.deps:
            w = -x_below if d == INCOMING else vals[d]
            if w > v:
                v = w
        if j == j_extra and -y_below > v:
            v = -y_below
        if mask[j]:
            if v != seen:
                return None
            seen += 1
            v = seen
        vals.append(v)
        cur[st.stream] = v
    return (seen, tuple(seen - cur[n] for n in names),
            tuple((o, seen - vals[o]) for o in t.outputs if o != INCOMING))


def ordered_positions(program: Program, in_chain, inject: dict[int, int] | None = None,
                      watch=None, starts: dict[int, int] | None = None
                      ) -> dict[int, tuple[bool, Op]]:
    """:func:`sim.engine.private_families.ordered_ops` on a program, compressed
    or not: per position of a chain op, whether it is ordered with every
    other chain op, and the op (a template step's prototype inside an
    instance: kind, stream, group and peer, not its id).

    Values are bitsets of the chain ops certainly finished when an op ends.
    An instance ORs its inputs, and the bits of its chain steps, into its
    outputs along paths fixed by its template, found once per template
    (:func:`_through`).

    ``inject`` adds knowledge from outside the program: position ``i`` of a
    single op (a piece of its own) -> position ``j`` of a single chain op
    known to have ended when op ``i`` ends (see :mod:`sim.engine.round_trips`);
    op ``i`` then also follows everything op ``j`` follows. A ``j`` not yet
    passed when ``i`` is reached adds nothing (conservative).

    ``watch``: a predicate on single ops; ``starts[i]`` is then set, for each
    watched op at position ``i``, to the chain ops certainly finished when it
    can start, as a bitset over the chain ops in the order of the result.
    """
    ends_at: dict[int, int] = {}
    after: dict[str, int] = {}
    on_stream: dict[str, int] = {}
    get = after.get
    bad = m = 0
    chain_at: list[tuple[int, Op]] = []
    masks: dict[int, tuple[bool, ...]] = {}
    passing: dict[tuple[int, int], tuple | None] = {}
    k = 0
    for p in program.units():
        if type(p) is Op:
            v = on_stream.get(p.stream, 0)
            for d in p.deps:
                v |= get(d, 0)
            if inject is not None:
                src = inject.get(k)
                if src is not None:
                    v |= ends_at.get(src, 0)
            if watch is not None and watch(p):
                starts[k] = v
            if in_chain(p):
                bit = 1 << m
                missing = (bit - 1) & ~v
                if missing:
                    bad |= missing | bit
                chain_at.append((k, p))
                m += 1
                v |= bit
                if inject is not None:
                    ends_at[k] = v
            after[p.id] = v
            on_stream[p.stream] = v
            k += 1
            continue
        t = p.template
        j_extra, extra = p.extra if p.extra is not None else (-1, ())
        x = 0
        for d in p.incoming:
            x |= get(d, 0)
        y = 0
        for d in extra:
            y |= get(d, 0)
        hit = passing.get((id(t), j_extra))
        if hit is None:
            hit = passing[(id(t), j_extra)] = _through(t, j_extra, _mask(masks, t, in_chain))
        names, chains, finals, outs, n_steps = hit
        inputs = [on_stream.get(n, 0) for n in names]
        inputs.append(x)
        inputs.append(y)
        if chains:
            below = (1 << m) - 1
            protos = t.proto_ops
            for c, (j, slots, inner) in enumerate(chains):
                v = 0
                for i in slots:
                    v |= inputs[i]
                missing = (below & ~v) | ((((1 << c) - 1) & ~inner) << m)
                if missing:
                    bad |= missing | (1 << (m + c))
                chain_at.append((k + j, protos[j]))
        for n, slots, inner in finals:
            if len(slots) == 1 and not inner:
                on_stream[n] = inputs[slots[0]]
                continue
            v = inner << m
            for i in slots:
                v |= inputs[i]
            on_stream[n] = v
        dot = p.prefix
        for suffix, slots, inner in outs:
            v = inner << m
            for i in slots:
                v |= inputs[i]
            after[dot + suffix] = v
        m += len(chains)
        k += n_steps
    return {pos: (not (bad >> j) & 1, op) for j, (pos, op) in enumerate(chain_at)}


def latest_markers(program: Program, is_marker, watch) -> dict[int, int]:
    """Per position of a watched single op (a piece of its own, ``watch(op)``
    true; watched steps inside instances are not reported): ``c`` such that marker number ``c - 1`` (markers counted in
    program order, ``is_marker(op)`` true, single ops or template steps) has
    certainly ended when the op can start; 0 if none is known to have.

    Values are such counts, combined by max (the larger of two markers known
    to have ended has ended); an instance with neither markers nor watched
    steps takes the max of its inputs along the paths of :func:`_through`.
    """
    after: dict[str, int] = {}
    on_stream: dict[str, int] = {}
    get = after.get
    out: dict[int, int] = {}
    masks: dict[int, tuple[bool, ...]] = {}
    through: dict[tuple[int, int], tuple] = {}
    m = k = 0
    for p in program.units():
        if type(p) is Op:
            v = _latest(p, on_stream, get)
            if watch(p):
                out[k] = v
            if is_marker(p):
                m += 1
                v = m
            after[p.id] = on_stream[p.stream] = v
            k += 1
            continue
        t = p.template
        mask = _mask(masks, t, is_marker)
        names = t.stream_names
        j_extra, x, y = _instance_inputs(p, get)
        inputs = [on_stream.get(n, 0) for n in names] + [x, y]
        dot, steps = p.prefix + ".", t.steps
        if not any(mask):
            hit = through.get((id(t), j_extra))
            if hit is None:
                hit = through[(id(t), j_extra)] = _through(t, j_extra, mask)
            _, _, finals, outs, n_steps = hit
            for n, slots, _ in finals:
                on_stream[n] = max([inputs[i] for i in slots], default=0)
            for suffix, slots, _ in outs:
                after[p.prefix + suffix] = max([inputs[i] for i in slots], default=0)
            k += n_steps
            continue
        cur = dict(zip(names, inputs))
        vals: list[int] = []
        for j, st in enumerate(steps):
            v = cur[st.stream]
            for d in st.deps:
                w = x if d == INCOMING else vals[d]
                if w > v:
                    v = w
            if j == j_extra and y > v:
                v = y
            if mask[j]:
                m += 1
                v = m
            vals.append(v)
            cur[st.stream] = v
        on_stream.update(cur)
        for o in t.outputs:
            if o != INCOMING:
                after[dot + steps[o].suffix] = vals[o]
        k += len(steps)
    return out


def _through(t: "Template", j_extra: int, mask: tuple[bool, ...]) -> tuple:
    """How an instance of ``t`` carries values, found once: its stream
    names; per chain step (``mask``), its index, the input slots (its
    streams' values in ``stream_names`` order, then incoming, then extra)
    that reach it and, as a bitset over the template's chain steps, those
    that reach it; the same (slots, chain steps) per stream's last step and
    per output (as ``.suffix``); its length. A step's value in the pass is
    the OR of the inputs that reach it and the bits of the chain steps that
    reach it (each chain step's value holds its own bit and all it follows)."""
    names = t.stream_names
    n = len(names)
    cur = {name: (1 << i, 0) for i, name in enumerate(names)}
    vals: list[tuple[int, int]] = []
    chains = []
    for j, st in enumerate(t.steps):
        a, b = cur[st.stream]
        for d in st.deps:
            a2, b2 = ((1 << n), 0) if d == INCOMING else vals[d]
            a, b = a | a2, b | b2
        if j == j_extra:
            a |= 1 << (n + 1)
        if mask[j]:
            chains.append((j, _slots(a, n + 2), b))
            b |= 1 << (len(chains) - 1)
        vals.append((a, b))
        cur[st.stream] = (a, b)
    finals = tuple((name, _slots(cur[name][0], n + 2), cur[name][1]) for name in names)
    outs = tuple(("." + t.steps[o].suffix, _slots(vals[o][0], n + 2), vals[o][1])
                 for o in t.outputs if o != INCOMING)
    return names, tuple(chains), finals, outs, len(t.steps)


def _slots(v: int, n: int) -> tuple[int, ...]:
    return tuple(i for i in range(n) if v >> i & 1)


def _mask(masks: dict, t: "Template", in_chain) -> tuple[bool, ...]:
    """Per step of ``t``, whether it is a chain op (cached in ``masks``)."""
    mask = masks.get(id(t))
    if mask is None:
        mask = masks[id(t)] = tuple(in_chain(op) for op in t.proto_ops)
    return mask
