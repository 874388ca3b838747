"""PXN for point-to-point sends that cross rails, against closed forms on idle topologies.

Expected times are written from the named links of the path (latency sum,
slowest capacity = bandwidth x efficiency), not read back from the router.
"""
import pytest

import topologies
from sim.collectives import TopologyView
from sim.collectives.p2p import legs, pxn_proxy
from sim.simulate import simulate_trace
from tests.helpers import UNIT_COMPUTE, trace

S = 2**30


def _cluster(pxn: bool = True):
    # 2 DGX H100 on one group of rail leaves, one spine with a 4:1 uplink
    g = topologies.build_cluster("h100-sxm", 16, nodes_per_leaf=2, oversubscription=4, spines=1)
    g.graph["pxn"] = pxn
    return g


def _path(g, nodes):
    edges = [g.edges[a, b] for a, b in zip(nodes, nodes[1:])]
    return (sum(e["latency_s"] for e in edges),
            min(e["bw_bytes_per_s"] * e.get("efficiency", 1.0) for e in edges))


def _send_time(g, src, dst, nbytes=S):
    progs = [{"ranks": [src], "ops": [{"id": "s", "kind": "send", "peer": dst, "bytes": nbytes}]},
             {"ranks": [dst], "ops": [{"id": "r", "kind": "recv", "peer": src, "bytes": nbytes}]}]
    progs += [{"ranks": [r], "ops": []} for r in range(16) if r not in (src, dst)]
    return simulate_trace(trace(16, progs), g, UNIT_COMPUTE).makespan_s


def test_proxy_is_the_senders_gpu_on_the_receivers_rail():
    topo = TopologyView(_cluster())
    assert pxn_proxy(0, 9, topo) == 1          # host 0 GPU 0 -> host 1 GPU 1: via host 0 GPU 1
    assert pxn_proxy(3, 13, topo) == 5
    assert pxn_proxy(0, 8, topo) is None       # same rail
    assert pxn_proxy(0, 5, topo) is None       # same host
    assert pxn_proxy(0, 9, TopologyView(_cluster(pxn=False))) is None
    flows, of_send = legs(((0, 9), (0, 8)), topo)
    assert flows == ((0, 1), (1, 9), (0, 8)) and of_send == [[0, 1], [2]]


def test_rail_crossing_send_through_pxn_closed_form():
    g = _cluster()
    nv_lat, nv_cap = _path(g, [0, "h0.nvsw", 1])
    rail_lat, rail_cap = _path(g, [1, "h0.nic1", "leaf.r1.g0", "h1.nic1", 9])
    expected = nv_lat + rail_lat + S / min(nv_cap, rail_cap)
    assert _send_time(g, 0, 9) == pytest.approx(expected, rel=1e-9)


def test_rail_crossing_send_without_pxn_crosses_the_spine():
    g = _cluster(pxn=False)
    lat, cap = _path(g, [0, "h0.nic0", "leaf.r0.g0", "spine0", "leaf.r1.g0", "h1.nic1", 9])
    assert _send_time(g, 0, 9) == pytest.approx(lat + S / cap, rel=1e-9)
    # the 4:1 spine uplink (2 x 50 GB/s / 4) is the bottleneck: PXN is about twice as fast
    assert _send_time(_cluster(), 0, 9) < 0.55 * _send_time(g, 0, 9)


def test_same_rail_send_is_not_relayed():
    g = _cluster()
    lat, cap = _path(g, [0, "h0.nic0", "leaf.r0.g0", "h1.nic0", 8])
    assert _send_time(g, 0, 8) == pytest.approx(lat + S / cap, rel=1e-9)
    assert _send_time(g, 0, 8) == _send_time(_cluster(pxn=False), 0, 8)


def test_relayed_send_shares_the_proxys_nic_with_the_proxys_own_send():
    # GPU 0 -> GPU 9 leaves host 0 through NIC 1, as GPU 1 -> GPU 9 does: the
    # two sends (received on two streams) share rail 1, which stays busy from
    # the first one's start until both have arrived
    g = _cluster()
    progs = [{"ranks": [0], "ops": [{"id": "s", "kind": "send", "peer": 9, "bytes": S}]},
             {"ranks": [9], "ops": [
                 {"id": "r", "kind": "recv", "peer": 0, "bytes": S},
                 {"id": "r2", "kind": "recv", "peer": 1, "bytes": S, "stream": "b"}]},
             {"ranks": [1], "ops": [{"id": "s", "kind": "send", "peer": 9, "bytes": S}]}]
    progs += [{"ranks": [r], "ops": []} for r in range(16) if r not in (0, 1, 9)]
    t = simulate_trace(trace(16, progs), g, UNIT_COMPUTE).makespan_s
    rail_lat, rail_cap = _path(g, [1, "h0.nic1", "leaf.r1.g0", "h1.nic1", 9])
    assert t == pytest.approx(rail_lat + 2 * S / rail_cap, rel=1e-9)


def _stage_boundary_time(pxn: bool):
    # 4 pipeline stages of 4 GPUs on 2 hosts: stage 1 (host 0, GPUs 4-7) sends
    # its activations to stage 2 (host 1, GPUs 0-3): every send crosses rails
    g = _cluster(pxn)
    groups = {"pp": [[r, r + 4, r + 8, r + 12] for r in range(4)]}
    send = [{"id": "s", "kind": "send", "bytes": S, "tag": 1, "peer": {"group": "pp", "offset": 1}}]
    recv = [{"id": "r", "kind": "recv", "bytes": S, "tag": 1, "peer": {"group": "pp", "offset": -1}}]
    progs = [{"ranks": [0, 1, 2, 3, 12, 13, 14, 15], "ops": []},
             {"ranks": [4, 5, 6, 7], "ops": send}, {"ranks": [8, 9, 10, 11], "ops": recv}]
    return simulate_trace(trace(16, progs, groups), g, UNIT_COMPUTE).makespan_s, g


def test_pipeline_sends_across_rails_take_pxn_and_avoid_the_spine():
    t_pxn, g = _stage_boundary_time(True)
    t_spine, _ = _stage_boundary_time(False)
    nv_lat, _ = _path(g, [4, "h0.nvsw", 0])
    rail_lat, rail_cap = _path(g, [0, "h0.nic0", "leaf.r0.g0", "h1.nic0", 8])
    # four relays on four rails, each NIC carrying one message
    assert t_pxn == pytest.approx(nv_lat + rail_lat + S / rail_cap, rel=1e-9)
    # without PXN the four messages share the 4:1 uplinks of their leaves
    assert t_spine > 1.8 * t_pxn
