"""Peers and PXN relays of many ranks at once give exactly what resolving
them one rank at a time gives (the references behind ``PEER_ARRAYS`` and
``RELAY_ARRAYS``)."""
import numpy as np
import pytest

import topologies
from sim.collectives import TopologyView
from sim.collectives import p2p
from sim.collectives.p2p import pxn_proxies, pxn_proxy
from sim.engine.private_sends import _proxies, _Scan, private_sends
from sim.network.routing import Router
from sim.simulate import simulate_trace
from tests.helpers import small_job, span_rows
from workloads import trace as trace_mod
from workloads.trace import Peer, Trace

from test_folding import TINY


def _trace(groups, n):
    return Trace(world_size=n, programs=[], groups=groups)


GROUPS = {
    "even": [[0, 1, 2, 3], [4, 5, 6, 7]],
    "ragged": [[0, 3, 6], [1, 4], [2, 5, 7]],
    "shuffled": [[7, 2, 5, 0], [1, 6], [3], [4]],
    "repeat": [[0, 1, 0, 2], [3, 4, 5, 6, 7]],     # a rank twice in one list
    "overlap": [[0, 1, 2, 3], [3, 4, 5, 6, 7]],    # a rank in two lists
}


@pytest.mark.parametrize("family", sorted(GROUPS))
@pytest.mark.parametrize("offset", [0, 1, -1, 3, -7, 10**12])
def test_peers_from_arrays_equal_the_one_by_one_resolution(family, offset, monkeypatch):
    trace = _trace(GROUPS, 8)
    peer = Peer(group=family, offset=offset)
    ranks = [7, 0, 3, 3, 5, 1, 2, 4, 6]
    fast = peer.resolve_all(ranks, trace)
    one = [peer.resolve(r, trace) for r in ranks]
    assert all(type(x) is int for x in fast + one)
    monkeypatch.setattr(trace_mod, "PEER_ARRAYS", False)
    ref = [peer.resolve(r, trace) for r in ranks]
    assert fast == one == ref == peer.resolve_all(ranks, trace)
    assert (trace.member_arrays(family) is None) == (family in ("repeat", "overlap"))


def test_absolute_peers_and_ranks_outside_the_family():
    trace = _trace({"part": [[0, 1], [2, 3]]}, 6)
    assert Peer(rank=4).resolve_all((0, 1, 2), trace) == [4, 4, 4]
    assert Peer(group="part", offset=1).resolve_all([], trace) == []
    with pytest.raises(KeyError):           # as the reference: rank 5 has no list
        Peer(group="part", offset=1).resolve_all([0, 5], trace)
    with pytest.raises(KeyError):
        Peer(group="part", offset=1).resolve(5, trace)


@pytest.mark.parametrize("gpn", [1, 4, 8])
def test_relays_from_arrays_equal_the_pair_by_pair_rule(gpn, monkeypatch):
    graph = topologies.build_cluster("h100-sxm", 64, gpus_per_node=gpn)
    topo = TopologyView(graph)
    rng = np.random.default_rng(3)
    src = rng.integers(0, 64, 500).tolist()
    dst = rng.integers(0, 64, 500).tolist()
    ref = {p for a, b in zip(src, dst) if (p := pxn_proxy(a, b, topo)) is not None}
    assert pxn_proxies(src, dst, topo) == ref
    assert (len(ref) > 0) == (gpn > 1 and topo.pxn)
    monkeypatch.setattr(p2p, "RELAY_ARRAYS", False)
    assert pxn_proxies(src, dst, topo) == ref


# pipeline sends across rails (relayed) and on one rail (direct)
JOBS = [(TINY, 16, {"tp": 2, "pp": 4}, 4), (TINY, 16, {"tp": 4, "pp": 4}, 4),
        (dict(TINY, layers=12), 16, {"tp": 2, "pp": 4, "vpp": 3, "schedule": "interleaved"}, 8)]


@pytest.mark.parametrize("model,gpus,par,per_host", JOBS)
def test_private_sends_and_steps_equal_with_the_references(model, gpus, par, per_host,
                                                           monkeypatch):
    trace, graph, compute = small_job(model, gpus, par, 8, gpus_per_node=per_host)
    topo = TopologyView(graph)
    scans = [_Scan(p) for p in trace.programs]
    fast = (_proxies(trace, topo, scans), private_sends(trace, topo, Router(graph)))
    step = simulate_trace(trace, graph, compute)
    with monkeypatch.context() as m:
        m.setattr(trace_mod, "PEER_ARRAYS", False)
        m.setattr(p2p, "RELAY_ARRAYS", False)
        ref = (_proxies(trace, topo, scans), private_sends(trace, topo, Router(graph)))
        ref_step = simulate_trace(trace, graph, compute)
    assert fast == ref
    assert span_rows(step) == span_rows(ref_step)
    assert step.makespan_s == ref_step.makespan_s
