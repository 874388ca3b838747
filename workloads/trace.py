"""The clustersim trace format (version 1).

A trace says what every rank of a job executes in one training iteration (or
any other unit of work). It is plain JSON::

    {
      "format": "clustersim-trace",
      "version": 1,
      "name": "two-rank example",
      "world_size": 2,
      "placement": [0, 1],                 # rank -> GPU index (optional: identity)
      "groups": {"world": [[0, 1]]},       # communicator families
      "programs": [
        {"ranks": [0, 1],                  # ranks that run the same op list
         "ops": [
           {"id": "fwd", "kind": "compute", "flops": 1e12, "bytes": 2e9},
           {"id": "ar", "kind": "all_reduce", "group": "world",
            "bytes": 1048576, "stream": "comm", "deps": ["fwd"]}
         ]}
      ]
    }

Ops
    ``id`` (unique within its program), ``kind``, ``stream`` (default
    ``compute`` for compute ops, ``comm`` for the others), ``deps`` (ids of ops
    of the same program that must finish first). Ops of one stream run in
    order; ops of different streams overlap unless a dependency says otherwise.

    * ``compute``: ``flops`` and ``bytes`` (memory traffic, costed by the
      compute model) or ``duration_s`` (replayed as is). Optional ``category``
      (``gemm``, ``gemm_fp8``, ``attention``, ``elementwise``, ...) selects the
      efficiency and, for ``gemm_<precision>``, the tensor-core peak; optional
      ``dims`` ``[m, n, k]`` or ``[m, n, k, groups]`` gives a GEMM's output
      rows, output columns and reduction length (tile and wave quantisation);
      a ``host_sync`` op (the host issuing work, on its own stream) gives
      ``[units]`` of the host's work (MoE: local experts).
    * collectives ``all_reduce``, ``all_gather``, ``reduce_scatter``,
      ``all_to_all``, ``broadcast``, ``reduce``, ``barrier``: ``group`` (a
      family name from ``groups``; each rank uses the member list that
      contains it) and ``bytes`` (the buffer size: the full reduced buffer for
      all-reduce and reduce-scatter, the full gathered output for all-gather,
      the whole send buffer for all-to-all). Optional ``algorithm``.
    * ``send`` / ``recv``: ``bytes``, ``tag`` (default 0) and ``peer``, either
      an absolute rank (programs of a single rank only) or
      ``{"group": FAMILY, "offset": K}``: the member K places after this rank
      in its member list of that family (cyclic).

Groups
    ``groups`` maps a family name to a list of disjoint member lists. A
    collective on family ``tp`` issued by rank r runs on the list containing r.
    Collectives on one member list are matched in issue order (as NCCL
    communicators are): the k-th collective of every member must agree in kind
    and bytes.

Programs
    Each rank appears in exactly one program. Ranks sharing a program and a
    speed form a *rank class*, which the engine may simulate once (see the
    design's scale section).
"""
from __future__ import annotations

import graphlib
import json
import math
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from workloads.errors import InputError
from workloads.readers import read_json

FORMAT = "clustersim-trace"
VERSION = 1

COMPUTE = "compute"
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all",
               "broadcast", "reduce", "barrier")
P2P = ("send", "recv")
KINDS = (COMPUTE,) + COLLECTIVES + P2P
# Op categories the compute model knows (``sim/data/compute.yaml``; ``default``
# covers optimizer, embedding and loss unless a GPU lists them; ``host_sync`` is
# the GPU waiting for the host, see sim/compute.py).
CATEGORIES = ("default", "gemm", "gemm_fp8", "gemm_mxfp8", "gemm_nvfp4", "attention",
              "elementwise", "norm", "embedding", "loss", "optimizer", "host_sync")

# Sane limits: beyond them a trace is a mistake, and would exhaust memory or overflow.
MAX_RANKS = 1 << 17             # ranks (and GPU indices): per-rank state is kept
MAX_OP_FLOPS = 1e24             # one op: days of the fastest GPU
MAX_OP_BYTES = 2.0**60          # one op: 1 EiB
MAX_OP_DURATION_S = 1e6         # one op: 11.6 days
# Numbers the engine reads from ``meta`` (all optional): name -> must be > 0?
#: Peers of many ranks resolved with arrays (:meth:`Peer.resolve_all`);
#: False resolves them one rank at a time, the reference.
PEER_ARRAYS = True
META_NUMBERS = {"tokens_per_step": True, "model_flops_per_step": False,
                "hardware_flops_per_step": False, "memory_gb_per_gpu": False,
                "microbatches": True}


@dataclass(frozen=True, slots=True)
class Peer:
    """A point-to-point partner: an absolute rank or a position in a group."""

    rank: int | None = None
    group: str | None = None
    offset: int = 0

    def resolve(self, rank: int, trace: "Trace") -> int:
        if self.rank is not None:
            return self.rank
        tables = trace.member_arrays(self.group) if PEER_ARRAYS else None
        if tables is not None and 0 <= rank < len(tables[0]):
            list_of, pos_of, start, length, flat = tables
            at = int(list_of[rank])
            if at >= 0:
                return int(flat[int(start[at]) + (int(pos_of[rank]) + self.offset)
                                % int(length[at])])
        members, i = trace.member_position(self.group, rank)
        return members[(i + self.offset) % len(members)]

    def resolve_all(self, ranks: list[int], trace: "Trace") -> list[int]:
        """:meth:`resolve` of every rank of ``ranks``, in order: for a group
        peer from the family's member arrays (:meth:`Trace.member_arrays`)
        when the family has them and every rank is in one of its lists."""
        if self.rank is not None:
            return [self.rank] * len(ranks)
        tables = trace.member_arrays(self.group) if PEER_ARRAYS and ranks else None
        if tables is not None and abs(self.offset) < 1 << 62:
            list_of, pos_of, start, length, flat = tables
            r = np.asarray(ranks, dtype=np.int64)
            if r.min() >= 0 and r.max() < len(list_of):
                lists = list_of[r]
                if lists.min() >= 0:
                    return flat[start[lists] + (pos_of[r] + self.offset) % length[lists]].tolist()
        return [self.resolve(r, trace) for r in ranks]

    def to_json(self) -> Any:
        if self.rank is not None:
            return self.rank
        return {"group": self.group, "offset": self.offset}


@dataclass(slots=True)
class Op:
    """One operation of a program. Fields that do not apply to a kind stay None."""

    id: str
    kind: str
    stream: str
    deps: tuple[str, ...] = ()
    flops: float = 0.0
    bytes: float = 0.0
    duration_s: float | None = None
    category: str | None = None
    group: str | None = None
    algorithm: str | None = None
    peer: Peer | None = None
    tag: int = 0
    layer: str | None = None
    dims: tuple[float, ...] | None = None

    @property
    def is_compute(self) -> bool:
        return self.kind == COMPUTE

    @property
    def is_collective(self) -> bool:
        return self.kind in COLLECTIVES

    @property
    def is_p2p(self) -> bool:
        return self.kind in P2P

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "kind": self.kind, "stream": self.stream}
        if self.deps:
            d["deps"] = list(self.deps)
        if self.is_compute:
            if self.duration_s is not None:
                d["duration_s"] = self.duration_s
            else:
                d["flops"] = self.flops
                d["bytes"] = self.bytes
            if self.category:
                d["category"] = self.category
            if self.dims:
                d["dims"] = list(self.dims)
        else:
            d["bytes"] = self.bytes
        if self.group is not None:
            d["group"] = self.group
        if self.algorithm is not None:
            d["algorithm"] = self.algorithm
        if self.peer is not None:
            d["peer"] = self.peer.to_json()
            d["tag"] = self.tag
        if self.layer is not None:
            d["layer"] = self.layer
        return d


#: In a compressed program's template steps, the dependency index that stands
#: for the instance's incoming ids (see :mod:`workloads.generate.template`).
INCOMING = -1


class Program:
    """The ops one group of ranks runs, in program order.

    A generated program is held compressed: ``pieces`` is a list of single
    ops and of template instances (objects with ``expand(ops)``, ``n_ops``
    and ``template``; see :class:`workloads.generate.template.Instance`),
    each instance standing for one block's ops of one micro-batch. ``ops``
    expands the pieces on first use (the full list, read-only in spirit);
    assigning ``ops`` replaces the compressed form.
    """

    __slots__ = ("ranks", "_ops", "pieces")

    def __init__(self, ranks: list[int], ops: list[Op] | None = None,
                 pieces: list | None = None):
        if (ops is None) == (pieces is None):
            raise TypeError("Program takes ops or pieces, exactly one")
        self.ranks = ranks
        self._ops = ops
        self.pieces = pieces

    @property
    def ops(self) -> list[Op]:
        if self._ops is None:
            out: list[Op] = []
            for p in self.pieces:
                if type(p) is Op:
                    out.append(p)
                else:
                    p.expand(out)
            self._ops = out
        return self._ops

    @ops.setter
    def ops(self, ops: list[Op]) -> None:
        self._ops = ops
        self.pieces = None

    @property
    def compressed(self) -> bool:
        return self.pieces is not None

    def units(self) -> list:
        """The pieces when compressed, else the ops (each a piece of its own)."""
        return self.pieces if self.pieces is not None else self.ops

    def distinct_ops(self):
        """Every single op, and one op per step of each template used: the
        kinds, streams, groups and peers the program uses, without expanding it."""
        seen = set()
        for p in self.units():
            if type(p) is Op:
                yield p
            elif id(p.template) not in seen:
                seen.add(id(p.template))
                yield from p.template.proto_ops

    @property
    def n_ops(self) -> int:
        if self._ops is not None:
            return len(self._ops)
        return sum(1 if type(p) is Op else p.n_ops for p in self.pieces)

    def find_ops(self, kinds) -> list[tuple[int, Op]]:
        """(position, op) of every op whose kind is in ``kinds``, in program
        order; a compressed program expands only the instances that have one."""
        if self.pieces is None:
            return [(i, op) for i, op in enumerate(self._ops) if op.kind in kinds]

        def inside(p, k: int, out: list) -> None:
            ops: list[Op] = []
            p.expand(ops)
            out.extend((k + j, op) for j, op in enumerate(ops) if op.kind in kinds)
        return self._find(kinds, lambda t: any(st.kind in kinds for st in t.steps), inside)

    def find_steps(self, kinds) -> list[tuple[int, Op]]:
        """:meth:`find_ops` without building the ops of instances: inside an
        instance, the template step's prototype (kind, stream, group, peer,
        sizes; its id is the bare suffix and its deps are not the
        instance's) with the instance's own tag."""
        if self.pieces is None:
            return self.find_ops(kinds)
        steps: dict[int, tuple] = {}

        def inside(p, k: int, out: list) -> None:
            base = p.tag_base
            for j, proto, tagged in steps[id(p.template)]:
                out.append((k + j, replace(proto, tag=base + proto.tag) if tagged else proto))

        def has(t) -> bool:
            steps[id(t)] = _steps_of(t, kinds)
            return bool(steps[id(t)])
        return self._find(kinds, has, inside)

    def _find(self, kinds, has, inside) -> list[tuple[int, Op]]:
        """The single ops of a compressed program whose kind is in ``kinds``,
        and ``inside(instance, position, out)`` for each instance whose
        template ``has`` one (asked once per template)."""
        out: list[tuple[int, Op]] = []
        seen: dict[int, bool] = {}
        k = 0
        for p in self.pieces:
            if type(p) is Op:
                if p.kind in kinds:
                    out.append((k, p))
                k += 1
                continue
            t = p.template
            hit = seen.get(id(t))
            if hit is None:
                hit = seen[id(t)] = has(t)
            if hit:
                inside(p, k, out)
            k += len(t.steps)
        return out

    def __eq__(self, other) -> bool:
        return (isinstance(other, Program) and self.ranks == other.ranks
                and self.ops == other.ops)

    def __repr__(self) -> str:
        return f"Program(ranks={self.ranks!r}, ops=<{self.n_ops} ops>)"


def _steps_of(t, kinds) -> tuple:
    """(index, prototype, whether its tag counts from the instance's first
    tag) of each step of template ``t`` whose kind is in ``kinds``."""
    hits = [j for j, op in enumerate(t.proto_ops) if op.kind in kinds]
    if not hits:
        return ()
    tagged = t.tagged
    return tuple((j, t.proto_ops[j], tagged[j]) for j in hits)


@dataclass
class Trace:
    """A whole job: programs, communicator groups and rank placement."""

    world_size: int
    programs: list[Program]
    groups: dict[str, list[list[int]]] = field(default_factory=dict)
    placement: list[int] | None = None
    name: str = "trace"
    meta: dict[str, Any] = field(default_factory=dict)
    _member_index: dict[str, dict[int, int]] = field(default_factory=dict, repr=False)
    _member_pos: dict[str, dict[int, tuple]] = field(default_factory=dict, repr=False,
                                                     compare=False)
    _member_arrays: dict[str, tuple | None] = field(default_factory=dict, repr=False,
                                                    compare=False)

    # -- lookups -----------------------------------------------------------
    def gpu_of(self, rank: int) -> int:
        return rank if self.placement is None else self.placement[rank]

    def group_index(self, family: str, rank: int) -> int:
        """Index of the member list of ``family`` that contains ``rank``."""
        idx = self._member_index.get(family)
        if idx is None:
            idx = {r: i for i, members in enumerate(self.groups[family]) for r in members}
            self._member_index[family] = idx
        return idx[rank]

    def member_list(self, family: str, rank: int) -> list[int]:
        return self.groups[family][self.group_index(family, rank)]

    def member_position(self, family: str, rank: int) -> tuple[list[int], int]:
        """:meth:`member_list` of ``rank`` and the first position of ``rank`` in
        it (one table per family, built on first use)."""
        pos = self._member_pos.get(family)
        if pos is None:
            pos = self._member_pos[family] = {}
            for members in self.groups[family]:
                first: dict[int, int] = {}
                for i, r in enumerate(members):
                    first.setdefault(r, i)
                pos.update((r, (members, i)) for r, i in first.items())
        return pos[rank]

    def member_arrays(self, family: str) -> tuple | None:
        """Per rank: the index of its member list of ``family`` (-1: none) and
        its position there; per list: where it starts in the lists laid end to
        end, and its length; the lists laid end to end. None when a rank
        appears twice in the family (:meth:`member_position` then decides) or
        a member is not a rank number. Built on first use."""
        if family not in self._member_arrays:
            lists = self.groups[family]
            lengths = np.fromiter(map(len, lists), np.int64, len(lists))
            total = int(lengths.sum())
            flat = np.fromiter(chain.from_iterable(lists), np.int64, total) if all(
                type(r) is int for ms in lists for r in ms) else None
            tables = None
            if flat is not None and total and flat.min() >= 0 \
                    and np.bincount(flat).max() == 1:
                start = np.zeros(len(lists), dtype=np.int64)
                np.cumsum(lengths[:-1], out=start[1:])
                list_of = np.full(int(flat.max()) + 1, -1, dtype=np.int64)
                pos_of = np.zeros(len(list_of), dtype=np.int64)
                owner = np.repeat(np.arange(len(lists), dtype=np.int64), lengths)
                list_of[flat] = owner
                pos_of[flat] = np.arange(total, dtype=np.int64) - start[owner]
                tables = (list_of, pos_of, start, lengths, flat)
            self._member_arrays[family] = tables
        return self._member_arrays[family]

    def program_of_rank(self) -> list[int]:
        owner = [-1] * self.world_size
        for p, prog in enumerate(self.programs):
            for r in prog.ranks:
                owner[r] = p
        return owner

    # -- serialisation ---------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": self.name,
                             "world_size": self.world_size}
        if self.placement is not None:
            d["placement"] = list(self.placement)
        d["groups"] = self.groups
        if self.meta:
            d["meta"] = self.meta
        d["programs"] = [{"ranks": p.ranks, "ops": [o.to_json() for o in p.ops]}
                         for p in self.programs]
        return d

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))


# ---------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------

_OP_KEYS = {"id", "kind", "stream", "deps", "flops", "bytes", "duration_s", "category",
            "group", "algorithm", "peer", "tag", "layer", "dims"}
_TOP_KEYS = {"format", "version", "name", "world_size", "placement", "groups",
             "programs", "meta"}


def _num(v: Any, where: str, file: str | None, *, integer: bool = False,
         positive: bool = False, limit: float | None = None, why: str = "") -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    if ok and integer:
        ok = isinstance(v, int) or (math.isfinite(v) and float(v).is_integer())
    if ok:
        ok = v >= 0 and (v > 0 or not positive) and math.isfinite(v)
    if not ok:
        kind = "a positive" if positive else "a non-negative"
        raise InputError(f"expected {kind} finite {'integer' if integer else 'number'}",
                         file=file, field=where, value=v)
    if limit is not None and v > limit:
        raise InputError(f"more than {limit:.6g}{f' ({why})' if why else ''}",
                         file=file, field=where, value=v)
    return int(v) if integer else float(v)


def _text(v: Any, where: str, file: str | None, *, ints: bool = False) -> str:
    """A string (or, with ``ints``, an integer used as a name)."""
    if isinstance(v, str) or ints and isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise InputError(f"expected a string{' or an integer' if ints else ''}, "
                     f"got {type(v).__name__}", file=file, field=where, value=v)


def _list(v: Any, where: str, file: str | None, what: str) -> list:
    if not isinstance(v, list):
        raise InputError(f"{what} must be a list, got {type(v).__name__}", file=file,
                         field=where, value=v)
    return v


def _meta(v: Any, file: str | None) -> dict:
    if not isinstance(v, dict):
        raise InputError(f"meta must be an object, got {type(v).__name__}", file=file,
                         field="meta", value=v)
    for key, positive in META_NUMBERS.items():
        if key in v:
            _num(v[key], f"meta.{key}", file, positive=positive, limit=1e30)
    return dict(v)


def _parse_peer(v: Any, where: str, file: str | None) -> Peer:
    if isinstance(v, int) and not isinstance(v, bool):
        return Peer(rank=int(_num(v, where, file, integer=True)))
    if isinstance(v, dict) and set(v) <= {"group", "offset"} and "group" in v:
        off = v.get("offset", 0)
        if not isinstance(off, int) or isinstance(off, bool):
            raise InputError("peer offset must be an integer", file=file,
                             field=where + ".offset", value=off)
        return Peer(group=_text(v["group"], where + ".group", file), offset=off)
    raise InputError('peer must be a rank or {"group": NAME, "offset": K}',
                     file=file, field=where, value=v)


def parse_op(d: Any, where: str, file: str | None = None) -> Op:
    if not isinstance(d, dict):
        raise InputError("an op must be an object", file=file, field=where, value=d)
    unknown = set(d) - _OP_KEYS
    if unknown:
        k = sorted(unknown)[0]
        raise InputError(f"unknown op key (known: {', '.join(sorted(_OP_KEYS))})",
                         file=file, field=f"{where}.{k}", value=d[k])
    if "id" not in d:
        raise InputError("op has no id", file=file, field=where, value=d)
    oid = _text(d["id"], f"{where}.id", file, ints=True)
    kind = d.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise InputError(f"unknown op kind (known: {', '.join(KINDS)})", file=file,
                         field=f"{where}.kind", value=kind)
    stream = _text(d.get("stream", "compute" if kind == COMPUTE else "comm"),
                   f"{where}.stream", file)
    deps = _list(d.get("deps", []), f"{where}.deps", file, "deps (op ids)")
    category = d.get("category")
    if category is not None and (not isinstance(category, str) or category not in CATEGORIES):
        raise InputError(f"unknown category (known: {', '.join(CATEGORIES)})", file=file,
                         field=f"{where}.category", value=category)
    layer = d.get("layer")
    op = Op(id=oid, kind=kind, stream=stream, category=category,
            deps=tuple(_text(x, f"{where}.deps", file, ints=True) for x in deps),
            layer=None if layer is None else _text(layer, f"{where}.layer", file, ints=True))
    if kind == COMPUTE:
        if "duration_s" in d:
            op.duration_s = _num(d["duration_s"], f"{where}.duration_s", file,
                                 limit=MAX_OP_DURATION_S, why="seconds in one op")
        elif "flops" in d or "bytes" in d:
            op.flops = _num(d.get("flops", 0), f"{where}.flops", file, limit=MAX_OP_FLOPS,
                            why="FLOPs in one op: days on any GPU")
            op.bytes = _num(d.get("bytes", 0), f"{where}.bytes", file, limit=MAX_OP_BYTES,
                            why="bytes in one op")
        else:
            raise InputError("compute op needs flops/bytes or duration_s", file=file,
                             field=where, value=oid)
        if "dims" in d:
            dims = d["dims"]
            sizes = (1,) if op.category == "host_sync" else (3, 4)
            if not isinstance(dims, list) or len(dims) not in sizes:
                raise InputError("dims must be [units] for a host_sync op" if sizes == (1,)
                                 else "dims must be [m, n, k] or [m, n, k, groups]", file=file,
                                 field=f"{where}.dims", value=dims)
            op.dims = tuple(_num(x, f"{where}.dims", file, positive=True, limit=1e15)
                            for x in dims)
        return op
    op.bytes = _num(d.get("bytes", 0), f"{where}.bytes", file, limit=MAX_OP_BYTES,
                    why="bytes in one op")
    if kind in COLLECTIVES:
        if "group" not in d:
            raise InputError(f"{kind} needs a group", file=file, field=where, value=oid)
        op.group = _text(d["group"], f"{where}.group", file)
        if d.get("algorithm") is not None:
            op.algorithm = _text(d["algorithm"], f"{where}.algorithm", file)
    else:
        if "peer" not in d:
            raise InputError(f"{kind} needs a peer", file=file, field=where, value=oid)
        op.peer = _parse_peer(d["peer"], f"{where}.peer", file)
        op.tag = int(_num(d.get("tag", 0), f"{where}.tag", file, integer=True))
    return op


def from_json(data: Any, file: str | None = None) -> Trace:
    """Build and validate a :class:`Trace` from parsed JSON."""
    if not isinstance(data, dict):
        raise InputError("a trace must be a JSON object", file=file, field="(top)",
                         value=type(data).__name__)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        k = sorted(unknown)[0]
        raise InputError(f"unknown trace key (known: {', '.join(sorted(_TOP_KEYS))})",
                         file=file, field=k, value=data[k])
    if data.get("format", FORMAT) != FORMAT:
        raise InputError(f"not a {FORMAT} file", file=file, field="format",
                         value=data.get("format"))
    if data.get("version", VERSION) != VERSION:
        raise InputError(f"unsupported trace version (this clustersim reads {VERSION})",
                         file=file, field="version", value=data.get("version"))
    world = int(_num(data.get("world_size"), "world_size", file, integer=True, positive=True,
                     limit=MAX_RANKS, why="ranks; per-rank state would not fit in memory"))
    placement = data.get("placement")
    if placement is not None:
        if not isinstance(placement, list) or len(placement) != world:
            raise InputError(f"placement must list one GPU per rank ({world})", file=file,
                             field="placement", value=placement)
        placement = [int(_num(g, f"placement[{i}]", file, integer=True, limit=MAX_RANKS - 1,
                              why="GPU index; the cluster would be built up to it"))
                     for i, g in enumerate(placement)]
        if len(set(placement)) != world:
            raise InputError("two ranks placed on one GPU", file=file, field="placement",
                             value=placement)
    groups_raw = data.get("groups", {})
    if not isinstance(groups_raw, dict):
        raise InputError("groups must map a name to lists of ranks", file=file,
                         field="groups", value=groups_raw)
    groups: dict[str, list[list[int]]] = {}
    for fam, lists in groups_raw.items():
        if not isinstance(lists, list) or not all(isinstance(m, list) for m in lists):
            raise InputError("a group family is a list of member lists", file=file,
                             field=f"groups.{fam}", value=lists)
        seen: set[int] = set()
        out = []
        for i, members in enumerate(lists):
            ms = [int(_num(r, f"groups.{fam}[{i}]", file, integer=True)) for r in members]
            for r in ms:
                if r >= world:
                    raise InputError(f"rank out of range (world_size {world})", file=file,
                                     field=f"groups.{fam}[{i}]", value=r)
                if r in seen:
                    raise InputError("rank appears in two member lists of one family",
                                     file=file, field=f"groups.{fam}", value=r)
                seen.add(r)
            out.append(ms)
        groups[str(fam)] = out
    progs_raw = data.get("programs")
    if not isinstance(progs_raw, list) or not progs_raw:
        raise InputError("programs must be a non-empty list", file=file, field="programs",
                         value=progs_raw)
    programs = []
    for p, pd in enumerate(progs_raw):
        where = f"programs[{p}]"
        if not isinstance(pd, dict) or "ranks" not in pd or "ops" not in pd:
            raise InputError("a program needs ranks and ops", file=file, field=where,
                             value=pd if not isinstance(pd, dict) else sorted(pd))
        ranks = [int(_num(r, f"{where}.ranks", file, integer=True))
                 for r in _list(pd["ranks"], f"{where}.ranks", file, "ranks")]
        ops = [parse_op(o, f"{where}.ops[{i}]", file)
               for i, o in enumerate(_list(pd["ops"], f"{where}.ops", file, "ops"))]
        programs.append(Program(ranks=ranks, ops=ops))
    trace = Trace(world_size=world, programs=programs, groups=groups, placement=placement,
                  name=_text(data.get("name", "trace"), "name", file),
                  meta=_meta(data.get("meta", {}), file))
    validate(trace, file)
    return trace


def load(path: str | Path) -> Trace:
    """Read a trace file; every problem is an :class:`InputError` naming the file."""
    return from_json(read_json(path, "trace"), str(path))


def validate(trace: Trace, file: str | None = None) -> None:
    """Check ranks, ids, dependencies (existing, acyclic), groups and peers."""
    owner: dict[int, int] = {}
    for p, prog in enumerate(trace.programs):
        if not prog.ranks:
            raise InputError("program has no ranks", file=file, field=f"programs[{p}].ranks",
                             value=[])
        for r in prog.ranks:
            if not 0 <= r < trace.world_size:
                raise InputError(f"rank out of range (world_size {trace.world_size})",
                                 file=file, field=f"programs[{p}].ranks", value=r)
            if r in owner:
                raise InputError(f"rank already runs programs[{owner[r]}]", file=file,
                                 field=f"programs[{p}].ranks", value=r)
            owner[r] = p
    missing = sorted(set(range(trace.world_size)) - set(owner))
    if missing:
        raise InputError("ranks run no program", file=file, field="programs",
                         value=missing[:8])
    for p, prog in enumerate(trace.programs):
        _validate_program(trace, p, prog, file)


def _validate_program(trace: Trace, p: int, prog: Program, file: str | None) -> None:
    ids: dict[str, int] = {}
    for i, op in enumerate(prog.ops):
        where = f"programs[{p}].ops[{i}]"
        if op.id in ids:
            raise InputError("duplicate op id", file=file, field=f"{where}.id", value=op.id)
        ids[op.id] = i
        fam = op.group if op.is_collective else (op.peer.group if op.peer else None)
        if fam is not None:
            if fam not in trace.groups:
                raise InputError(f"unknown group family (known: {', '.join(trace.groups) or 'none'})",
                                 file=file, field=f"{where}.group", value=fam)
            idx = trace._member_index.get(fam) or {
                r: j for j, ms in enumerate(trace.groups[fam]) for r in ms}
            trace._member_index[fam] = idx
            outside = [r for r in prog.ranks if r not in idx]
            if outside:
                raise InputError(f"rank {outside[0]} is in no member list of group '{fam}'",
                                 file=file, field=where, value=op.id)
        if op.is_p2p and op.peer.rank is not None:
            if len(prog.ranks) != 1:
                raise InputError("an absolute peer needs a single-rank program; use "
                                 '{"group": ..., "offset": ...}', file=file,
                                 field=f"{where}.peer", value=op.peer.rank)
            if not 0 <= op.peer.rank < trace.world_size or op.peer.rank == prog.ranks[0]:
                raise InputError("peer must be another rank of the job", file=file,
                                 field=f"{where}.peer", value=op.peer.rank)
    for i, op in enumerate(prog.ops):
        for d in op.deps:
            if d not in ids:
                raise InputError("dependency on an unknown op", file=file,
                                 field=f"programs[{p}].ops[{i}].deps", value=d)
    cycle = find_cycle(prog.ops)
    if cycle:
        raise InputError(f"dependency cycle: {' -> '.join(cycle)}", file=file,
                         field=f"programs[{p}].ops")


def find_cycle(ops: list[Op]) -> list[str] | None:
    """A dependency cycle among ``ops`` (including in-stream order) as op ids, or None."""
    index = {op.id: i for i, op in enumerate(ops)}
    preds: dict[int, set[int]] = {}
    last_in_stream: dict[str, int] = {}
    for i, op in enumerate(ops):
        preds[i] = {index[d] for d in op.deps if d in index}
        if op.stream in last_in_stream:
            preds[i].add(last_in_stream[op.stream])
        last_in_stream[op.stream] = i
    try:
        graphlib.TopologicalSorter(preds).prepare()
    except graphlib.CycleError as e:       # each node precedes the next; first == last
        return [ops[i].id for i in e.args[1]]
    return None


def ops_by_id(ops: Iterable[Op]) -> dict[str, Op]:
    return {o.id: o for o in ops}
