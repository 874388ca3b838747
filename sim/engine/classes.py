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
        for op in prog.ops:
            if op.group is not None:
                coll.add(op.group)
            if op.peer is not None and op.peer.group is not None:
                p2p.add(op.peer.group)
    return coll, p2p


def rank_classes(trace: Trace, speeds: list[float] | None = None,
                 fold: bool = True) -> list[RankClass]:
    """Partition the ranks of ``trace`` into classes of identical behaviour."""
    n = trace.world_size
    speeds = speeds or [1.0] * n
    owner = trace.program_of_rank()
    if not fold:
        return [RankClass(r, owner[r], (r,), speeds[r]) for r in range(n)]
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
    members: dict[int, list[int]] = {}
    for r in range(n):
        members.setdefault(colour[r], []).append(r)
    ordered = sorted(members.values(), key=lambda rs: rs[0])
    return [RankClass(i, owner[rs[0]], tuple(rs), speeds[rs[0]]) for i, rs in enumerate(ordered)]
