"""Private sends: point-to-point transfers that no other traffic can meet
(decided from the trace, the topology and the routes).

Every link of a send's path must belong to one of its two ends: a link out of
GPU ``a`` (or out of an attachment, such as a NIC, whose only GPU is ``a`` and
that has no other neighbour than its switch) carries only flows that ``a``
sources; a link into GPU ``b`` (or into ``b``'s own attachment) only flows
destined to ``b``. Links that can never limit a flow (the spine links of a
full-bisection leaf-spine fabric under spraying, :mod:`sim.network.slack`)
may be shared with anyone. GPUs are endpoints, never transit nodes. A PXN relay
would put other GPUs' messages on a proxy's links, so relayed sends, and
every send that starts or ends at a GPU that relays for anyone, are left out.

The flows ``a`` sources belong to ops of ``a``'s own program: its sends, and
its collectives, apart from those of families each of whose member lists
hangs off one common node (an NVSwitch: shortest paths between them take two
hops through a node shared by several GPUs, never ``a``'s own NIC) when the
send's path uses only ``a``'s own attachment. So a send is private on its
side when, in its program, it is ordered with every such op
(:func:`sim.engine.private_families.ordered_ops`), for every rank that runs
the program; a receive likewise on the receiving side. Sends answered by
the peer count as ended once the reply is received
(:mod:`sim.engine.round_trips`). A transfer whose send and receive are both
private is alone on its links from start to end, apart from links that
cannot limit it: its max-min evolution, hence its duration, is that of the
flow network with nothing else on it (to rounding, where a spine link ties
with the ports below it).

Sends and receives of one tag stay on one stream of a program, so that they
pair in stream order however early they are posted.
"""
from __future__ import annotations

import numpy as np

from sim.collectives.base import TopologyView
from sim.collectives.p2p import pxn_proxies
from sim.engine.chain_pass import ordered_positions
from sim.engine.round_trips import RoundTrips
from sim.network.routing import Router
from sim.network.slack import never_binding
from workloads.trace import COLLECTIVES, P2P, Op, Program, Trace


FREE = ("free", None, False)


class _Links:
    """Which GPU, if any, owns each link, and whether it is shared with other
    GPUs' two-hop paths (a link to or from a node several GPUs hang off)."""

    def __init__(self, router: Router):
        self.router = router
        self.graph = router.graph
        self._owner: dict[int, tuple | None] = {}
        self._free = never_binding(router)
        self._table: tuple | None = None
        self._place: np.ndarray | None = None

    def _gpu(self, node) -> bool:
        return self.graph.nodes[node].get("kind") == "gpu"

    def _gpus_of(self, node) -> list:
        g = self.graph
        return [n for n in set(g.successors(node)) | set(g.predecessors(node)) if self._gpu(n)]

    def owner(self, link: int) -> tuple | None:
        """("src" | "dst", GPU, shared), ("free", None, False) for a link
        that can never limit a flow (:mod:`sim.network.slack`), or None."""
        if link in self._owner:
            return self._owner[link]
        u, v = self.router.edge(link)
        g = self.graph
        hit = None
        if self._free[link]:
            hit = FREE
        elif self._gpu(u):
            hit = ("src", u, len(self._gpus_of(v)) > 1)
        elif self._gpu(v):
            hit = ("dst", v, len(self._gpus_of(u)) > 1)
        else:
            for att, side in ((u, "src"), (v, "dst")):
                gpus = self._gpus_of(att)
                if len(gpus) == 1 and len(set(g.successors(att)) | set(g.predecessors(att))) == 2:
                    hit = (side, gpus[0], False)
                    break
        self._owner[link] = hit
        return hit

    def placement(self, trace: Trace) -> np.ndarray:
        """``trace.placement`` as an array (made once)."""
        if self._place is None:
            self._place = np.asarray(trace.placement, dtype=np.int64)
        return self._place

    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`owner` of every link at once, as arrays: side (-1 nobody's,
        0 free, 1 a source's, 2 a destination's), GPU (-1 if none), shared."""
        if self._table is not None:
            return self._table
        nodes, _, kinds = self.router.node_table()
        u, v = self.router.edge_ends()
        n = len(nodes)
        is_gpu = np.fromiter((k == "gpu" for k in kinds), bool, n)
        # each node's distinct neighbours, either direction: successors plus
        # predecessors less those that are both (links with a reverse link)
        fwd = u.astype(np.int64) * n + v
        order = np.sort(fwd)
        rev = v.astype(np.int64) * n + u
        both = order[np.minimum(np.searchsorted(order, rev), len(order) - 1)] == rev
        degree = (np.bincount(u, minlength=n) + np.bincount(v, minlength=n)
                  - np.bincount(u[both], minlength=n))
        to_gpu, from_gpu = is_gpu[v], is_gpu[u]
        gpus = (np.bincount(u[to_gpu], minlength=n) + np.bincount(v[from_gpu], minlength=n)
                - np.bincount(u[both & to_gpu], minlength=n))
        some_gpu = np.full(n, -1, dtype=np.int64)
        some_gpu[u[to_gpu]] = v[to_gpu]
        some_gpu[v[from_gpu]] = u[from_gpu]
        attached = (gpus == 1) & (degree == 2)      # a NIC of one GPU, say
        side = np.full(len(u), -1, dtype=np.int8)
        gpu = np.full(len(u), -1, dtype=np.int64)
        shared = np.zeros(len(u), dtype=bool)
        neither = ~is_gpu[u] & ~is_gpu[v]
        for sel, s, g, sh in (
                (neither & attached[v] & ~attached[u], 2, some_gpu[v], None),
                (neither & attached[u], 1, some_gpu[u], None),
                (~is_gpu[u] & is_gpu[v], 2, v, gpus[u] > 1),
                (is_gpu[u], 1, u, gpus[v] > 1)):
            side[sel] = s
            gpu[sel] = g[sel]
            if sh is not None:
                shared[sel] = sh[sel]
        side[self._free] = 0
        gpu[self._free] = -1
        shared[self._free] = False
        names = np.full(n, -1, dtype=np.int64)      # GPU node numbers -> GPU ids
        at = np.flatnonzero(is_gpu)
        names[at] = [nodes[i] for i in at.tolist()]
        gpu[gpu >= 0] = names[gpu[gpu >= 0]]
        self._table = (side, gpu, shared)
        return self._table


def _proxies(trace: Trace, topo: TopologyView, scans: list["_Scan"]) -> set[int] | None:
    """GPUs that may relay others' messages: PXN proxies of every send; None
    (any GPU) where an all-to-all spans hosts."""
    if not topo.pxn:
        return set()
    for fam in {f for sc in scans for f in sc.all_to_all}:
        if any(len({topo.host_of(trace.gpu_of(r)) for r in ms}) > 1
               for ms in trace.groups[fam]):
            return None
    out = set()
    for prog, sc in zip(trace.programs, scans):
        for (kind, *_), peer in sc.peers.items():
            if kind == "send":
                gpus = list(map(trace.gpu_of, prog.ranks))
                peers = list(map(trace.gpu_of, peer.resolve_all(prog.ranks, trace)))
                out |= pxn_proxies(gpus, peers, topo)
    return out


class _Scan:
    """What one pass over a program's ops finds: the streams of each
    collective family and of its sends and of its receives, the one stream
    of each (kind, tag) (None if several), the positions of sends and
    receives, their distinct (kind, peer), the all-to-all families."""

    def __init__(self, prog: Program):
        self.coll_streams: dict[str, set] = {}
        self.p2p_streams: dict[str, set] = {kind: set() for kind in P2P}
        self.tag_stream: dict = {}
        self.at: dict[str, list[int]] = {kind: [] for kind in P2P}
        self.peers: dict = {}    # (kind, rank, group, offset) -> peer
        self.all_to_all: set = set()
        coll, p2p = frozenset(COLLECTIVES), frozenset(P2P)
        for group, stream, a2a in {(op.group, op.stream, op.kind == "all_to_all")
                                   for op in prog.distinct_ops() if op.kind in coll}:
            self.coll_streams.setdefault(group, set()).add(stream)
            if a2a:
                self.all_to_all.add(group)
        self.op_at: dict[int, Op] = {}
        for i, op in prog.find_steps(p2p):
            self.op_at[i] = op
            kind, peer = op.kind, op.peer
            self.p2p_streams[kind].add(op.stream)
            key = (kind, op.tag)
            if self.tag_stream.setdefault(key, op.stream) != op.stream:
                self.tag_stream[key] = None
            key = (kind, peer.rank, peer.group, peer.offset)
            if key not in self.peers:
                self.peers[key] = peer
            self.at[kind].append(i)


def _one_node(trace: Trace, router: Router, fam: str) -> bool:
    """Whether each member list of ``fam`` hangs off one common node."""
    g = router.graph
    for ms in trace.groups[fam]:
        if len(ms) < 2:
            continue
        common = None
        for r in ms:
            nb = set(g.successors(trace.gpu_of(r)))
            common = nb if common is None else common & nb
            if not common:
                return False
    return True


def private_sends(trace: Trace, topo: TopologyView, router: Router) -> list[frozenset[int]]:
    """Per program, the positions of its sends and receives that are private
    on their side (see the module docstring)."""
    if router.graph.graph.get("gpu_transit", False):
        return [frozenset() for _ in trace.programs]
    scans = [_Scan(prog) for prog in trace.programs]
    proxies = _proxies(trace, topo, scans)
    if proxies is None:
        return [frozenset() for _ in trace.programs]
    links = _Links(router)
    coll = frozenset(COLLECTIVES)
    near = {f for f in {f for sc in scans for f in sc.coll_streams}
            if _one_node(trace, router, f)}
    trips = RoundTrips(trace, [sc.op_at for sc in scans], [sc.tag_stream for sc in scans])
    # (kind, peer) -> None (not private) or whether it uses shared links, per program
    verdicts = [{key: _paths(trace, topo, router, links, proxies, prog.ranks,
                             key[0] == "send", peer) for key, peer in sc.peers.items()}
                for prog, sc in zip(trace.programs, scans)]
    ok_at: list[set[int]] = [set() for _ in trace.programs]
    # receives first: their passes also tell, per send, which receives have
    # ended at its start, which the senders' passes then use (round trips)
    for kind in ("recv", "send"):
        for q, (prog, sc) in enumerate(zip(trace.programs, scans)):
            ops, verdict = sc.op_at, verdicts[q]
            noted = False
            for shared in (False, True):
                cands = [i for i in sc.at[kind]
                         if verdict[(kind, ops[i].peer.rank, ops[i].peer.group,
                                     ops[i].peer.offset)] is shared
                         and sc.tag_stream[(kind, ops[i].tag)] is not None]
                if not cands:
                    continue
                fams = {f for f in sc.coll_streams if shared or f not in near}
                used = sc.p2p_streams[kind].union(*(sc.coll_streams[f] for f in fams))
                if len(used) == 1:         # one stream: each op waits for the one before
                    ok_at[q].update(cands)
                    continue
                chain = (lambda op, kind=kind, fams=fams: op.kind == kind
                         or op.kind in coll and op.group in fams)
                if kind == "recv":
                    starts: dict[int, int] = {}
                    ok = ordered_positions(prog, chain, watch=_is_send, starts=starts)
                    if not noted:
                        trips.note(q, list(ok), starts)
                        noted = True
                else:
                    # the peers' replies may order what the program alone does not
                    # (more known can only order more)
                    ok = ordered_positions(prog, chain, trips.sources(q) or None)
                ok_at[q].update(i for i in cands if ok[i][0])
    return [frozenset(s) for s in ok_at]


def _is_send(op: Op) -> bool:
    return op.kind == "send"


def _paths(trace: Trace, topo: TopologyView, router: Router, links: _Links, proxies: set[int],
           ranks: list[int], sending: bool, peer) -> bool | None:
    """For a send (or receive) to ``peer`` run by ``ranks``: None if some path
    has a link that is not its ends' own or goes through a relay, else whether
    a link on this side is shared with two-hop paths of other GPUs."""
    gpu_of = trace.gpu_of
    for r in ranks[:1]:     # one foreign link on the first path settles it (None)
        mine, other = gpu_of(r), gpu_of(peer.resolve(r, trace))
        a, b = (mine, other) if sending else (other, mine)
        for link in router.routes(((a, b),)).flat.tolist():
            own = links.owner(link)
            if own is None or own is not FREE and own[:2] not in (("src", a), ("dst", b)):
                return None
    mine = np.asarray(ranks, dtype=np.int64)
    other = np.asarray(peer.resolve_all(ranks, trace), dtype=np.int64)
    if trace.placement is not None:
        place = links.placement(trace)
        mine, other = place[mine], place[other]
    src, dst = (mine, other) if sending else (other, mine)
    if proxies and np.isin(np.concatenate([src, dst]), list(proxies)).any():
        return None
    if pxn_proxies(src, dst, topo):
        return None
    routes = router.routes(tuple(zip(src.tolist(), dst.tolist())))
    side, gpu, shared = links.table()
    flat = routes.flat
    s = side[flat]
    if (s < 0).any():
        return None
    n = np.diff(routes.ptr)
    end = np.where(s == 1, np.repeat(src, n), np.repeat(dst, n))
    if not ((s == 0) | (gpu[flat] == end)).all():
        return None
    return bool((shared[flat] & (s == (1 if sending else 2))).any())


