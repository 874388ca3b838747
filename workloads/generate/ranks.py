"""Rank numbering and communicator groups.

A rank's coordinates (tp, cp, dp, pp) are the digits of its number in a
mixed-radix system whose digit order is the placement order, FIRST name
innermost: with the default ``"tp,cp,dp,pp"`` consecutive ranks form a TP
group (one node for tp = 8) and pipeline stages are the outermost blocks. The
trace places rank i on GPU i, so the placement order decides which groups
share a node.

Families: ``tp``, ``cp``, ``dp``, ``pp`` (ranks differing only in that
coordinate), ``dpcp`` (ranks differing in dp and cp: they hold the same dense
weights, so gradients are reduced over it when cp > 1), ``ep`` and ``edp``
(expert parallelism inside dp * cp, Megatron-LM style: with ``k`` the rank's
index in its dpcp list, ``k // ep`` picks its edp position and ``k % ep`` its
ep position, so ep groups are the inner, closest ranks), ``embd`` (the first
and last pipeline stage of each pipeline, which hold the two copies of tied
input/output embeddings when pp > 1; Megatron-LM's embedding group) and
``world``.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from workloads.errors import InputError

DIMS = ("tp", "cp", "dp", "pp")
DEFAULT_ORDER = "tp,cp,dp,pp"
# reference switch: False builds families one rank at a time (the original code)
FAMILY_ARRAYS = True


def parse_order(order: str) -> tuple[str, ...]:
    """``"tp,cp,dp,pp"`` -> ("tp", "cp", "dp", "pp"); InputError unless a permutation."""
    names = tuple(x.strip() for x in str(order).split(",")) if isinstance(order, str) else ()
    if sorted(names) != sorted(DIMS):
        raise InputError(f"must be a comma-separated order of {', '.join(DIMS)} "
                         "(first = innermost)", field="placement_order", value=order)
    return names


@dataclass(frozen=True)
class RankGrid:
    """The mapping rank <-> coordinates for given sizes and placement order."""

    sizes: dict[str, int]
    order: tuple[str, ...]

    @property
    def world_size(self) -> int:
        n = 1
        for d in DIMS:
            n *= self.sizes[d]
        return n

    def rank(self, coords: dict[str, int]) -> int:
        r, stride = 0, 1
        for d in self.order:
            r += coords[d] * stride
            stride *= self.sizes[d]
        return r

    def coords(self, rank: int) -> dict[str, int]:
        out = {}
        for d in self.order:
            rank, out[d] = divmod(rank, self.sizes[d])
        return out

    def family(self, varying: tuple[str, ...]) -> list[list[int]]:
        """Member lists of ranks that differ only in the ``varying`` coordinates.

        Within a list, ranks are ordered by the varying coordinates with the
        innermost (per placement order) fastest; lists are sorted.
        """
        if not FAMILY_ARRAYS:
            return self._family_reference(varying)
        # ranks as an array indexed by coordinates, outermost axis first;
        # fixed coordinates lead, then the varying ones outermost first
        outer_first = self.order[::-1]
        grid = np.arange(self.world_size, dtype=np.int64).reshape(
            [self.sizes[d] for d in outer_first])
        fixed = [outer_first.index(d) for d in DIMS if d not in varying]
        moving = [outer_first.index(d) for d in outer_first if d in varying]
        size = 1
        for d in varying:
            size *= self.sizes[d]
        lists = grid.transpose(fixed + moving).reshape(-1, size)
        # every rank is in exactly one list: sorting lists is sorting by their first member
        return lists[np.argsort(lists[:, 0], kind="stable")].tolist()

    def _family_reference(self, varying: tuple[str, ...]) -> list[list[int]]:
        """:meth:`family` one rank at a time (reference for the array version)."""
        fixed = [d for d in DIMS if d not in varying]
        inner_first = [d for d in self.order if d in varying]
        lists = []
        for fv in product(*(range(self.sizes[d]) for d in fixed)):
            base = dict(zip(fixed, fv))
            members = []
            for vv in product(*(range(self.sizes[d]) for d in reversed(inner_first))):
                c = dict(base)
                c.update(zip(reversed(inner_first), vv))
                members.append(self.rank(c))
            lists.append(members)
        return sorted(lists)

    def groups(self, ep: int, etp: int | None = None) -> dict[str, list[list[int]]]:
        """All communicator families of the job (see the module docstring).

        With ``etp`` (MoE parallel folding, Liu et al. 2025 / Megatron-Core)
        the experts are laid out over all tp x cp x dp ranks of a pipeline
        stage, independently of attention: with ``k`` a rank's index in its
        stage (placement order, innermost first), ``k % etp`` is its expert-
        tensor position, ``(k // etp) % ep`` its expert-parallel position and
        ``k // (etp * ep)`` its expert-data-parallel position; families
        ``etp``, ``ep`` and ``edp`` vary one of them each.
        """
        g = {d: self.family((d,)) for d in DIMS}
        g["dpcp"] = self.family(("dp", "cp"))
        g["ep"], g["edp"] = [], []
        if etp is None:
            for members in g["dpcp"]:
                n = len(members)
                g["ep"] += [members[i:i + ep] for i in range(0, n, ep)]
                g["edp"] += [members[j::ep] for j in range(ep)]
        else:
            g["etp"] = []
            for members in self.family(("tp", "cp", "dp")):
                n = len(members)
                g["etp"] += [members[i:i + etp] for i in range(0, n, etp)]
                for base in range(0, n, etp * ep):
                    g["ep"] += [members[base + i:base + etp * ep:etp] for i in range(etp)]
                g["edp"] += [members[i::etp * ep] for i in range(etp * ep)]
            g["etp"].sort()
        g["ep"].sort()
        g["edp"].sort()
        if self.sizes["pp"] > 1:
            g["embd"] = [[ms[0], ms[-1]] for ms in g["pp"]]
        else:
            g["embd"] = [[r] for r in range(self.world_size)]
        g["world"] = [list(range(self.world_size))]
        return g
