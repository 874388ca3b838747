"""Rank classes: ranks that behave identically, simulated once.

Two ranks can share one simulated representative when they run the same
program at the same speed *and* every communicator they use pairs them with
partners that are themselves interchangeable, position by position. The
partition is found by colour refinement (as in the Weisfeiler-Leman test):
start from (program, speed) and split a class whenever its members see
different partner classes in some group family, until nothing splits. A
straggler thus splits its own class, then the classes of the ranks that wait
on it through a collective, and so on, and nothing else.

With ``fold=False`` every rank is its own class.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from workloads.trace import Trace


@dataclass(frozen=True)
class RankClass:
    index: int
    program: int
    ranks: tuple[int, ...]
    speed: float

    @property
    def size(self) -> int:
        return len(self.ranks)

    @property
    def rep(self) -> int:
        return self.ranks[0]

    def label(self) -> str:
        return self._label

    @cached_property
    def _label(self) -> str:
        r = self.ranks
        if len(r) == 1:
            return f"rank {r[0]}"
        if r[-1] - r[0] == len(r) - 1 and r == tuple(range(r[0], r[0] + len(r))):
            return f"ranks {r[0]}-{r[-1]}"
        return f"ranks {r[0]},{r[1]},... (x{len(r)})"


def used_families(trace: Trace) -> tuple[set[str], set[str]]:
    """Families used by collectives, and families used to address p2p peers."""
    coll, p2p = set(), set()
    for prog in trace.programs:
        for op in prog.distinct_ops():
            if op.group is not None:
                coll.add(op.group)
            if op.peer is not None and op.peer.group is not None:
                p2p.add(op.peer.group)
    return coll, p2p


# reference switch: False refines colours one rank at a time (the original code)
REFINE_ARRAYS = True


def rank_classes(trace: Trace, speeds: list[float] | None = None,
                 fold: bool = True) -> list[RankClass]:
    """Partition the ranks of ``trace`` into classes of identical behaviour."""
    n = trace.world_size
    speeds = speeds or [1.0] * n
    owner = trace.program_of_rank()
    if not fold:
        return [RankClass(r, owner[r], (r,), speeds[r]) for r in range(n)]
    colour = _refine_arrays(trace, owner, speeds) if REFINE_ARRAYS else None
    if colour is None:
        colour = _refine_reference(trace, owner, speeds)
    members: dict[int, list[int]] = {}
    for r in range(n):
        members.setdefault(colour[r], []).append(r)
    ordered = sorted(members.values(), key=lambda rs: rs[0])
    return [RankClass(i, owner[rs[0]], tuple(rs), speeds[rs[0]]) for i, rs in enumerate(ordered)]


def _refine_reference(trace: Trace, owner: list[int], speeds: list[float]) -> list[int]:
    """Colour refinement one rank at a time: a colour per rank, equal colours
    for ranks of one class."""
    n = trace.world_size
    coll, p2p = used_families(trace)
    # a rank's partners must match in every family used: position by position
    # where p2p peers are addressed by offset, as a multiset for collectives
    families = sorted(coll | p2p)
    colour_ids: dict = {}
    colour = [colour_ids.setdefault((owner[r], speeds[r]), len(colour_ids)) for r in range(n)]
    n_colours = len(colour_ids)
    rotated = {}
    for fam in families:
        index = {r: (i, pos) for i, ms in enumerate(trace.groups[fam]) for pos, r in enumerate(ms)}
        rotated[fam] = index
    while True:
        sig_ids: dict = {}
        new = []
        # a collective family's multiset of partner colours is the same for
        # every member of a group: one per group, not one per rank
        multiset = {fam: [tuple(sorted(colour[m] for m in ms)) for ms in trace.groups[fam]]
                    for fam in families if fam not in p2p}
        for r in range(n):
            parts = [colour[r]]
            for fam in families:
                hit = rotated[fam].get(r)
                if hit is None:
                    parts.append(None)
                    continue
                i, pos = hit
                if fam in p2p:
                    ms = trace.groups[fam][i]
                    parts.append(tuple(colour[m] for m in ms[pos:] + ms[:pos]))
                else:
                    parts.append(multiset[fam][i])
            new.append(sig_ids.setdefault(tuple(parts), len(sig_ids)))
        colour = new
        if len(sig_ids) == n_colours:
            break
        n_colours = len(sig_ids)
    return colour


# rotated partner lists of a p2p family are held as one (members x group size)
# array; past this many entries the reference refinement is used instead
_MAX_ROTATED = 1 << 24


def _refine_arrays(trace: Trace, owner: list[int], speeds: list[float]):
    """:func:`_refine_reference` on arrays (the same partition), or None when
    the groups do not fit its assumptions (ragged p2p groups, a rank twice in
    one family, a member out of range, very large p2p groups)."""
    import numpy as np

    n = trace.world_size
    coll, p2p = used_families(trace)
    families = sorted(coll | p2p)
    # per collective family: the group of each rank (-1 = none) and the
    # groups bucketed by size; per p2p family: the rotated partner lists
    plans = []
    for fam in families:
        lists = trace.groups[fam]
        group_of = np.full(n, -1, dtype=np.int64)
        seen = 0
        if fam in p2p:
            sizes = {len(ms) for ms in lists}
            if len(sizes) > 1:
                return None
            k = sizes.pop() if sizes else 0
            if len(lists) * k * k > _MAX_ROTATED:
                return None
            M = np.array(lists, dtype=np.int64).reshape(len(lists), k)
            if M.size and (M.min() < 0 or M.max() >= n):
                return None
            flat = M.ravel()
            group_of[flat] = np.arange(flat.size)     # row of the rank in ``rot``
            seen = flat.size
            pos = np.arange(k)
            rot = M[:, (pos[:, None] + pos[None, :]) % k].reshape(-1, k) if k else \
                np.zeros((0, 0), dtype=np.int64)
            plans.append(("p2p", group_of, rot))
            if int(np.count_nonzero(group_of >= 0)) != seen:
                return None
            continue
        buckets: dict[int, list[int]] = {}
        for i, ms in enumerate(lists):
            buckets.setdefault(len(ms), []).append(i)
        arrays = []
        for k, rows in buckets.items():
            M = np.array([lists[i] for i in rows], dtype=np.int64).reshape(len(rows), k)
            if M.size and (M.min() < 0 or M.max() >= n):
                return None
            group_of[M] = np.array(rows, dtype=np.int64)[:, None]
            seen += M.size
            arrays.append((np.array(rows, dtype=np.int64), M))
        if int(np.count_nonzero(group_of >= 0)) != seen:
            return None
        plans.append(("coll", group_of, arrays, len(lists)))
    _, speed_id = np.unique(np.asarray(speeds, dtype=np.float64), return_inverse=True)
    start = np.stack([np.asarray(owner, dtype=np.int64), speed_id.astype(np.int64)], axis=1)
    colour = _row_ids(start)
    n_colours = int(colour.max()) + 1 if n else 0
    while True:
        cols = [colour[:, None]]
        for plan in plans:
            if plan[0] == "p2p":
                _, group_of, rot = plan
                part = np.full((n, rot.shape[1]), -1, dtype=np.int64)
                hit = group_of >= 0
                part[hit] = colour[rot[group_of[hit]]]
                cols.append(part)
                cols.append(hit[:, None].astype(np.int64))
                continue
            _, group_of, arrays, n_groups = plan
            # one id per group for its multiset of member colours (sizes apart)
            group_id = np.zeros(n_groups, dtype=np.int64)
            offset = 0
            for rows, M in arrays:
                if M.shape[1] == 0:
                    group_id[rows] = offset
                    offset += 1
                    continue
                ids = _row_ids(np.sort(colour[M], axis=1))
                group_id[rows] = ids + offset
                offset += int(ids.max()) + 1
            part = np.full(n, -1, dtype=np.int64)
            hit = group_of >= 0
            part[hit] = group_id[group_of[hit]]
            cols.append(part[:, None])
        colour = _row_ids(np.concatenate(cols, axis=1))
        count = int(colour.max()) + 1 if n else 0
        if count == n_colours:
            break
        n_colours = count
    return colour.tolist()


def _row_ids(M):
    """Ids 0..k-1 of the distinct rows of the integer matrix ``M``, equal rows
    equal ids (which id a row gets is immaterial to the partition).

    Rows are hashed column by column and the hashes sorted (a sort of
    structured rows, as ``np.unique(axis=0)`` does, is ten times slower);
    every row is then compared with the first row of its hash, and only a
    collision falls back to ``np.unique(axis=0)``, so the ids are exact."""
    import numpy as np

    n, width = M.shape
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width):
            h ^= M[:, j].astype(np.uint64)
            h *= np.uint64(0x100000001B3)          # FNV-1a's 64-bit prime
            h ^= h >> np.uint64(29)
    _, first, ids = np.unique(h, return_index=True, return_inverse=True)
    ids = ids.reshape(-1).astype(np.int64)
    if np.array_equal(M[first[ids]], M):
        return ids
    _, ids = np.unique(M, axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)
