"""Round trips: a program learns that its send has ended when the peer's
reply, posted after the peer received it, arrives (``sim.engine.round_trips``).
With that, sends beside a collective that waits for the reply are private."""
import copy

import pytest

import topologies
from sim.collectives import TopologyView
from sim.engine.chain_pass import latest_markers, ordered_positions
from sim.engine.private_sends import _Scan, private_sends
from sim.engine.round_trips import RoundTrips
from sim.network.routing import Router
from sim.simulate import simulate_trace
from tests.helpers import UNIT_COMPUTE, small_job, span_rows, trace as make_trace
from workloads.trace import Program

from test_folding import TINY

AR = {"kind": "all_reduce", "group": "g", "bytes": 2**26, "stream": "dp"}


def _graph():
    return topologies.build_cluster("h100-sxm", 16, nodes_per_leaf=2, spines=1)


def _ping_pong(reply_waits=True, reply_to=8, world=16):
    """Rank 0 sends to rank 8 and waits for a reply before an all-reduce with
    rank 8 (both NICs); rank 8 replies after receiving (``reply_waits``) or
    at once, to ``reply_to``."""
    a = [{"id": "s", "kind": "send", "peer": 8, "bytes": 2**26, "tag": 1, "stream": "out"},
         {"id": "r", "kind": "recv", "peer": reply_to, "bytes": 2**26, "tag": 2,
          "stream": "in"},
         dict(AR, id="a", deps=["r"])]
    b = [{"id": "r", "kind": "recv", "peer": 0, "bytes": 2**26, "tag": 1, "stream": "in"},
         {"id": "s", "kind": "send", "peer": 0, "bytes": 2**26, "tag": 2, "stream": "out",
          "deps": ["r"] if reply_waits else []},
         dict(AR, id="a", deps=["s", "r"])]
    progs = [{"ranks": [0], "ops": a}, {"ranks": [8], "ops": b}]
    progs += [{"ranks": [r], "ops": []} for r in range(world) if r not in (0, 8)]
    return make_trace(world, progs, {"g": [[0, 8]]})


def _trips(tr):
    scans = [_Scan(p) for p in tr.programs]
    return RoundTrips(tr, [sc.op_at for sc in scans], [sc.tag_stream for sc in scans])


def _same_as_network(tr, g):
    fast = simulate_trace(tr, g, UNIT_COMPUTE)
    ref = simulate_trace(tr, g, UNIT_COMPUTE, p2p_fast_path=False)
    assert span_rows(fast) == span_rows(ref)
    assert fast.makespan_s == ref.makespan_s
    return fast, ref


def test_a_reply_orders_the_send_before_the_collective():
    tr, g = _ping_pong(), _graph()
    assert _trips(tr).sources(0) == {1: 0}      # receive 'r' ends after send 's'
    got = private_sends(tr, TopologyView(g), Router(g))
    assert got[:2] == [frozenset({0, 1}), frozenset({0, 1})]
    fast, ref = _same_as_network(tr, g)
    assert fast.network.flows < ref.network.flows


def test_a_reply_that_need_not_wait_orders_nothing():
    tr, g = _ping_pong(reply_waits=False), _graph()
    assert _trips(tr).sources(0) == {}
    got = private_sends(tr, TopologyView(g), Router(g))
    assert 0 not in got[0]                      # the send may meet the all-reduce
    _same_as_network(tr, g)


def test_a_reply_from_another_rank_is_no_round_trip():
    """Rank 0 sends to 8 but hears from 9 (who never heard from 0); 9 sends
    to 0 and 8 receives from 0: the partners do not pair up."""
    a = [{"id": "s", "kind": "send", "peer": 8, "bytes": 2**20, "tag": 1, "stream": "out"},
         {"id": "r", "kind": "recv", "peer": 9, "bytes": 2**20, "tag": 2, "stream": "in"},
         dict(AR, id="a", deps=["r"])]
    b = [{"id": "r", "kind": "recv", "peer": 0, "bytes": 2**20, "tag": 1, "stream": "in"},
         dict(AR, id="a", deps=["r"])]
    c = [{"id": "s", "kind": "send", "peer": 0, "bytes": 2**20, "tag": 2, "stream": "out"}]
    progs = [{"ranks": [0], "ops": a}, {"ranks": [8], "ops": b}, {"ranks": [9], "ops": c}]
    progs += [{"ranks": [r], "ops": []} for r in range(16) if r not in (0, 8, 9)]
    tr, g = make_trace(16, progs, {"g": [[0, 8]]}), _graph()
    assert _trips(tr).sources(0) == {}
    assert 0 not in private_sends(tr, TopologyView(g), Router(g))[0]
    _same_as_network(tr, g)


def test_partners_that_differ_by_peer_spec_are_left_alone():
    """Ranks 0 and 1 hear from ranks 8 and 9 through family ``pp`` but the
    replies go through family ``x``, crossed (8 answers 1, 9 answers 0): a
    rank of the second program has two partners in the first."""
    pp, x = {"group": "pp", "offset": 1}, {"group": "x", "offset": 1}
    a = [{"id": "s", "kind": "send", "peer": pp, "bytes": 2**20, "tag": 1, "stream": "out"},
         {"id": "r", "kind": "recv", "peer": pp, "bytes": 2**20, "tag": 2, "stream": "in"}]
    b = [{"id": "r", "kind": "recv", "peer": pp, "bytes": 2**20, "tag": 1, "stream": "in"},
         {"id": "s", "kind": "send", "peer": x, "bytes": 2**20, "tag": 2, "stream": "out",
          "deps": ["r"]}]
    progs = [{"ranks": [0, 1], "ops": a}, {"ranks": [8, 9], "ops": b}]
    progs += [{"ranks": [r], "ops": []} for r in range(16) if r not in (0, 1, 8, 9)]
    tr = make_trace(16, progs, {"pp": [[0, 8], [1, 9]], "x": [[8, 1], [9, 0]]})
    assert _trips(tr).sources(0) == {}
    # the same with the replies through pp pairs up
    b[1]["peer"] = pp
    tr = make_trace(16, progs, {"pp": [[0, 8], [1, 9]], "x": [[8, 1], [9, 0]]})
    assert _trips(tr).sources(0) == {1: 0}


@pytest.mark.parametrize("par,batch", [({"tp": 2, "pp": 4}, 16),
                                       ({"tp": 2, "pp": 4, "vpp": 2,
                                         "schedule": "interleaved"}, 16),
                                       ({"tp": 2, "pp": 2, "zero": 1}, 8)])
def test_passes_agree_compressed_and_flat(par, batch):
    """The marker pass and the ordering pass with injected knowledge give the
    same answers on a compressed program as on its ops listed one by one,
    and the receives noted from the ordering passes give the same round
    trips as the marker pass."""
    trace, graph, _ = small_job(TINY, 16, par, batch, gpus_per_node=2)
    flat = copy.copy(trace)
    flat.programs = [Program(p.ranks, list(p.ops)) for p in trace.programs]
    assert any(p.compressed for p in trace.programs)
    recv = lambda op: op.kind == "recv"     # noqa: E731
    send = lambda op: op.kind == "send"     # noqa: E731
    chain = lambda op: op.kind == "send" or op.group == "dp"    # noqa: E731
    plain, noted = _trips(trace), _trips(trace)
    for q, (p, f) in enumerate(zip(trace.programs, flat.programs)):
        assert latest_markers(p, recv, send) == latest_markers(f, recv, send)
        starts: dict = {}
        ok = ordered_positions(p, recv, watch=send, starts=starts)
        noted.note(q, list(ok), starts)
    for q, (p, f) in enumerate(zip(trace.programs, flat.programs)):
        inject = plain.sources(q)
        assert inject == noted.sources(q)
        assert ordered_positions(p, chain, inject) == ordered_positions(f, chain, inject)
    assert any(plain.sources(q) for q in range(len(trace.programs)))
