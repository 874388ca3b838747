"""Ring algorithms (all-reduce, all-gather, reduce-scatter, broadcast, reduce).

On one host every member forwards to the next. Across hosts the data is split
over *channels*, one ring per GPU of a host (as NCCL opens one ring per NIC),
and each channel's ring enters and leaves hosts through different GPUs so that
every NIC carries one channel's traffic. Consecutive hosts are joined
rail-aligned where the order allows (exit GPU of one host and entry GPU of the
next have the same local index, so the hop stays on one rail).
"""
from __future__ import annotations

from itertools import chain as _chained, repeat

import numpy as np

from sim.collectives.base import CollectiveAlgorithm, Phase, TopologyView, ring_hops, ring_volume


def channel_rings(gpus: list[int], topo: TopologyView) -> list[list[int]]:
    """Ring orders, one per channel, over ``gpus`` (memoised per member tuple;
    not to be modified)."""
    return topo.memo("channel_rings", tuple(gpus), lambda: _channel_rings(gpus, topo))


def _channel_rings(gpus: list[int], topo: TopologyView) -> list[list[int]]:
    hosts = topo.by_host(gpus)
    k = min(len(h) for h in hosts)
    if len(hosts) == 1 or k == 1 or any(len(h) != k for h in hosts):
        return [list(gpus)]
    hosts = [sorted(h, key=topo.local_of) for h in hosts]
    n_hosts = len(hosts)
    rings = []
    for c in range(k):
        order: list[int] = []
        for h, members in enumerate(hosts):
            entry = members[(c + h) % k]
            if h < n_hosts - 1:
                exit_ = members[(c + h + 1) % k]
            else:
                exit_ = members[c % k] if (c + h) % k != c % k else members[(c + h + 1) % k]
            middle = [members[(c + h + j) % k] for j in range(k)]
            middle = [g for g in middle if g not in (entry, exit_)]
            order.extend([entry] + middle + [exit_])
        rings.append(order)
    return rings


class Ring(CollectiveAlgorithm):
    name = "ring"
    ops = ("all_reduce", "all_gather", "reduce_scatter", "broadcast", "reduce", "barrier")

    def phases(self, op, nbytes, gpus, topo):
        n = len(gpus)
        key = tuple(gpus)
        rings = channel_rings(gpus, topo)
        per_link, steps = ring_volume(op, nbytes / len(rings), n)
        chain = op in ("broadcast", "reduce")
        # the hops of every channel (a chain leaves out each ring's last), memoised
        pairs = topo.memo("ring_pairs" if not chain else "chain_pairs", key, lambda: [
            (order[i], order[(i + 1) % n]) for order in rings
            for i in range(n - 1 if chain else n)])
        hops = topo.memo("ring_hops", key, lambda: ring_hops(rings[0]))
        return [Phase(tuple([(a, b, per_link) for a, b in pairs]), steps, hops=hops)]


def merged_member_order_rings(op: str, nbytes: float, instances: list[list[int]],
                              topo: TopologyView) -> list[Phase] | None:
    """The merged phase of :class:`Ring` over concurrent ``instances`` (as
    :func:`sim.collectives.layout.merge_instances` makes it), built with
    arrays when every instance has one ring in member order: members of one
    length, each instance on one host or one member per host. None
    otherwise (the caller merges instance by instance)."""
    n = len(instances[0]) if instances else 0
    if n < 2 or any(len(gpus) != n for gpus in instances):
        return None
    gpus = np.array(instances, dtype=np.int64).reshape(len(instances), n)
    hosts = topo.host_array()
    if gpus.min() < 0 or gpus.max() >= len(hosts):
        return None
    h = np.sort(hosts[gpus], axis=1)
    distinct = 1 + np.count_nonzero(h[:, 1:] != h[:, :-1], axis=1)
    if not ((distinct == 1) | (distinct == n)).all():
        return None
    per_link, steps = ring_volume(op, nbytes / 1, n)
    hop = n - 1 if op in ("broadcast", "reduce") else n
    src, dst = gpus.tolist(), np.roll(gpus, -1, axis=1).tolist()
    flows = tuple(zip(_chained.from_iterable(row[:hop] for row in src),
                      _chained.from_iterable(row[:hop] for row in dst), repeat(per_link)))
    hops = [tuple(zip(a, b)) for a, b in zip(src, dst)]
    if len(instances) == 1:
        return [Phase(flows, steps, hops=hops[0])]
    return [Phase(flows, steps, hops[0], 1, 0.0, tuple(hops[1:]))]
