"""Round trips: what a program learns of its own sends from its peers' replies.

A transfer ends when its send and its receive both do. Take two programs ``q``
and ``n`` whose ranks pair up: every send and receive between a rank ``r`` of
``q`` and program ``n`` has the one partner ``phi(r)``, and every one between
``phi(r)`` and program ``q`` has ``r`` (``phi`` is the same for every peer
spec that leads from ``q`` to ``n``). Each side posts a tag's sends (receives)
on one stream, so in program order, and the executor pairs the sends and
receives of one tag between two ranks first come, first served: the ``j``-th
send of ``q`` to ``n`` with tag ``t`` is, on every rank, the ``j``-th receive
of ``n`` from ``q`` with tag ``t``.

When ``n`` can start a send ``Y`` to ``q``, some receive from ``q`` has
certainly ended (:func:`sim.engine.chain_pass.latest_markers`), and with it its
send ``X`` in ``q``. ``Y`` ends together with its receive ``R`` in ``q``, so
when ``R`` ends, ``X`` has ended too. ``q``'s ordering pass takes this in as
``R -> X`` (the ``inject`` of :func:`sim.engine.chain_pass.ordered_positions`).
This is how a pipeline stage's sends that its neighbour has answered are
known to end before the data-parallel all-reduce that follows the last
answer, although nothing in the stage's own program waits for them.
"""
from __future__ import annotations

from sim.engine.chain_pass import latest_markers
from workloads.trace import Op, Trace

Key = tuple        # a peer spec as (rank, group, offset)


def _key(op: Op) -> Key:
    pe = op.peer
    return (pe.rank, pe.group, pe.offset)


class RoundTrips:
    """Per program, receives that certainly end after one of the program's
    own sends (:meth:`sources`). ``p2p[q]``: position -> op of every send and
    receive of program ``q`` in program order; ``tag_stream[q]``:
    ``(kind, tag)`` -> the one stream its ops use, or None if several."""

    def __init__(self, trace: Trace, p2p: list[dict[int, Op]], tag_stream: list[dict]):
        self.trace = trace
        self.p2p = p2p
        self.tag_stream = tag_stream
        self._owner: list[int] | None = None
        self._to: dict[int, dict[Key, int]] = {}          # q -> key -> partner program
        self._phi: dict[int, dict[int, tuple]] = {}       # q -> n -> partner ranks
        self._pairs: dict[tuple[int, int], list | None] = {}
        self._latest: dict[tuple[int, int], dict[int, int]] = {}
        self._noted: dict[int, tuple[list[int], dict[int, int]]] = {}

    def sources(self, q: int) -> dict[int, int]:
        """Position of a receive of program ``q`` -> position of a send of
        ``q`` that has certainly ended when that receive ends."""
        out: dict[int, int] = {}
        for n in self._partners(q):
            if not self._paired(q, n):
                continue
            there = self._pairs[(q, n)]       # q's sends to n and n's receives of them
            back = self._pairs[(n, q)]        # n's sends to q and q's receives of them
            if there is None or back is None:
                continue
            sent_by = {recv: send for send, recv in there}
            latest = self._latest_at(n, q, sorted(sent_by))
            for y, r in back:
                got = latest.get(y)
                if got is not None:
                    out[r] = sent_by[got]
        return out

    def note(self, n: int, chain: list[int], starts: dict[int, int]) -> None:
        """Take ``n``'s receives known to have ended at each send's start from
        an ordering pass over ``n`` already run (``chain``: the positions of
        its chain ops, bit by bit; ``starts``: a bitset of them per send;
        every receive of ``n`` in the chain)."""
        self._noted[n] = (chain, starts)

    # -- partners --------------------------------------------------------------
    def _partners(self, q: int) -> dict[int, tuple]:
        """Program -> partner rank of each rank of ``q`` (aligned with its
        ranks), for every program ``q``'s sends and receives reach through
        one partner per rank."""
        hit = self._phi.get(q)
        if hit is not None:
            return hit
        trace = self.trace
        if self._owner is None:
            self._owner = trace.program_of_rank()
        owner = self._owner
        ranks = trace.programs[q].ranks
        peers = {_key(op): op.peer for op in self.p2p[q].values()}
        to: dict[Key, int] = {}
        phi: dict[int, tuple] = {}
        bad: set[int] = set()
        for key, pe in peers.items():
            them = tuple(pe.resolve_all(ranks, trace))
            progs = {owner[x] for x in them}
            if len(progs) != 1:
                bad |= progs
                continue
            n = progs.pop()
            to[key] = n
            if phi.setdefault(n, them) != them:
                bad.add(n)
        for n in bad:
            phi.pop(n, None)
        self._to[q] = {k: n for k, n in to.items() if n not in bad}
        self._phi[q] = phi
        return phi

    def _paired(self, q: int, n: int) -> bool:
        """Whether ``q`` and ``n`` pair up rank by rank (``phi(phi(r)) = r``),
        matching their transfers in both directions on the way."""
        if (q, n) in self._pairs:
            return self._pairs[(q, n)] is not None
        there, back = self._partners(q).get(n), self._partners(n).get(q)
        ok = there is not None and back is not None
        if ok:
            index = {r: i for i, r in enumerate(self.trace.programs[n].ranks)}
            ok = all(back[index[x]] == r for r, x in zip(self.trace.programs[q].ranks, there))
        self._pairs[(q, n)] = self._match(q, n) if ok else None
        self._pairs[(n, q)] = self._match(n, q) if ok else None
        return self._pairs[(q, n)] is not None

    def _match(self, q: int, n: int) -> list[tuple[int, int]] | None:
        """(position of a send of ``q`` to ``n``, position of its receive in
        ``n``), in ``q``'s program order; None if some tag's ops are on
        several streams or its counts differ."""
        sends = self._by_tag(q, n, "send")
        recvs = self._by_tag(n, q, "recv")
        if sends is None or recvs is None or sends.keys() != recvs.keys():
            return None
        out = []
        for tag, at in sends.items():
            if len(at) != len(recvs[tag]):
                return None
            out.extend(zip(at, recvs[tag]))
        out.sort()
        return out

    def _by_tag(self, q: int, n: int, kind: str) -> dict[int, list[int]] | None:
        to, streams = self._to[q], self.tag_stream[q]
        out: dict[int, list[int]] = {}
        for pos, op in self.p2p[q].items():
            if op.kind == kind and to.get(_key(op)) == n:
                if streams.get((kind, op.tag)) is None:
                    return None
                out.setdefault(op.tag, []).append(pos)
        return out

    def _latest_at(self, n: int, q: int, markers: list[int]) -> dict[int, int]:
        """Per send of ``n`` to ``q``: the position of the last of ``n``'s
        receives from ``q`` (``markers``, in program order) known to have
        ended when it can start, if any."""
        hit = self._latest.get((n, q))
        if hit is not None:
            return hit
        to = self._to[n]
        noted = self._noted.get(n)
        if noted is not None:
            chain, starts = noted
            mine = set(markers)
            mask = sum(1 << j for j, pos in enumerate(chain) if pos in mine)
            hit = {}
            for y, v in starts.items():
                w = v & mask
                if w:
                    hit[y] = chain[w.bit_length() - 1]
        else:
            counts = latest_markers(self.trace.programs[n],
                                    lambda op: op.kind == "recv" and to.get(_key(op)) == q,
                                    lambda op: op.kind == "send" and to.get(_key(op)) == q)
            hit = {y: markers[c - 1] for y, c in counts.items() if c}
        self._latest[(n, q)] = hit
        return hit
