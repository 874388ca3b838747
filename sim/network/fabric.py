"""Routing many GPU pairs at once on a switched fabric, with numpy.

:class:`~sim.network.routing.Router` routes one pair at a time in Python, which
is exact but costs microseconds per pair: a collective over 131,072 GPUs has
hundreds of thousands of pairs. Here the same routes are built for a whole
batch of pairs with array operations, following the per-pair router's rules
step by step so that links, shares, their order and the latencies come out
bit for bit the same:

* a GPU's way out to the fabric (GPU -> NIC -> leaf) and in are found once for
  every GPU from the edge arrays; a pair whose GPUs each have exactly one way
  is routed as up-chain + switch-level spread + down-chain;
* a pair of GPUs behind exactly one shared attachment (an NVSwitch) takes the
  two links through it;
* the switch-level spreads of every switch pair a batch needs are found in one
  breadth-first sweep over all of them at once (see :func:`core_spreads`);
* every other pair (several ways out, direct GPU links, ...) is routed by the
  per-pair router.

Hop counts between switches come from :class:`HopTable`, which collapses
*twin* switches (the same successors and the same predecessors, as every leaf
of a two-tier fabric is) before computing all-pairs distances, so a fabric of
4,096 leaves and 32 spines needs a 2 x 2 table instead of a 4,128 x 4,128 one.
"""
from __future__ import annotations

from itertools import chain as _chained
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.network.routing import Router


class HopTable:
    """All-pairs hop counts among switches via their twin quotient.

    ``table[a, b]`` with ``a`` an index or an index array and ``b`` an index
    gives the hop count from ``a`` to ``b`` (``inf`` when unreachable), as the
    full distance matrix would.
    """

    def __init__(self, succ: list[list[int]], distances):
        n = len(succ)
        pred: list[list[int]] = [[] for _ in range(n)]
        for u, vs in enumerate(succ):
            for v in vs:
                pred[v].append(u)
        ids: dict = {}
        cls = np.array([ids.setdefault((frozenset(succ[u]), frozenset(pred[u])), len(ids))
                        for u in range(n)], dtype=np.int64)
        reps = np.full(len(ids), -1, dtype=np.int64)
        reps[cls[::-1]] = np.arange(n)[::-1]           # first member of every class
        qsucc = [sorted({int(cls[v]) for v in succ[r]}) for r in reps]
        rows = [c for c, vs in enumerate(qsucc) for _ in vs]
        cols = [v for vs in qsucc for v in vs]
        self.cls = cls
        self.q = distances(qsucc, rows, cols)
        # two members of one class never link to each other: between them a
        # path leaves the class and comes back
        self.back = np.array([min((1 + self.q[d, c] for d in qsucc[c]), default=np.inf)
                              for c in range(len(reps))])

    def __getitem__(self, key):
        a, b = key
        ca, cb = self.cls[a], self.cls[b]
        d = self.q[ca, cb]
        return np.where((ca == cb) & (a != b), self.back[cb], d) if np.ndim(d) \
            else (self.back[cb] if ca == cb and a != b else d)

    def pairwise(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Hop counts a[i] -> b[i]."""
        ca, cb = self.cls[a], self.cls[b]
        return np.where((ca == cb) & (a != b), self.back[cb], self.q[ca, cb])


class FabricIndex:
    """Integer arrays of one router's graph: edge lookup and each GPU's way
    out to the fabric switches and way in from them."""

    def __init__(self, router: Router):
        core = router._core
        nodes, nid, kinds = router.node_table()
        n = len(nodes)
        self.n_nodes = n
        is_gpu = np.fromiter((k == "gpu" for k in kinds), bool, n)
        core_of = np.full(n, -1, dtype=np.int64)
        for name, ci in core["index"].items():
            core_of[nid[name]] = ci
        eu, ev = router.edge_ends()
        key = eu * n + ev
        self._order = np.argsort(key, kind="stable")
        self._keys = key[self._order]
        # GPU node number -> its node index (-1: none)
        at = [i for i in np.flatnonzero(is_gpu).tolist() if isinstance(nodes[i], int)]
        labels = np.fromiter(map(nodes.__getitem__, at), np.int64, len(at))
        at = np.array(at, dtype=np.int64)
        self.gpu_nid = np.full(int(labels.max()) + 1 if len(at) else 0, -1, dtype=np.int64)
        self.gpu_nid[labels[labels >= 0]] = at[labels >= 0]
        eids = np.arange(len(eu), dtype=np.int64)
        # way out: GPU -> switch, or GPU -> attachment -> switch
        self.up = self._ways(eu, ev, eids, is_gpu, core_of, n, outward=True)
        self.down = self._ways(ev, eu, eids, is_gpu, core_of, n, outward=False)
        # attachments of each GPU (any non-GPU successor), CSR by GPU node
        att = is_gpu[eu] & ~is_gpu[ev]
        order = np.argsort(eu[att], kind="stable")
        self.att_node = ev[att][order]
        self.att_edge = eids[att][order]
        self.att_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(eu[att], minlength=n), out=self.att_ptr[1:])

    @staticmethod
    def _ways(a_end, b_end, eids, is_gpu, core_of, n, outward: bool):
        """Per node: (number of ways, first link, second link or -1, switch index).

        ``a_end``/``b_end`` are the GPU side and the far side of every edge
        (swapped for the way in, so the links are then listed switch first)."""
        first = is_gpu[a_end] & ~is_gpu[b_end]
        g1, x1, e1 = a_end[first], b_end[first], eids[first]
        # attachment -> switch edges (switch -> attachment for the way in)
        hop2 = ~is_gpu[a_end] & (core_of[a_end] < 0) & (core_of[b_end] >= 0)
        count2 = np.bincount(a_end[hop2], minlength=n)
        last2 = np.full(n, -1, dtype=np.int64)
        last2[a_end[hop2]] = eids[hop2]
        sw2 = np.full(n, -1, dtype=np.int64)
        sw2[a_end[hop2]] = core_of[b_end[hop2]]
        direct = core_of[x1] >= 0
        contrib = np.where(direct, 1, count2[x1])
        ways = np.bincount(g1, weights=contrib, minlength=n).astype(np.int64)
        l1 = np.full(n, -1, dtype=np.int64)
        l2 = np.full(n, -1, dtype=np.int64)
        sw = np.full(n, -1, dtype=np.int64)
        one = contrib == 1
        g, x, e, d = g1[one], x1[one], e1[one], direct[one]
        if outward:                    # links GPU -> x (-> switch)
            l1[g] = e
            l2[g] = np.where(d, -1, last2[x])
        else:                          # links (switch ->) x -> GPU
            l1[g] = np.where(d, e, last2[x])
            l2[g] = np.where(d, -1, e)
        sw[g] = np.where(d, core_of[x], sw2[x])
        return ways, l1, l2, sw

    def edge_ids(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Index of edge u -> v (node indices) or -1 where there is none."""
        k = u * self.n_nodes + v
        pos = np.minimum(np.searchsorted(self._keys, k), len(self._keys) - 1)
        return np.where(self._keys[pos] == k, self._order[pos], -1)


def _slots(ptr: np.ndarray, nbr: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Position of b[i] among the successors of a[i] in the CSR (-1 if absent)."""
    n = len(ptr) - 1
    keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr)) * n + nbr
    order = np.argsort(keys, kind="stable")
    k = a * n + b
    pos = np.minimum(np.searchsorted(keys[order], k), len(keys) - 1)
    return np.where(keys[order][pos] == k, order[pos], -1)


def core_spreads(router: Router, us: np.ndarray, ts: np.ndarray) -> list[tuple]:
    """(links, shares) of a unit flow spread over all shortest switch paths
    us[i] -> ts[i], for every i at once; the same values, in the same order,
    as the per-pair router's level-by-level split."""
    core = router._core
    hops: HopTable = core["dist"]
    ptr, nbr, nbr_edge = core["csr"]
    n_pairs = len(us)
    pieces_p, pieces_e, pieces_s = [], [], []
    # one level of every pair: (pair, node, flow share), grouped by pair
    P = np.arange(n_pairs, dtype=np.int64)
    A = np.asarray(us, dtype=np.int64)
    F = np.ones(n_pairs)
    T = np.asarray(ts, dtype=np.int64)
    while len(P):
        d = hops.pairwise(A, T[P])
        go = d > 0
        P, A, F, d = P[go], A[go], F[go], d[go]
        if not len(P):
            break
        # one hop away: the only way on is the link to the target itself
        last = d == 1
        deg = np.where(last, 0, ptr[A + 1] - ptr[A])
        ent = np.repeat(np.arange(len(P)), deg)
        start = np.repeat(ptr[A] - np.cumsum(deg) + deg, deg)
        slot = start + np.arange(len(ent))
        cand = nbr[slot]
        keep = hops.pairwise(cand, T[P[ent]]) == d[ent] - 1
        ent, cand, slot = ent[keep], cand[keep], slot[keep]
        if last.any():
            e1 = np.flatnonzero(last)
            s1 = _slots(ptr, nbr, A[e1], T[P[e1]])
            ent = np.concatenate([ent, e1[s1 >= 0]])
            slot = np.concatenate([slot, s1[s1 >= 0]])
            order = np.argsort(ent, kind="stable")
            ent, slot = ent[order], slot[order]
            cand = nbr[slot]
        cnt = np.bincount(ent, minlength=len(P))
        share = F[ent] / cnt[ent]
        pieces_p.append(P[ent])
        pieces_e.append(nbr_edge[slot])
        pieces_s.append(share)
        # next level: distinct nodes per pair in order of first appearance
        key = P[ent] * len(ptr) + cand
        uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
        sums = np.bincount(inv, weights=share, minlength=len(uniq))
        order = np.argsort(first, kind="stable")
        P, A, F = uniq[order] // len(ptr), uniq[order] % len(ptr), sums[order]
    if not pieces_p:
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0))
        return [empty] * n_pairs
    pp = np.concatenate(pieces_p)
    order = np.argsort(pp, kind="stable")
    links = np.concatenate(pieces_e)[order]
    shares = np.concatenate(pieces_s)[order]
    bounds = np.searchsorted(pp[order], np.arange(n_pairs + 1))
    return [(links[bounds[i]:bounds[i + 1]], shares[bounds[i]:bounds[i + 1]])
            for i in range(n_pairs)]


def route_batch(router: Router, pairs: tuple, salt: int = 0) -> tuple:
    """(ptr, flat, share, latency) of ``pairs`` under spray routing, as the
    per-pair router would give them; pairs outside the two fast cases are
    routed by it."""
    fab: FabricIndex = router._fabric()
    n = len(pairs)
    arr = np.fromiter(_chained.from_iterable(pairs), np.int64, 2 * n).reshape(n, 2)
    src_lab, dst_lab = arr[:, 0], arr[:, 1]
    ok = (src_lab >= 0) & (dst_lab >= 0) & (src_lab < len(fab.gpu_nid)) \
        & (dst_lab < len(fab.gpu_nid)) & (src_lab != dst_lab)
    s = np.where(ok, fab.gpu_nid[np.where(ok, src_lab, 0)], -1)
    d = np.where(ok, fab.gpu_nid[np.where(ok, dst_lab, 0)], -1)
    ok &= (s >= 0) & (d >= 0)
    s, d = np.where(ok, s, 0), np.where(ok, d, 0)
    ok &= fab.edge_ids(s, d) < 0                         # no direct GPU link
    # attachments of src that also reach dst
    deg = fab.att_ptr[s + 1] - fab.att_ptr[s]
    ent = np.repeat(np.arange(n), deg)
    slot = np.repeat(fab.att_ptr[s] - np.cumsum(deg) + deg, deg) + np.arange(len(ent))
    a = fab.att_node[slot]
    hit = fab.edge_ids(a, d[ent])
    found = hit >= 0
    n_shared = np.bincount(ent[found], minlength=n)
    first = np.full(n, -1, dtype=np.int64)
    where = np.flatnonzero(found)[::-1]
    first[ent[where]] = where                          # first shared attachment per pair
    shared = ok & (n_shared == 1)
    up_ways, up1, up2, up_sw = fab.up
    dn_ways, dn1, dn2, dn_sw = fab.down
    chain = ok & (n_shared == 0) & (up_ways[s] == 1) & (dn_ways[d] == 1)
    hops: HopTable = router._core["dist"]
    chain &= np.isfinite(hops.pairwise(up_sw[s], dn_sw[d]))
    rows: list = [None] * n                 # (links, shares) per pair, None: not yet
    # shared attachment: src -> a -> dst, each link carrying the whole flow
    sel = np.flatnonzero(shared)
    f = first[sel]
    two = np.stack([fab.att_edge[slot[f]], hit[f]], axis=1)
    groups: list[tuple] = [(sel, two, np.ones(two.shape))]
    # single ways out and in, joined by the switch-level spread
    sel = np.flatnonzero(chain)
    if len(sel):
        u, t = up_sw[s[sel]], dn_sw[d[sel]]
        memo = router._core.setdefault("arrays", {})
        keys = u * len(router._core["nodes"]) + t
        uniq, inv = np.unique(keys, return_inverse=True)
        nsw = len(router._core["nodes"])
        missing = [k for k in uniq.tolist() if (k // nsw, k % nsw) not in memo]
        if missing:
            mk = np.array(missing, dtype=np.int64)
            for k, arrays in zip(missing, core_spreads(router, mk // nsw, mk % nsw)):
                memo[(k // nsw, k % nsw)] = arrays
        spreads = [memo[(k // nsw, k % nsw)] for k in uniq.tolist()]
        lu = np.where(up2[s[sel]] >= 0, 2, 1)
        ld = np.where(dn2[d[sel]] >= 0, 2, 1)
        lc = np.array([len(x[0]) for x in spreads], dtype=np.int64)[inv]
        # kinds of (up, down, core) lengths in lexicographic order, as one
        # mixed-radix number each (a sort of rows would be ten times slower)
        radix = int(lc.max()) + 1
        codes, kind_of = np.unique((lu * 3 + ld) * radix + lc, return_inverse=True)
        kind_of = kind_of.reshape(-1)
        kinds = zip((codes // radix // 3).tolist(), (codes // radix % 3).tolist(),
                    (codes % radix).tolist())
        # one kind for every pair: the result is these rows as they are, and
        # their shares may be one array with other batches of the same shape
        alone = len(sel) == n and len(codes) == 1
        for k, (a_len, b_len, c_len) in enumerate(kinds):
            part = np.flatnonzero(kind_of == k)
            ps, pd = s[sel[part]], d[sel[part]]
            cols = [up1[ps]] + ([up2[ps]] if a_len == 2 else [])
            cols += [dn1[pd]] + ([dn2[pd]] if b_len == 2 else [])
            # rows filled in place: [way out, way in, switch-level spread]
            links = np.empty((len(part), len(cols) + c_len), dtype=np.int64)
            for j, col in enumerate(cols):
                links[:, j] = col
            spread_of = np.zeros(len(part), dtype=np.int64)
            vectors = [np.zeros(0)]
            if c_len:
                used = np.unique(inv[part])
                pos = np.full(len(uniq), -1, dtype=np.int64)
                pos[used] = np.arange(len(used))
                spread_of = pos[inv[part]]
                np.take(np.stack([spreads[i][0] for i in used.tolist()]), spread_of, axis=0,
                        out=links[:, len(cols):], mode="clip")
                vectors = [spreads[i][1] for i in used.tolist()]
            share = _shares(router._core.setdefault("shares", {}) if alone else None, len(cols),
                            vectors, spread_of)
            groups.append((sel[part], links, share, cols + [spread_of]))
    lengths = np.zeros(n, dtype=np.int64)
    fast = shared | chain
    for sel, links, *_ in groups:
        lengths[sel] = links.shape[1]
    slow = np.flatnonzero(~fast)
    for i in slow.tolist():
        rows[i] = router.spread(pairs[i][0], pairs[i][1], salt)
        lengths[i] = len(rows[i][0])
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    latency = np.empty(n)
    lat = router.link_latency
    for sel, links, sh, *key in groups:
        if len(sel):
            latency[sel] = _row_latencies(lat, links, sh, key[0] if key else None)
    whole = [g for g in groups if len(g[0])]
    if len(whole) == 1 and len(whole[0][0]) == n:   # every pair, in order, one length
        return ptr, whole[0][1].reshape(-1), whole[0][2].reshape(-1), latency
    flat = np.empty(int(ptr[-1]), dtype=np.int64)
    share = np.empty(int(ptr[-1]))
    for sel, links, sh, *_ in groups:
        if len(sel):
            at = ptr[sel][:, None] + np.arange(links.shape[1])
            flat[at] = links
            share[at] = sh
    for i in slow.tolist():
        links, sh, la = rows[i]
        flat[ptr[i]:ptr[i + 1]] = links
        share[ptr[i]:ptr[i + 1]] = sh
        latency[i] = la
    return ptr, flat, share, latency


def _shares(memo: dict | None, lead: int, vectors: list, spread_of: np.ndarray) -> np.ndarray:
    """Rows of ``lead`` ones and then ``vectors[spread_of[i]]`` (the shares of
    chain rows). With ``memo``, one read-only array per content: batches of
    the same shape (pipeline stages' sends) hold one array, not a copy each."""
    key = None
    if memo is not None:
        ids: dict = {}
        of = np.array([ids.setdefault(v.tobytes(), len(ids)) for v in vectors], dtype=np.int64)
        key = (lead, len(spread_of), tuple(ids), of[spread_of].tobytes())
        hit = memo.get(key)
        if hit is not None:
            return hit
    share = np.empty((len(spread_of), lead + len(vectors[0])))
    share[:, :lead] = 1.0
    if len(vectors[0]):
        np.take(np.stack(vectors), spread_of, axis=0, out=share[:, lead:], mode="clip")
    if key is not None:
        share.flags.writeable = False
        memo[key] = share
    return share


def _row_latencies(lat: np.ndarray, links: np.ndarray, share: np.ndarray, key) -> np.ndarray:
    """``(lat[links] * share).sum(axis=1)``: summed only for one row of each
    kind when ``key`` (per-column arrays: link ids of the columns of unit
    share, then the row's spread number) says which rows are alike (rows
    with the same latencies there and the same spread have the same terms)."""
    if key is None or len(links) < 64:
        return (lat[links] * share).sum(axis=1)
    code = np.zeros(len(links), dtype=np.int64)
    for col in [lat[c].view(np.int64) for c in key[:-1]] + [key[-1]]:
        _, c = np.unique(col, return_inverse=True)
        _, code = np.unique(code * (int(c.max()) + 1) + c.reshape(-1), return_inverse=True)
        code = code.reshape(-1)
    _, first, inv = np.unique(code, return_index=True, return_inverse=True)
    return (lat[links[first]] * share[first]).sum(axis=1)[inv.reshape(-1)]
