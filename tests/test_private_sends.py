"""Private sends: point-to-point transfers no other traffic can meet, timed in
closed form (``p2p_fast_path``) with exactly the spans of the flow network.

A send is private when every link of its paths belongs to its sender (links
out of the GPU and its own NIC) or its receiver (links into them), neither
relays for anyone under PXN, and in each end's program it is ordered with
every other op that can load those links (sends on the sending side,
receives on the receiving side, collectives of families that leave the
NVSwitch).
"""
import numpy as np
import pytest
import simpy

import topologies
from sim.collectives import TopologyView
from sim.collectives.p2p import PointToPoint
from sim.engine.private_sends import private_sends
from sim.errors import SimulationStuck
from sim.network.flows import FlowNetwork
from sim.network.routing import Router
from sim.simulate import simulate_trace
from tests.helpers import UNIT_COMPUTE, small_job, span_rows, trace as make_trace

from test_folding import TINY

TINY12 = dict(TINY, layers=12)

# (id, model, gpus, gpus per host, parallelism, global batch)
JOBS = [
    ("tp8-pp4-1f1b", TINY, 32, 8, {"tp": 8, "pp": 4}, 8),
    # deep and long: many private transfers end in one drain of the ready queue
    ("tp2-pp8-1f1b-deep", TINY, 16, 2, {"tp": 2, "pp": 8}, 32),
    ("tp4-pp4-vpp3-interleaved", TINY12, 16, 4,
     {"tp": 4, "pp": 4, "vpp": 3, "schedule": "interleaved"}, 8),
    ("tp2-pp2-dp2-shared-nics", TINY, 8, 2, {"tp": 2, "pp": 2}, 8),
    ("tp4-pp2-dp2-sp-zero1", TINY, 16, 4, {"tp": 4, "pp": 2, "sequence_parallel": True,
                                           "zero": 1}, 8),
    # data parallel beside a deep pipeline: round trips order most sends
    ("tp2-pp4-dp2-1f1b", TINY, 16, 2, {"tp": 2, "pp": 4}, 16),
    ("tp2-pp4-dp2-vpp2-interleaved", TINY, 16, 2,
     {"tp": 2, "pp": 4, "vpp": 2, "schedule": "interleaved"}, 16),
    # ring attention: sends and receives inside the blocks' templates
    ("tp2-cp2-pp2-dp2-sp", TINY, 16, 4,
     {"tp": 2, "cp": 2, "pp": 2, "sequence_parallel": True}, 8),
]


def _p2p_positions(trace):
    return [{i for i, op in enumerate(p.ops) if op.kind in ("send", "recv")}
            for p in trace.programs]


def _private(trace, graph):
    return private_sends(trace, TopologyView(graph), Router(graph))


@pytest.mark.parametrize("name,model,gpus,per_host,par,batch", JOBS, ids=[j[0] for j in JOBS])
@pytest.mark.parametrize("fold", [True, False], ids=["folded", "unfolded"])
def test_p2p_fast_path_gives_the_same_spans(name, model, gpus, per_host, par, batch, fold):
    trace, graph, compute = small_job(model, gpus, par, batch, gpus_per_node=per_host)
    fast = simulate_trace(trace, graph, compute, fold=fold)
    ref = simulate_trace(trace, graph, compute, fold=fold, p2p_fast_path=False)
    assert span_rows(fast) == span_rows(ref)
    assert fast.makespan_s == ref.makespan_s
    # a transfer leaves the network when its send (and its receive) is private
    sends = [{i for i in ok if p.ops[i].kind == "send"}
             for p, ok in zip(trace.programs, _private(trace, graph))]
    assert (fast.network.flows < ref.network.flows) == any(sends)
    assert any(sends)


def test_pipeline_sends_between_hosts_on_one_rail_are_private():
    """One stage per host: every send leaves its GPU through its own NIC on
    the rail of the receiver's GPU, and TP collectives stay on the NVSwitch.
    The first and last stages also all-reduce the embedding gradient across
    hosts after the last backward pass, which nothing in their own programs
    orders after their sends; the peer's replies do (round trips), except for
    the last stage's last two sends: stage 2 (warm-up of one micro-batch) has
    no forward left to answer them with. Those stay on the network; every
    receive (which the all-reduce waits for) is private."""
    trace, graph, _ = small_job(TINY, 32, {"tp": 8, "pp": 4}, 8, gpus_per_node=8)
    private = _private(trace, graph)
    every = _p2p_positions(trace)
    assert private[:3] == every[:3]
    ops = trace.programs[3].ops
    assert any(op.group == "embd" for op in ops)
    assert {ops[i].id for i in every[3] - private[3]} == {"B.mb6.c0.send", "B.mb7.c0.send"}


def test_sends_beside_data_parallel_traffic_on_the_same_nics():
    """DP pairs on two hosts share the NICs the pipeline sends use, and
    nothing in a stage's program orders its sends with its data-parallel
    collectives. Stage 0's forward sends are all answered (each backward
    reply comes before its own last backward, which the collectives wait
    for); stage 1's backward sends of micro-batches 2 and 3 get no forward
    in reply and stay on the network."""
    trace, graph, _ = small_job(TINY, 8, {"tp": 2, "pp": 2}, 8, gpus_per_node=2)
    private = _private(trace, graph)
    sends = [{op.id for i, op in enumerate(p.ops) if op.kind == "send" and i in ok}
             for p, ok in zip(trace.programs, private)]
    assert sends == [{f"F.mb{k}.c0.send" for k in range(4)},
                     {"B.mb0.c0.send", "B.mb1.c0.send"}]


def _pair(src, dst, world=16, ops_src=(), ops_dst=(), groups=None):
    progs = [{"ranks": [src], "ops": [{"id": "s", "kind": "send", "peer": dst, "bytes": 2**26},
                                      *ops_src]},
             {"ranks": [dst], "ops": [{"id": "r", "kind": "recv", "peer": src, "bytes": 2**26},
                                      *ops_dst]}]
    progs += [{"ranks": [r], "ops": []} for r in range(world) if r not in (src, dst)]
    return make_trace(world, progs, groups)


def _h100(pxn=True):
    g = topologies.build_cluster("h100-sxm", 16, nodes_per_leaf=2, spines=1)
    g.graph["pxn"] = pxn
    return g


@pytest.mark.parametrize("src,dst,pxn,private", [
    (0, 8, True, True),          # same rail: own NICs and the rail leaf
    (0, 9, True, False),         # across rails: relayed through GPU 1 over NVLink
    (0, 9, False, True),         # across rails without PXN: through a spine that can
                                 # never limit it (full bisection, spraying)
    (0, 9, False, "ecmp"),       # the same pinned to one path: the spine may limit it
    (0, 3, True, True),          # inside a host: both GPUs' own NVLink ports
])
def test_which_lone_sends_are_private(src, dst, pxn, private):
    g = _h100(pxn)
    if private == "ecmp":
        g.graph["routing"], private = "ecmp", False
    tr = _pair(src, dst)
    got = _private(tr, g)
    assert (got[0] == {0} and got[1] == {0}) == private
    fast = simulate_trace(tr, g, UNIT_COMPUTE)
    ref = simulate_trace(tr, g, UNIT_COMPUTE, p2p_fast_path=False)
    assert span_rows(fast) == span_rows(ref)
    assert (fast.network.flows == 0) == private


def test_a_collective_leaving_the_host_at_the_same_time_keeps_the_send_on_the_network():
    """GPU 0 sends to GPU 8 while its all-reduce with GPU 8 may run: both load
    GPU 0's NIC. Chained after the send, the all-reduce cannot meet it."""
    groups = {"g": [[0, 8]]}
    ar = {"id": "a", "kind": "all_reduce", "group": "g", "bytes": 2**26, "stream": "dp"}
    loose = _pair(0, 8, ops_src=[ar], ops_dst=[ar], groups=groups)
    chained = _pair(0, 8, ops_src=[dict(ar, deps=["s"])], ops_dst=[dict(ar, deps=["r"])],
                    groups=groups)
    g = _h100()
    assert _private(loose, g)[:2] == [frozenset(), frozenset()]
    assert _private(chained, g)[:2] == [frozenset({0}), frozenset({0})]
    for tr in (loose, chained):
        fast = simulate_trace(tr, g, UNIT_COMPUTE)
        ref = simulate_trace(tr, g, UNIT_COMPUTE, p2p_fast_path=False)
        assert span_rows(fast) == span_rows(ref)
    # at once, the send and the all-reduce share GPU 0's NIC and take longer
    both = simulate_trace(loose, g, UNIT_COMPUTE)
    send = next(s for s in both.spans if s.op == "s")
    alone = next(s for s in simulate_trace(chained, g, UNIT_COMPUTE).spans if s.op == "s")
    assert send.end - send.sync > alone.end - alone.sync


@pytest.mark.parametrize("pairs", [((0, 8),), ((0, 8), (1, 9), (2, 10)), ((0, 9), (3, 8))])
def test_closed_form_equals_the_flow_network_on_idle_links(pairs):
    """``isolated_end_s`` is what the flow network gives the same sends alone
    (relayed ones included: two legs, two latencies), to the last bit."""
    g = _h100()
    topo = TopologyView(g)
    env = simpy.Environment()
    p2p = PointToPoint(FlowNetwork(env, Router(g)), topo)
    env.run(until=1.5)
    done = p2p.send(pairs, 3e8)
    env.run(done)
    closed = PointToPoint(FlowNetwork(simpy.Environment(), Router(g)), topo)
    assert closed.isolated_end_s(pairs, 3e8, 1.5) == env.now
    # and the single-path closed form: latency + bytes / bottleneck
    if pairs == ((0, 8),):
        path = [0, "h0.nic0", "leaf.r0.g0", "h1.nic0", 8]
        edges = [g.edges[a, b] for a, b in zip(path, path[1:])]
        lat = sum(e["latency_s"] for e in edges)
        bw = min(e["bw_bytes_per_s"] * e.get("efficiency", 1.0) for e in edges)
        assert closed.isolated_end_s(pairs, 3e8, 0.0) == pytest.approx(lat + 3e8 / bw,
                                                                       rel=1e-12)


def test_a_straggler_split_class_keeps_the_same_spans():
    trace, graph, compute = small_job(TINY, 32, {"tp": 8, "pp": 4}, 8, gpus_per_node=8)
    speeds = [1.0] * 32
    speeds[9] = 0.8
    fast = simulate_trace(trace, graph, compute, speeds=speeds)
    ref = simulate_trace(trace, graph, compute, speeds=speeds, p2p_fast_path=False)
    assert len(fast.classes) > 4
    assert span_rows(fast) == span_rows(ref)
    assert fast.network.flows < ref.network.flows


@pytest.mark.parametrize("fast", [True, False])
def test_a_send_nobody_receives_is_reported_stuck(fast):
    """A private send posted ahead of the clock that never pairs is named in
    the stuck report like one posted on the clock."""
    progs = [{"ranks": [0], "ops": [{"id": "s", "kind": "send", "peer": 8, "bytes": 2**20,
                                     "tag": 7}]},
             {"ranks": [8], "ops": [{"id": "c", "kind": "compute", "duration_s": 1e-3}]}]
    progs += [{"ranks": [r], "ops": []} for r in range(16) if r not in (0, 8)]
    tr = make_trace(16, progs)
    g = _h100()
    assert _private(tr, g)[0] == {0}       # private on its side
    with pytest.raises(SimulationStuck, match=r"op 's' \(send\): waiting for a matching recv "
                                              r"\(tag 7\) on rank 8"):
        simulate_trace(tr, g, UNIT_COMPUTE, p2p_fast_path=fast)


@pytest.mark.parametrize("make", [
    lambda: _h100(),
    lambda: _h100(pxn=False),
    lambda: topologies.build_cluster("a100-80gb", 64, gpus_per_node=4, nodes_per_leaf=2,
                                     oversubscription=2.0),
    lambda: topologies.build_cluster("a100-80gb", 8),
    lambda: topologies.build_cluster("gb200", 144),
    lambda: topologies.fat_tree(4, 25e9, 1e-6),
])
def test_link_table_is_owner_of_every_link(make):
    """The array form of link ownership equals the link-by-link one."""
    from sim.engine.private_sends import FREE, _Links
    g = make()
    links = _Links(Router(g))
    side, gpu, shared = links.table()
    for link in range(len(side)):
        own = links.owner(link)
        want = ((-1, -1, False) if own is None else (0, -1, False) if own is FREE
                else (1 if own[0] == "src" else 2, own[1], own[2]))
        assert (int(side[link]), int(gpu[link]), bool(shared[link])) == want
    assert (side == 1).any() and (side == 2).any()


@pytest.mark.parametrize("routing", ["spray", "ecmp"])
@pytest.mark.parametrize("par,batch", [({"tp": 2, "pp": 4}, 16),
                                       ({"tp": 2, "pp": 4, "vpp": 2,
                                         "schedule": "interleaved"}, 16)])
def test_sends_across_the_spines_of_a_full_bisection_fabric(par, batch, routing):
    """Two nodes per leaf group: pipeline neighbours on other groups talk
    through the spines. Sprayed, those links can never limit a send (see
    sim.network.slack), so such sends are private and timed in closed form,
    with the same spans as on the network; pinned to one path (ECMP), they
    stay on the network."""
    trace, _, compute = small_job(TINY, 16, par, batch, gpus_per_node=2)
    graph = topologies.build_cluster("a100-80gb", 16, gpus_per_node=2, nodes_per_leaf=2)
    graph.graph["routing"] = routing
    router = Router(graph)
    kinds = router.node_table()[2]
    spine = np.array([kinds[a] == kinds[b] == "switch" for a, b in zip(*router.edge_ends())])
    private = private_sends(trace, TopologyView(graph), router)
    crossing = set()        # (program, position) of sends whose routes use a spine
    for p, prog in enumerate(trace.programs):
        for i, op in enumerate(prog.ops):
            if op.kind == "send":
                pairs = tuple((trace.gpu_of(r), trace.gpu_of(op.peer.resolve(r, trace)))
                              for r in prog.ranks)
                if spine[router.routes(pairs).flat].any():
                    crossing.add((p, i))
    assert crossing
    assert any(i in private[p] for p, i in crossing) == (routing == "spray")
    fast = simulate_trace(trace, graph, compute)
    ref = simulate_trace(trace, graph, compute, p2p_fast_path=False)
    assert span_rows(fast) == span_rows(ref)
    assert fast.makespan_s == ref.makespan_s


def test_undominated_steps_give_the_same_end_as_all_steps():
    """A closed-form transfer ends at the latest (start + latency) + evolution of
    its batches; the batches no other beats in both numbers give the same float."""
    from sim.engine.executor import _undominated
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 8, 40):
        for _ in range(50):
            # few distinct values, so that ties and dominated pairs are common
            d = rng.choice([1e-6, 2e-6, 2.5e-6, 7e-6], n) * rng.choice([1.0, 1 + 1e-15], n)
            t = rng.choice([0.01, 0.02, 0.020000000001, 0.3], n)
            steps = list(zip(d.tolist(), t.tolist()))
            kept = _undominated(steps)
            assert set(kept) <= set(steps) and len(kept) <= len(steps)
            for sync in rng.uniform(0, 100, 5).tolist():
                assert (max((sync + a) + b for a, b in kept)
                        == max((sync + a) + b for a, b in steps))
    assert _undominated([]) == ()


def test_a_timeout_lands_on_the_time_it_aims_at():
    """Early in a step ``now + (t - now)`` can miss ``t`` by a unit in the
    last place; the clock's delays land on it exactly, so work started from
    the clock and work timed ahead of it in closed form agree to the bit."""
    import math
    from sim.network.clock import delay_to
    rng = np.random.default_rng(7)
    missed = 0
    for now, t in zip(rng.uniform(0, 1e-3, 2000), rng.uniform(1e-3, 1.0, 2000)):
        now, t = float(now), float(t)
        missed += now + (t - now) != t
        d = delay_to(now, t)
        assert d >= 0 and math.isclose(d, t - now, rel_tol=1e-15)
        if now + d != t:        # out of reach: the sums skip t, and d lands just below
            assert now + d == math.nextafter(t, 0) < t < now + math.nextafter(d, math.inf)
    assert missed        # the plain difference does miss
    assert delay_to(0.5, 0.5) == 0.0 and delay_to(0.0, 2.0) == 2.0
    # now's bits below t's last place are exactly half of it: t is skipped
    now, t = 0.0008929477581907895, 0.050770868139997795
    d = delay_to(now, t)
    assert now + d == math.nextafter(t, 0)
