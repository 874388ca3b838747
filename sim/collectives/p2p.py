"""Point-to-point sends (pipeline-parallel activations), through PXN across rails.

On a rail-optimized fabric GPU i of a host reaches the fabric through NIC i,
which sits on rail i. A send from GPU i of host A to GPU j of host B on
another rail (j != i) would cross the spine: rail-i leaf, spine, rail-j leaf.
With PXN ("PCI x NVLink", NCCL 2.12+, on by default where the GPUs of a host
share NVLink; ``NCCL_PXN_DISABLE=1`` turns it off) the message first crosses
NVLink to GPU j of host A, whose NIC sends it on rail j: the inter-host leg
stays on one rail and never touches the spine.

A relayed send is two concurrent flows of the whole message (NCCL streams it
through the relay in chunks, so both legs carry it at once) that start after
the sum of both legs' path latencies; the send ends when both have delivered.
Sends inside a host, on the same rail, or on topologies without ``pxn`` go
straight. The topology's ``pxn`` capability (node preset, or graph attribute
``pxn``) switches it.
"""
from __future__ import annotations

import numpy as np

from sim.collectives.base import TopologyView


def pxn_proxy(src: int, dst: int, topo: TopologyView) -> int | None:
    """The GPU that relays a send from ``src`` to ``dst`` by PXN, or None (direct)."""
    if not topo.pxn:
        return None
    host = topo.host_of(src)
    if host == topo.host_of(dst):
        return None
    rail = topo.local_of(dst)
    if rail == topo.local_of(src):
        return None
    proxy = topo.gpu_at(host, rail)
    return None if proxy in (None, src) else proxy


def pxn_proxies(src: list[int], dst: list[int], topo: TopologyView) -> set[int]:
    """The GPUs that relay sends ``src[i] -> dst[i]``: :func:`pxn_proxy` of
    every pair that has one. With :data:`RELAY_ARRAYS` the pairs that surely
    go direct are set aside for all at once and the relays looked up once per
    (source host, destination rail); else pair by pair, the reference."""
    if not topo.pxn:
        return set()
    a = np.asarray(src, dtype=np.int64)
    b = np.asarray(dst, dtype=np.int64)
    hosts, rails = topo.host_array(), topo.local_array()
    if (not RELAY_ARRAYS or not len(a) or min(a.min(), b.min()) < 0
            or max(a.max(), b.max()) >= len(hosts)):
        return {p for s, d in zip(src, dst) if (p := pxn_proxy(s, d, topo)) is not None}
    may = (hosts[a] != hosts[b]) & (rails[a] != rails[b])
    a, b = a[may], b[may]
    if not len(a):
        return set()
    keys, inv = np.unique(np.stack([hosts[a], rails[b]], axis=1), axis=0, return_inverse=True)
    relay = [topo.gpu_at(h, j) for h, j in keys.tolist()]
    has = np.array([p is not None for p in relay], dtype=bool)
    proxy = np.array([-1 if p is None else p for p in relay], dtype=np.int64)
    inv = inv.reshape(-1)
    return set(proxy[inv][has[inv] & (proxy[inv] != a)].tolist())


#: Relays of many sends found with arrays (:func:`pxn_proxies`); False: one
#: send at a time, the reference.
RELAY_ARRAYS = True


def legs(pairs, topo: TopologyView) -> tuple[tuple[tuple[int, int], ...], list[list[int]]]:
    """The flows of sends ``pairs``: (src, dst) per flow, and per send the
    indices of its flows (one direct, two through a PXN proxy)."""
    flows: list[tuple[int, int]] = []
    of_send: list[list[int]] = []
    may = _may_relay(pairs, topo)
    if not any(may):                # every send direct: one flow each
        return tuple((a, b) for a, b in pairs), [[i] for i in range(len(may))]
    for (a, b), maybe in zip(pairs, may):
        proxy = pxn_proxy(a, b, topo) if maybe else None
        hops = [(a, b)] if proxy is None else [(a, proxy), (proxy, b)]
        of_send.append(list(range(len(flows), len(flows) + len(hops))))
        flows.extend(hops)
    return tuple(flows), of_send


def _may_relay(pairs, topo: TopologyView):
    """Per send, False where :func:`pxn_proxy` is surely None (same host or
    same rail, found for all sends at once), else True."""
    if not topo.pxn or len(pairs) < 64:
        return [True] * len(pairs)
    ends = np.array(pairs, dtype=np.int64).reshape(len(pairs), 2)
    hosts, rails = topo.host_array(), topo.local_array()
    if ends.min() < 0 or ends.max() >= len(hosts):
        return [True] * len(pairs)
    src, dst = ends[:, 0], ends[:, 1]
    return ((hosts[src] != hosts[dst]) & (rails[src] != rails[dst])).tolist()


class PointToPoint:
    """Sends on one network, with PXN where the topology has it (plans cached)."""

    def __init__(self, net, topo: TopologyView):
        self.net = net
        self.topo = topo
        self._plans: dict = {}
        self._batches: dict = {}
        self._isolated: dict = {}
        self._sized: dict = {}      # (id of a batch list, bytes) -> send_batch arguments
        self._seen: dict = {}       # id(pairs) -> (pairs, batches)

    def plan(self, pairs):
        """(routes, per-flow delay_s) of sends ``pairs``."""
        pairs = tuple(pairs)
        hit = self._plans.get(pairs)
        if hit is None:
            flows, of_send = legs(pairs, self.topo)
            routes = self.net.router.routes(flows)
            # every flow waits for the summed latency of its send's legs
            # (one or two terms: the same sums in any order)
            send_of = np.repeat(np.arange(len(of_send)), [len(idx) for idx in of_send])
            delay = np.bincount(send_of, weights=routes.latency,
                                minlength=len(of_send))[send_of]
            hit = self._plans[pairs] = (routes, delay)
        return hit

    def isolated_end_s(self, pairs, nbytes: float, start_s: float) -> float:
        """When sends ``pairs`` started at ``start_s`` have all arrived if
        nothing else uses their links (see :meth:`isolated_steps`)."""
        return max(((start_s + d) + t for d, t in self.isolated_steps(pairs, nbytes)),
                   default=start_s)

    def isolated_steps(self, pairs, nbytes: float) -> list[tuple[float, float]]:
        """Per batch of one path latency of sends ``pairs`` alone on their
        links: (latency, then the batch's evolution alone), as :meth:`send`
        runs them on an idle network; they end at ``(start + latency) +
        evolution`` (the same floating-point operations)."""
        key = (tuple(pairs), float(nbytes))
        steps = self._isolated.get(key)
        if steps is None:
            steps = self._isolated[key] = [
                (d, self.net.alone_time_s(r, np.full(n, float(nbytes)), np.ones(n)))
                for r, n, d in self._batches_of(key[0]) if n]
        return steps

    def _batches_of(self, pairs: tuple) -> list:
        """One batch per distinct path latency: (routes, flow count, delay_s)."""
        seen = self._seen.get(id(pairs))
        if seen is not None and seen[0] is pairs:   # this very tuple again: skip hashing it
            return seen[1]
        batches = self._batches.get(pairs)
        if batches is None:
            routes, delay = self.plan(pairs)
            values = np.unique(delay)
            if len(values) == 1:
                batches = [(routes, len(routes), float(values[0]))]
            else:
                batches = []
                for value in values:
                    sel = np.flatnonzero(delay == value)
                    sub = routes.subset(sel)
                    if routes.key is not None:   # same structure every time: memoisable
                        sub.key = ("p2p", routes.key, sel.tobytes())
                    batches.append((sub, len(sel), float(value)))
            self._batches[pairs] = batches
        self._seen[id(pairs)] = (pairs, batches)            # holds pairs alive
        return batches

    def send(self, pairs, nbytes: float):
        """Event that fires when every send of ``pairs`` (``nbytes`` each) has arrived."""
        batches = self._batches_of(tuple(pairs))
        if not batches or not batches[0][1]:
            return self.net.env.timeout(0)
        key = (id(batches), float(nbytes))
        sized = self._sized.get(key)
        if sized is None:       # the network only reads these arrays
            sized = self._sized[key] = [(r, np.full(n, float(nbytes)), np.ones(n), d)
                                        for r, n, d in batches]
        events = [self.net.send_batch(*b) for b in sized]
        return events[0] if len(events) == 1 else self.net.env.all_of(events)
