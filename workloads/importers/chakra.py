"""Chakra execution traces (ET) in, clustersim traces out.

A Chakra workload is one file per rank, ``<prefix>.<rank>.et``: a
``GlobalMetadata`` message, then ``Node`` messages, each preceded by its byte
length as a base-128 varint (schema: :mod:`workloads.importers.et_schema`).

Mapping (ASTRA-sim's reading of the same attributes):

* ``COMP_NODE``: a compute op replayed for ``duration_micros`` when it is
  non-zero, else costed by the roofline from ``num_ops`` (FLOPs) and
  ``tensor_size`` (bytes moved). ``is_cpu_op`` true puts it on stream
  ``cpu`` (absent means a GPU op, stream ``compute``): one op at a time per
  stream, as ASTRA-sim's hardware resource runs one CPU and one GPU op.
* ``COMM_COLL_NODE``: a collective of kind ``comm_type`` moving ``comm_size``
  bytes on the communicator ``pg_name`` (a group of the ``--comm-groups`` map
  ``{group_id: [ranks]}``); without a group, on the network dimensions that
  ``involved_dim`` marks, else on the whole world. Collectives of one
  communicator run in issue order on a stream of their own (``comm``,
  ``comm:<pg_name>``, ``comm:dims<mask>``), as NCCL orders them.
  ``GATHER``, ``SCATTER`` and ``REDUCE_SCATTER_BLOCK`` are reported as
  unsupported.
* ``COMM_SEND_NODE`` / ``COMM_RECV_NODE``: a send to ``comm_dst`` / a recv
  from ``comm_src`` of ``comm_size`` bytes with tag ``comm_tag``; each peer
  has its own send and recv stream so exchanges do not deadlock.
* ``METADATA_NODE``: a zero-time op (kept so dependencies through it hold).
  ``MEM_LOAD_NODE`` / ``MEM_STORE_NODE``: a memory-bound op moving
  ``tensor_size`` bytes (or ``duration_micros``) on stream ``mem``. Other
  node types (``STORAGE_NODE``, ``BATCH_NODE``, ...) are reported.
* Attribute values are read whichever type of the schema's ``value`` oneof
  holds them: any integer type, a whole ``double``, ``comm_type`` also as the
  enum name (``"ALL_REDUCE"``); anything else is an error naming the file,
  node and attribute.
* ``data_deps`` and ``ctrl_deps`` both become dependencies, except a control
  dependency on a node whose recorded time span (``start_time_micros``,
  ``duration_micros``) encloses the child's: that is a parent link (op
  nesting, as Chakra's PyTorch converter writes it), not an order. Tools
  disagree on ``ctrl_deps`` (orders for some, caller links for others) and
  ASTRA-sim's reference feeder resolves ``data_deps`` only: ``deps="data"``
  (``--chakra-deps data``) reads them as it does.

Ranks whose files are byte-identical (and hold no send/recv, whose peers are
absolute) share one program, so folding works on imported traces.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from workloads.errors import InputError
from workloads.importers import et_schema as S
from workloads.trace import Op, Peer, Program, Trace, find_cycle

COLLECTIVE_KINDS = {"ALL_REDUCE": "all_reduce", "REDUCE": "reduce", "ALL_GATHER": "all_gather",
                    "BROADCAST": "broadcast", "ALL_TO_ALL": "all_to_all",
                    "REDUCE_SCATTER": "reduce_scatter", "BARRIER": "barrier"}
WORLD = "world"


# ---------------------------------------------------------------------------
# Reading the length-delimited stream
# ---------------------------------------------------------------------------

def _varint(buf: bytes, pos: int, file: str, index: int) -> tuple[int, int]:
    result = shift = 0
    start = pos
    while True:
        if pos >= len(buf):
            raise InputError(f"truncated file: length prefix of message {index} at byte "
                             f"{start} is cut off", file=file)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise InputError(f"corrupt length prefix of message {index} at byte {start}",
                             file=file)


def read_messages(data: bytes, file: str) -> list[bytes]:
    """The length-delimited messages of one ET file, as raw bytes."""
    out = []
    pos = 0
    while pos < len(data):
        n, body = _varint(data, pos, file, len(out))
        if body + n > len(data):
            err = InputError(f"truncated file: message {len(out)} at byte {pos} declares "
                             f"{n} bytes but only {len(data) - body} remain", file=file)
            err.complete = out          # the messages read before the cut
            raise err
        out.append(data[body:body + n])
        pos = body + n
    return out


def _known_field_mismatch(msg, max_field: int) -> int | None:
    """A field number <= ``max_field`` that arrived with the wrong wire type."""
    from google.protobuf.unknown_fields import UnknownFieldSet
    for f in UnknownFieldSet(msg):
        if f.field_number <= max_field:
            return f.field_number
    return None


@dataclass
class EtNode:
    """One decoded Chakra node (the attributes clustersim uses)."""

    id: int
    name: str
    type: int
    deps: tuple[int, ...]
    duration_us: int
    attrs: dict
    start_us: int = 0


def _attr_value(a):
    which = a.WhichOneof("value")
    if which is None:
        return None
    v = getattr(a, which)
    return list(v.values) if which.endswith("_list") else v


#: how ``ctrl_deps`` are read: ``all`` (orders, except enclosing parents; the default)
#: or ``data`` (ignored, as ASTRA-sim's reference feeder resolves ``data_deps`` only)
DEPS = ("all", "data")


def decode_file(data: bytes, file: str, deps: str = "all") -> tuple[dict, list[EtNode]]:
    """GlobalMetadata (as a dict) and nodes of one ET file (``deps``: see :data:`DEPS`)."""
    from google.protobuf.message import DecodeError
    Meta, Node, _ = S.messages()
    try:
        raw = read_messages(data, file)
    except InputError as e:
        done = getattr(e, "complete", [])
        if len(done) < 2:
            raise
        try:
            last = Node.FromString(done[-1])
        except DecodeError:
            raise e from None
        raise InputError(f"{e.message}, after node {last.id} ({last.name!r})",
                         file=file) from None
    if not raw:
        raise InputError("empty ET file (expected a GlobalMetadata message, then nodes)",
                         file=file)
    try:
        meta = Meta.FromString(raw[0])
    except DecodeError:
        meta = None
    if meta is None or _known_field_mismatch(meta, 2) is not None:
        raise InputError("wrong message: message 0 is not a Chakra GlobalMetadata",
                         file=file)
    meta_d = {"version": meta.version, **{a.name: _attr_value(a) for a in meta.attr}}
    nodes, ctrl = [], []
    for i, body in enumerate(raw[1:], start=1):
        try:
            node = Node.FromString(body)
        except DecodeError:
            node = None
        bad = None if node is None else _known_field_mismatch(node, 10)
        if node is None or bad is not None:
            extra = f" (field {bad} has the wrong wire type)" if bad else ""
            raise InputError(f"wrong message: message {i} is not a Chakra Node{extra}",
                             file=file)
        attrs = {a.name: _attr_value(a) for a in node.attr}
        control = tuple(node.ctrl_deps) if deps == "all" else ()
        nodes.append(EtNode(node.id, node.name, node.type, tuple(node.data_deps) + control,
                            node.duration_micros, attrs, node.start_time_micros))
        ctrl.append(control)
    _drop_enclosing_parents(nodes, ctrl)
    return meta_d, nodes


def _drop_enclosing_parents(nodes: list[EtNode], ctrl: list[tuple[int, ...]]) -> None:
    """Control dependencies on a node whose recorded time span encloses the child's are
    parent links (Chakra's PyTorch converter records op nesting so), not an order."""
    by_id = {n.id: n for n in nodes}
    for n, parents in zip(nodes, ctrl):
        if not parents or not n.start_us:
            continue
        drop = set()
        for pid in parents:
            p = by_id.get(pid)
            if (p is not None and p.start_us and p.start_us <= n.start_us
                    and n.start_us + n.duration_us <= p.start_us + p.duration_us):
                drop.add(pid)
        if drop:
            data = n.deps[:len(n.deps) - len(parents)]
            n.deps = data + tuple(d for d in parents if d not in drop or d in data)


# ---------------------------------------------------------------------------
# Files of a workload
# ---------------------------------------------------------------------------

def rank_files(prefix: str, world_size: int | None = None) -> list[Path]:
    """``<prefix>.<rank>.et`` for ranks 0..world_size-1 (found on disk if None)."""
    p = Path(prefix)
    if world_size is None:
        pat = re.compile(re.escape(p.name) + r"\.(\d+)\.et$")
        folder = p.parent if str(p.parent) else Path(".")
        ranks = sorted(int(m.group(1)) for f in (folder.iterdir() if folder.is_dir() else [])
                       if (m := pat.match(f.name)))
        if not ranks:
            raise InputError("no Chakra ET files <prefix>.<rank>.et found",
                             field="--chakra", value=prefix)
        world_size = ranks[-1] + 1
    files = [Path(f"{prefix}.{r}.et") for r in range(world_size)]
    for f in files:
        if not f.is_file():
            raise InputError(f"missing rank file (world size {world_size})", file=str(f))
    extra = Path(f"{prefix}.{world_size}.et")
    if extra.is_file():
        raise InputError(f"rank file beyond the network's {world_size} NPUs (npus_count); "
                         "the trace has more ranks than the network", file=str(extra))
    return files


def load_comm_groups(path: str | None, world_size: int) -> dict[str, list[int]] | None:
    """ASTRA-sim's communicator group map ``{group_id: [ranks]}``, validated."""
    if path is None:
        return None
    from workloads.readers import read_json
    data = read_json(path, "communicator groups")
    if not isinstance(data, dict):
        raise InputError("communicator groups must map a group id to a list of ranks",
                         file=path, field="(top)", value=type(data).__name__)
    groups = {}
    for gid, ranks in data.items():
        if not isinstance(ranks, list) or not ranks or not all(
                isinstance(r, int) and not isinstance(r, bool) for r in ranks):
            raise InputError("a group is a non-empty list of rank numbers", file=path,
                             field=str(gid), value=ranks)
        for r in ranks:
            if not 0 <= r < world_size:
                raise InputError(f"group names rank {r}, absent from the {world_size}-rank "
                                 "workload", file=path, field=str(gid), value=ranks)
        if len(set(ranks)) != len(ranks):
            raise InputError("group lists a rank twice", file=path, field=str(gid), value=ranks)
        groups[str(gid)] = list(ranks)
    return groups


# ---------------------------------------------------------------------------
# Nodes -> ops
# ---------------------------------------------------------------------------

def _int_attr(node: EtNode, key: str, file: str, default=None):
    """A non-negative integer attribute, whichever value type of the schema holds it
    (any integer type; a whole ``double``/``float`` as some writers store sizes)."""
    v = node.attrs.get(key, default)
    if v is None:
        raise InputError(f"node {node.id} ({node.name!r}) has no '{key}' attribute", file=file,
                         field=f"node {node.id}.attr.{key}")
    if isinstance(v, float) and v.is_integer() and 0 <= v < 2.0**64:
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise InputError(f"node {node.id} ({node.name!r}): '{key}' must be a non-negative "
                         "integer", file=file, field=f"node {node.id}.attr.{key}", value=v)
    return v


def _op_id(nid: int) -> str:
    return str(nid)


@dataclass
class Workload:
    """What node conversion needs to know of the whole job.

    ``groups``: the ``--comm-groups`` map (or None); ``dims``: the network's
    dimension sizes, for ``involved_dim`` (or None); ``families``: the
    communicator families the converted collectives use (filled in).
    """

    world: int
    groups: dict | None = None
    dims: list[int] | None = None
    roofline: bool = False
    families: dict = field(default_factory=dict)


def dim_groups(dims: list[int], involved: list[bool]) -> list[list[int]]:
    """Rank groups spanning the ``involved`` dimensions (ASTRA-sim's rank coordinates)."""
    total = 1
    for n in dims:
        total *= n
    strides = [1]
    for n in dims[:-1]:
        strides.append(strides[-1] * n)
    groups: dict[tuple, list[int]] = {}
    for r in range(total):
        key = tuple((r // st) % n for st, n, inv in zip(strides, dims, involved) if not inv)
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def _communicator(node: EtNode, ranks: list[int], w: Workload, file: str) -> tuple[str, str]:
    """(group family, stream) of a collective node."""
    where = f"node {node.id} ({node.name!r})"
    pg = node.attrs.get("pg_name")
    if w.groups is not None and pg is not None:
        pg = str(pg)
        if pg not in w.groups:
            raise InputError(f"{where}: communicator group not in the groups file "
                             f"(groups: {', '.join(w.groups)})", file=file,
                             field=f"node {node.id}.attr.pg_name", value=pg)
        outside = [r for r in ranks if r not in w.groups[pg]]
        if outside:
            raise InputError(f"{where}: rank {outside[0]} is not a member of group {pg} "
                             f"{w.groups[pg]}", file=file,
                             field=f"node {node.id}.attr.pg_name", value=pg)
        w.families[f"pg:{pg}"] = [w.groups[pg]]
        return f"pg:{pg}", f"comm:{pg}"
    involved = node.attrs.get("involved_dim")
    if isinstance(involved, list) and involved and not all(involved):
        if w.dims is None or len(involved) != len(w.dims):
            raise InputError(f"{where}: involved_dim names {len(involved)} dimensions but the "
                             f"network has {len(w.dims) if w.dims else 'no known'} dimensions",
                             file=file, field=f"node {node.id}.attr.involved_dim",
                             value=involved)
        mask = "".join("1" if b else "0" for b in involved)
        w.families[f"dims:{mask}"] = dim_groups(w.dims, [bool(b) for b in involved])
        return f"dims:{mask}", f"comm:dims{mask}"
    w.families[WORLD] = [list(range(w.world))]
    return WORLD, "comm"


def node_to_op(node: EtNode, ranks: list[int], w: Workload, file: str) -> Op:
    oid = _op_id(node.id)
    deps = tuple(_op_id(d) for d in dict.fromkeys(node.deps))
    dur = node.duration_us / 1e6 if node.duration_us else None
    t = node.type
    where = f"node {node.id} ({node.name!r})"
    if t == S.COMP_NODE:
        cpu = bool(node.attrs.get("is_cpu_op", False))
        op = Op(oid, "compute", "cpu" if cpu else "compute", deps, layer=node.name or None)
        costed = "num_ops" in node.attrs or "tensor_size" in node.attrs
        if not costed or (dur is not None and not w.roofline):
            op.duration_s = dur or 0.0
        else:
            op.flops = float(_int_attr(node, "num_ops", file, 0))
            op.bytes = float(_int_attr(node, "tensor_size", file, 0))
        return op
    if t == S.METADATA_NODE:
        return Op(oid, "compute", "meta", deps, duration_s=0.0)
    if t in (S.MEM_LOAD_NODE, S.MEM_STORE_NODE):
        op = Op(oid, "compute", "mem", deps, category="elementwise")
        if dur is not None:
            op.duration_s = dur
        else:
            op.bytes = float(_int_attr(node, "tensor_size", file))
        return op
    if t not in (S.COMM_COLL_NODE, S.COMM_SEND_NODE, S.COMM_RECV_NODE):
        tname = S.NODE_TYPE_NAMES.get(t, str(t))
        raise InputError(f"{where}: node type {tname} is not supported (supported: COMP_NODE, "
                         "COMM_COLL_NODE, COMM_SEND_NODE, COMM_RECV_NODE, METADATA_NODE, "
                         "MEM_LOAD_NODE, MEM_STORE_NODE)", file=file,
                         field=f"node {node.id}.type", value=tname)
    size = float(_int_attr(node, "comm_size", file, 0 if t == S.COMM_COLL_NODE else None))
    if t == S.COMM_COLL_NODE:
        ctype = node.attrs.get("comm_type")
        if isinstance(ctype, str) and ctype.strip().upper() in S.COLLECTIVE_TYPES:
            name = ctype.strip().upper()            # the enum value's name, as text
        else:
            ctype = ctype if isinstance(ctype, str) else _int_attr(node, "comm_type", file)
            name = S.COLLECTIVE_TYPE_NAMES.get(ctype)
        kind = COLLECTIVE_KINDS.get(name)
        if kind is None:
            raise InputError(f"{where}: collective {name or ctype} is not supported "
                             f"(supported: {', '.join(COLLECTIVE_KINDS)})", file=file,
                             field=f"node {node.id}.attr.comm_type", value=ctype)
        family, stream = _communicator(node, ranks, w, file)
        return Op(oid, kind, stream, deps, bytes=size, group=family, layer=node.name or None)
    send = t == S.COMM_SEND_NODE
    key = "comm_dst" if send else "comm_src"
    peer = _int_attr(node, key, file)
    if peer >= w.world or peer in ranks:
        raise InputError(f"{where}: peer must be another rank of the {w.world}-rank "
                         "workload", file=file, field=f"node {node.id}.attr.{key}", value=peer)
    tag = _int_attr(node, "comm_tag", file, 0)
    stream = f"send->{peer}" if send else f"recv<-{peer}"
    return Op(oid, "send" if send else "recv", stream, deps, bytes=size,
              peer=Peer(rank=peer), tag=tag, layer=node.name or None)


def _ordered(nodes: list[EtNode], file: str) -> list[EtNode]:
    """Nodes in a dependency-respecting order, file order among ready nodes."""
    import heapq
    index = {}
    for i, n in enumerate(nodes):
        if n.id in index:
            raise InputError(f"duplicate node id {n.id} ({n.name!r})", file=file,
                             field=f"node {n.id}.id", value=n.id)
        index[n.id] = i
    succ: list[list[int]] = [[] for _ in nodes]
    indeg = [0] * len(nodes)
    for i, n in enumerate(nodes):
        for d in dict.fromkeys(n.deps):
            j = index.get(d)
            if j is None:
                raise InputError(f"node {n.id} ({n.name!r}) depends on node {d}, which is "
                                 "not in the file", file=file, field=f"node {n.id}.deps",
                                 value=d)
            if j == i:
                raise InputError(f"node {n.id} ({n.name!r}) depends on itself", file=file,
                                 field=f"node {n.id}.deps", value=d)
            succ[j].append(i)
            indeg[i] += 1
    ready = [i for i, d in enumerate(indeg) if d == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        i = heapq.heappop(ready)
        out.append(nodes[i])
        for k in succ[i]:
            indeg[k] -= 1
            if indeg[k] == 0:
                heapq.heappush(ready, k)
    if len(out) != len(nodes):
        stuck = next(nodes[i] for i, d in enumerate(indeg) if d > 0)
        raise InputError(f"dependency cycle through node {stuck.id} ({stuck.name!r})",
                         file=file, field=f"node {stuck.id}.deps", value=list(stuck.deps))
    return out


def rank_ops(nodes: list[EtNode], ranks: list[int], w: Workload, file: str) -> list[Op]:
    ops = [node_to_op(n, ranks, w, file) for n in _ordered(nodes, file)]
    cycle = find_cycle(ops)     # stream order can close a loop the deps alone do not
    if cycle:
        raise InputError("the node order on one stream contradicts the dependencies: "
                         + " -> ".join(cycle), file=file, field="nodes", value=cycle[0])
    return ops


# ---------------------------------------------------------------------------
# The whole workload
# ---------------------------------------------------------------------------

def load_chakra(prefix: str, world_size: int | None = None,
                comm_groups: str | None = None, roofline: bool = False,
                dims: list[int] | None = None, deps: str = "all") -> Trace:
    """A clustersim :class:`Trace` from the Chakra files ``<prefix>.<rank>.et``.

    ``roofline``: cost compute nodes from ``num_ops`` / ``tensor_size`` even
    when they carry a duration (ASTRA-sim's ``roofline-enabled``); ``dims``:
    the network's dimension sizes, for collectives with a partial ``involved_dim``;
    ``deps``: ``all`` or ``data`` (control dependencies ignored, as ASTRA-sim does).
    """
    if deps not in DEPS:
        raise InputError(f"unknown dependency reading (known: {', '.join(DEPS)})",
                         field="--chakra-deps", value=deps)
    files = rank_files(prefix, world_size)
    world = len(files)
    w = Workload(world, load_comm_groups(comm_groups, world), dims, roofline)
    by_content: dict[bytes, list[int]] = {}
    first_file: dict[bytes, str] = {}
    data_of: dict[bytes, bytes] = {}
    for r, f in enumerate(files):
        try:
            data = f.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read ET file: {e.strerror}", file=str(f)) from None
        key = hashlib.sha1(data).digest()
        if key not in by_content:
            by_content[key] = []
            first_file[key] = str(f)
            data_of[key] = data
        by_content[key].append(r)
    programs: list[Program] = []
    versions = set()
    for key, ranks in by_content.items():
        file = first_file[key]
        meta, nodes = decode_file(data_of[key], file, deps)
        versions.add(meta.get("version", ""))
        if any(n.type in (S.COMM_SEND_NODE, S.COMM_RECV_NODE) for n in nodes):
            for r in ranks:   # absolute peers: one program per rank
                programs.append(Program([r], rank_ops(nodes, [r], w, file)))
        else:
            programs.append(Program(ranks, rank_ops(nodes, ranks, w, file)))
    trace = Trace(world_size=world, programs=programs,
                  groups=w.families or {WORLD: [list(range(world))]},
                  name=Path(prefix).name,
                  meta={"source": "chakra", "chakra_versions": sorted(versions)})
    from workloads.trace import validate
    validate(trace, str(files[0]))
    return trace
