"""PyTorch profiler (Kineto) traces in, clustersim traces out.

Input: one Chrome-trace JSON per rank, as ``torch.profiler``'s
``export_chrome_trace`` writes it (``traceEvents`` plus ``distributedInfo``
naming the rank, world size and process groups). Complete events
(``"ph": "X"``) are replayed with their recorded durations.

GPU traces (events of category ``kernel``):
    every kernel becomes an op on stream ``stream<N>`` (its CUDA stream) in
    start order, so stream order is kept. NCCL kernels (``nccl...Kernel_<Op>``)
    become collectives: kind from the kernel name or the ``Collective name``
    argument, bytes from ``In msg nelems`` / ``Out msg nelems`` and
    ``dtype`` (on the kernel, or on the ``record_param_comms`` CPU op with
    the same ``External id``). Point-to-point kernels (``SendRecv``, with
    ``Collective name`` ``send`` or ``recv``) become sends and recvs to the
    peer named by ``Dst Rank`` / ``Src Rank``, matched in order per pair.
    Cross-stream synchronisation comes from Kineto's ``cuda_sync`` events: a
    ``Stream Wait Event`` (also written ``Wait on Stream``) makes the next
    kernel of ``stream`` wait for the last kernel of ``wait_on_stream``
    started before it.

CPU-only traces (no kernels, e.g. gloo on CPU):
    there are no device streams, so each host thread is a stream. The ops
    directly below the ``ProfilerStep#`` annotations (or at the top level
    without them) become compute ops; the time they spend inside a blocking
    ``c10d::`` collective call is not compute and is taken out. Each
    collective's work (``gloo:<op>`` on the gloo worker threads, sized from
    its ``Input Dims`` and ``Input type``; or the ``c10d::`` call itself)
    becomes a collective on stream ``comm`` issued after the compute op that
    made the call. Synchronisation is read from the host timeline: an op that
    starts after an idle gap of its thread during which a collective
    finished waited for it (and for every other collective already finished
    by then, as DDP waits for all its buckets), and depends on them.

A GPU collective runs on the process group its ``record_param_comms`` names
(``Process Group Name`` and ``Process Group Ranks``, e.g. a tensor-parallel
pair), else on the whole world (the default group records no ranks; CPU-only
traces always use the whole world). The k-th collective of every member of a
group must agree in kind and size, as in NCCL.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from workloads.errors import InputError
from workloads.trace import MAX_RANKS, Op, Peer, Program, Trace, validate

DTYPE_BYTES = {"float": 4, "float32": 4, "double": 8, "float64": 8, "half": 2, "float16": 2,
               "bfloat16": 2, "c10::bfloat16": 2, "c10::half": 2, "int": 4, "int32": 4,
               "long": 8, "int64": 8, "int8": 1, "uint8": 1, "bool": 1, "char": 1,
               "float8_e4m3fn": 1, "float8_e5m2": 1}
COLLECTIVE_NAMES = {"allreduce": "all_reduce", "all_reduce": "all_reduce",
                    "allgather": "all_gather", "all_gather": "all_gather",
                    "_allgather_base": "all_gather", "allgather_into_tensor": "all_gather",
                    "allgather_into_tensor_coalesced": "all_gather",
                    "reducescatter": "reduce_scatter", "reduce_scatter": "reduce_scatter",
                    "_reduce_scatter_base": "reduce_scatter",
                    "reduce_scatter_tensor": "reduce_scatter",
                    "reduce_scatter_tensor_coalesced": "reduce_scatter",
                    "alltoall": "all_to_all", "all_to_all": "all_to_all",
                    "alltoall_base": "all_to_all", "all_to_all_single": "all_to_all",
                    "broadcast": "broadcast", "reduce": "reduce", "barrier": "barrier"}
#: ``cuda_sync`` events of one stream waiting for another (``cudaStreamWaitEvent``): Kineto
#: names them after CUPTI's synchronisation type (also in ``cuda_sync_kind``)
STREAM_WAITS = ("Stream Wait Event", "Wait on Stream")
#: NCCL kernels of point-to-point calls (``ncclDevKernel_SendRecv``, older ``ncclKernel_SendRecv``)
P2P_KERNELS = ("SendRecv", "Send", "Recv")
_NCCL_KERNEL = re.compile(r"nccl(?:Dev)?Kernel_([A-Za-z]+)")
_C10D = re.compile(r"c10d::([a-z_]+?)_?$")
_GLOO = re.compile(r"gloo:([a-z_]+)$")
WORLD = "world"
#: categories replayed: host-side ops (CPU-only traces) and device activity
HOST_CATS = ("cpu_op", "user_annotation", "python_function")
DEVICE_CATS = ("kernel", "gpu_memcpy", "gpu_memset")


@dataclass
class _Ev:
    name: str
    cat: str
    tid: object
    ts: float
    dur: float
    args: dict
    children: list = field(default_factory=list)

    @property
    def end(self) -> float:
        return self.ts + self.dur


def _events(data, file: str) -> tuple[list[_Ev], dict]:
    if isinstance(data, list):
        raw, info = data, {}
    elif isinstance(data, dict) and isinstance(data.get("traceEvents"), list):
        raw, info = data["traceEvents"], data.get("distributedInfo") or {}
        if not isinstance(info, dict):
            raise InputError("distributedInfo must be an object", file=file,
                             field="distributedInfo", value=info)
        for key, limit in (("rank", MAX_RANKS - 1), ("world_size", MAX_RANKS)):
            v = info.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)
                                  or not (key == "rank" or v > 0) or not 0 <= v <= limit):
                raise InputError(f"must be an integer in 0..{limit}" if key == "rank" else
                                 f"must be an integer in 1..{limit}", file=file,
                                 field=f"distributedInfo.{key}", value=v)
    else:
        raise InputError("not a Chrome trace: expected an object with a traceEvents list",
                         file=file, field="traceEvents")
    out = []
    for i, e in enumerate(raw):
        if not isinstance(e, dict) or e.get("ph") != "X":
            continue
        ts, dur = e.get("ts"), e.get("dur", 0)
        for key, v in (("ts", ts), ("dur", dur)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or (
                    key == "dur" and v < 0):
                raise InputError("event time must be a number (dur >= 0)", file=file,
                                 field=f"traceEvents[{i}].{key}", value=v)
        args = e.get("args") if isinstance(e.get("args"), dict) else {}
        tid = e.get("tid")
        if not isinstance(tid, (int, str)) and tid is not None:
            raise InputError("thread id must be a number or a string", file=file,
                             field=f"traceEvents[{i}].tid", value=tid)
        out.append(_Ev(str(e.get("name", "")), str(e.get("cat", "")), tid,
                       float(ts), float(dur), args))
    out.sort(key=lambda x: (x.ts, -x.dur))
    return out, info


def _kind(name: str | None) -> str | None:
    if not name:
        return None
    return COLLECTIVE_NAMES.get(name.strip().lower())


def _count(v, key: str, where: str, file: str) -> float:
    """A non-negative element count (numbers or numeric strings, as the profiler writes)."""
    try:
        n = float(v)
    except (TypeError, ValueError, OverflowError):
        n = float("nan")
    if isinstance(v, bool) or not 0 <= n <= 2.0**60:
        raise InputError(f"not an element count in {where}", file=file, field=key, value=v)
    return n


def _nbytes(args: dict, kind: str, where: str, file: str) -> float:
    """Buffer bytes in the trace format's convention (see :mod:`workloads.trace`)."""
    dtype = str(args.get("dtype", "")).lower()
    if "In msg nelems" in args and dtype:
        elem = DTYPE_BYTES.get(dtype)
        if elem is None:
            raise InputError(f"unknown dtype in {where}", file=file, field="dtype", value=dtype)
        n_in = _count(args["In msg nelems"], "In msg nelems", where, file)
        n_out = _count(args.get("Out msg nelems", n_in), "Out msg nelems", where, file)
        return (n_out if kind == "all_gather" else n_in) * elem
    dims, types = args.get("Input Dims"), args.get("Input type")
    if isinstance(dims, list) and dims and isinstance(types, list) and types:
        shape = dims[0]
        while isinstance(shape, list) and shape and isinstance(shape[0], list):
            shape = shape[0]            # TensorList: the first tensor
        elem = DTYPE_BYTES.get(str(types[0]).lower())
        if isinstance(shape, list) and elem:
            n = 1.0
            for d in shape:
                n *= _count(d, "Input Dims", where, file)
            return _count(n * elem, "Input Dims", where, file)
    raise InputError(f"cannot tell the size of collective {where} (no 'In msg nelems' + "
                     "'dtype' or 'Input Dims' + 'Input type' arguments)", file=file,
                     field=where)


def _nest(evs: list[_Ev]) -> list[_Ev]:
    """Top-level events of one thread, with their children (events sorted by start)."""
    roots: list[_Ev] = []
    stack: list[_Ev] = []
    for e in evs:
        while stack and stack[-1].end <= e.ts:
            stack.pop()
        (stack[-1].children if stack else roots).append(e)
        stack.append(e)
    return roots


def _walk(e: _Ev):
    yield e
    for c in e.children:
        yield from _walk(c)


# ---------------------------------------------------------------------------
# CPU-only traces
# ---------------------------------------------------------------------------

def _cpu_ops(evs: list[_Ev], file: str) -> list[Op]:
    threads: dict = {}
    for e in evs:
        threads.setdefault(e.tid, []).append(e)
    works = [e for e in evs if _GLOO.match(e.name)]
    work_tids = {e.tid for e in works}
    ops: list[Op] = []
    pending: list[tuple[Op, float]] = []     # collectives and their recorded end
    calls: list[tuple[_Ev, Op]] = []         # c10d call -> the compute op that made it
    host_ops: list[tuple[str, _Ev, Op]] = []
    for tid, tevs in threads.items():
        if tid in work_tids or not any(e.cat in HOST_CATS for e in tevs):
            continue
        tevs = [e for e in tevs if e.cat in HOST_CATS]
        roots = _nest(tevs)
        tops = [c for r in roots for c in (r.children if r.name.startswith("ProfilerStep#")
                                           else [r])]
        for k, e in enumerate(tops):
            inner = [c for c in _walk(e) if _C10D.match(c.name) and
                     _kind(_C10D.match(c.name).group(1))]
            blocked = sum(c.dur for c in inner)
            op = Op(f"t{tid}.{k}", "compute", f"cpu{tid}", (),
                    duration_s=max(e.dur - blocked, 0.0) * 1e-6, layer=e.name)
            ops.append(op)
            host_ops.append((str(tid), e, op))
            calls.extend((c, op) for c in inner)
    calls.sort(key=lambda x: x[0].ts)
    works.sort(key=lambda e: e.ts)
    if works and len(works) != len(calls):
        raise InputError(f"{len(calls)} c10d collective calls but {len(works)} gloo work "
                         "events", file=file, field="traceEvents")
    for i, (call, issuer) in enumerate(calls):
        work = works[i] if works else call
        kind = _kind(_C10D.match(call.name).group(1))
        wk = _GLOO.match(work.name)
        if wk and _kind(wk.group(1)) not in (None, kind):
            raise InputError(f"collective call {call.name} matched with {work.name}",
                             file=file, field="traceEvents", value=work.name)
        op = Op(f"c{i}", kind, "comm", (issuer.id,),
                bytes=_nbytes(work.args, kind, work.name, file), group=WORLD, layer=call.name)
        ops.append(op)
        pending.append((op, work.end))
    _sync_from_gaps(host_ops, pending)
    return ops


def _sync_from_gaps(host_ops, pending) -> None:
    """A thread that idled through a collective's end and then resumed waited for it,
    and for every other collective already finished by then (DDP waits for all buckets)."""
    by_thread: dict[str, list] = {}
    for tid, e, op in host_ops:
        by_thread.setdefault(tid, []).append((e, op))
    for items in by_thread.values():
        prev_end = float("-inf")
        waited: set[str] = set()
        for e, op in items:
            if any(prev_end <= end <= e.ts for _, end in pending):
                new = [c.id for c, end in pending if end <= e.ts and c.id not in waited]
                waited.update(new)
                op.deps = tuple(dict.fromkeys(op.deps + tuple(new)))
            prev_end = max(prev_end, e.end)


# ---------------------------------------------------------------------------
# GPU traces
# ---------------------------------------------------------------------------

def _gpu_ops(evs: list[_Ev], file: str, rank: int | None, groups: dict) -> list[Op]:
    comm_args = {e.args.get("External id"): e.args for e in evs
                 if e.cat == "cpu_op" and "Collective name" in e.args}
    sent: dict = {}                 # (direction, peer) -> messages so far (their tags)
    kernels = [e for e in evs if e.cat in DEVICE_CATS]
    syncs = [e for e in evs if e.cat == "cuda_sync" and "wait_on_stream" in e.args and (
        e.name in STREAM_WAITS or e.args.get("cuda_sync_kind") in STREAM_WAITS)]
    ops: list[Op] = []
    by_stream: dict = {}
    for k, e in enumerate(kernels):
        stream = e.args.get("stream", 0)
        oid = f"k{k}"
        m = _NCCL_KERNEL.search(e.name)
        if m:
            args = e.args if "In msg nelems" in e.args else comm_args.get(
                e.args.get("External id"), e.args)
            if m.group(1) in P2P_KERNELS or _p2p_side(args):
                op = _p2p_op(oid, e, args, f"stream{stream}", rank, sent, file)
            else:
                kind = _kind(args.get("Collective name")) or _kind(
                    re.sub(r"(?<!^)([A-Z])", r"_\1", m.group(1)).lower())
                if kind is None:
                    raise InputError(f"unsupported NCCL kernel {e.name!r}", file=file,
                                     field="traceEvents", value=e.name)
                op = Op(oid, kind, f"stream{stream}", (),
                        bytes=_nbytes(args, kind, e.name, file),
                        group=_family(args, groups, file), layer=e.name[:60])
        else:
            op = Op(oid, "compute", f"stream{stream}", (), duration_s=e.dur * 1e-6,
                    layer=e.name[:60])
        ops.append(op)
        by_stream.setdefault(stream, []).append((e, op))
    for s in syncs:
        waiter, on = s.args.get("stream"), s.args.get("wait_on_stream")
        before = [op for e, op in by_stream.get(on, []) if e.ts <= s.ts]
        after = [op for e, op in by_stream.get(waiter, []) if e.ts >= s.ts]
        if before and after:
            after[0].deps = tuple(dict.fromkeys(after[0].deps + (before[-1].id,)))
    return ops


def _family(args: dict, groups: dict, file: str) -> str:
    """The group family of a collective: its process group (``Process Group Name`` and
    ``Process Group Ranks``, global ranks), or the whole world when the profiler
    names no ranks (the default group records an empty list)."""
    ranks = _group_ranks(args.get("Process Group Ranks"))
    if not ranks:
        return WORLD
    name = str(args.get("Process Group Name", "")).strip() or ",".join(map(str, ranks))
    fam = f"pg:{name}"
    known = groups.setdefault(fam, (ranks, file))
    if sorted(known[0]) != sorted(ranks):
        raise InputError(f"process group {name!r} has ranks {ranks} here but "
                         f"{known[0]} in {known[1]}", file=file,
                         field="Process Group Ranks", value=ranks)
    return fam


def _p2p_side(args: dict) -> str | None:
    """``send`` or ``recv`` when the profiler's arguments name a point-to-point call."""
    name = str(args.get("Collective name", "")).strip().lower().lstrip("_")
    return name if name in ("send", "recv") else None


def _p2p_op(oid: str, e: _Ev, args: dict, stream: str, rank: int | None, sent: dict,
            file: str) -> Op:
    """An NCCL point-to-point kernel as a send or recv op.

    PyTorch records ``Collective name`` ``send`` / ``recv`` and the peer's global
    rank as ``Dst Rank`` / ``Src Rank`` (else ``Rank``, the peer's index in
    ``Process Group Ranks``). NCCL delivers the messages between two ranks in
    order, so the k-th send from a to b meets the k-th recv at b from a: k is the tag.
    """
    side = _p2p_side(args)
    if side is None:
        raise InputError(f"NCCL point-to-point kernel {e.name[:60]!r} at ts {e.ts:g} has no "
                         "send/recv record (record_param_comms with 'Collective name' send or "
                         "recv, linked by 'External id'); batched or coalesced point-to-point "
                         "calls are not imported", file=file, field="traceEvents",
                         value=e.name[:60])
    key = "Dst Rank" if side == "send" else "Src Rank"
    peer = args.get(key)
    if peer is None and "Rank" in args:
        ranks = _group_ranks(args.get("Process Group Ranks"))
        local = _count(args["Rank"], "Rank", e.name[:60], file)
        peer = ranks[int(local)] if ranks and local < len(ranks) else args["Rank"]
    if peer is None:
        raise InputError(f"NCCL {side} kernel at ts {e.ts:g} names no peer ('{key}')",
                         file=file, field=key)
    peer = int(_count(peer, key, e.name[:60], file))
    if rank is not None and peer == rank:
        raise InputError(f"NCCL {side} kernel at ts {e.ts:g} names this rank as its peer",
                         file=file, field=key, value=peer)
    tag = sent.get((side, peer), 0)
    sent[(side, peer)] = tag + 1
    nbytes = _nbytes(args, side, e.name[:60], file)
    return Op(oid, side, stream, (), bytes=nbytes, peer=Peer(rank=peer), tag=tag, layer=e.name[:60])


def _group_ranks(v) -> list[int] | None:
    """``Process Group Ranks`` as the profiler writes it: a list, or its text ``[0, 1]``."""
    if isinstance(v, str):
        try:
            v = [int(x) for x in v.strip("[] ").split(",") if x.strip()]
        except ValueError:
            return None
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return v
    return None


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

def rank_trace(path: str | Path, groups: dict | None = None
               ) -> tuple[int | None, int | None, list[Op]]:
    """(rank, world size, ops) of one profiler file; ``groups`` collects the process
    groups its collectives run on (name -> (ranks, file))."""
    from workloads.readers import read_json
    file = str(path)
    evs, info = _events(read_json(path, "profiler trace"), file)
    if not evs:
        raise InputError("no complete (\"ph\": \"X\") events in the trace", file=file,
                         field="traceEvents")
    gpu = any(e.cat == "kernel" for e in evs)
    groups = {} if groups is None else groups
    ops = _gpu_ops(evs, file, info.get("rank"), groups) if gpu else _cpu_ops(evs, file)
    return info.get("rank"), info.get("world_size"), ops


def load_kineto(paths: list[str]) -> Trace:
    """A clustersim trace from one profiler file per rank (ranks from ``distributedInfo``)."""
    per_rank: dict[int, tuple[list[Op], str]] = {}
    world = None
    pgs: dict = {}
    for i, p in enumerate(paths):
        rank, ws, ops = rank_trace(p, pgs)
        rank = i if rank is None else rank
        if rank in per_rank:
            raise InputError(f"rank {rank} is also in {per_rank[rank][1]}", file=str(p),
                             field="distributedInfo.rank", value=rank)
        if ws is not None:
            if world is not None and ws != world:
                raise InputError(f"world size differs from the other files ({world})",
                                 file=str(p), field="distributedInfo.world_size", value=ws)
            world = ws
        per_rank[rank] = (ops, str(p))
    world = world or len(paths)
    missing = sorted(set(range(world)) - set(per_rank))
    if missing:
        raise InputError(f"no profiler file for rank {missing[0]} (world size {world})",
                         field="inputs", value=[str(p) for p in paths])
    programs = [Program([r], per_rank[r][0]) for r in range(world)]
    groups = {WORLD: [list(range(world))]}
    for fam, (ranks, file) in pgs.items():
        bad = [r for r in ranks if not 0 <= r < world]
        if bad or len(set(ranks)) != len(ranks):
            raise InputError(f"process group {fam[3:]!r} names rank {bad[0] if bad else ranks} "
                             f"outside the {world}-rank job or twice", file=file,
                             field="Process Group Ranks", value=ranks)
        groups[fam] = [list(ranks)]
    trace = Trace(world_size=world, programs=programs, groups=groups,
                  name=Path(paths[0]).stem, meta={"source": "kineto"})
    validate(trace, str(paths[0]))
    return trace
