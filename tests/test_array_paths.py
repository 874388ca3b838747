"""Array (bulk) code paths give exactly what their one-at-a-time references give."""
from itertools import permutations

import pytest

from workloads.generate import ranks
from topologies.digraph import DiGraph
from workloads.generate.ranks import DIMS, RankGrid

FAMILIES = [(d,) for d in DIMS] + [("dp", "cp"), ("tp", "cp", "dp"), (), DIMS]


@pytest.mark.parametrize("sizes", [(1, 1, 1, 1), (2, 3, 1, 4), (8, 2, 3, 2), (4, 1, 5, 3)])
def test_rank_families_from_arrays_equal_the_reference(sizes):
    for order in permutations(DIMS):
        grid = RankGrid(dict(zip(DIMS, sizes)), order)
        for varying in FAMILIES:
            fast = grid.family(varying)
            assert fast == grid._family_reference(varying), (order, varying)
            assert all(type(r) is int for ms in fast for r in ms)


def test_rank_groups_from_arrays_equal_the_reference(monkeypatch):
    grid = RankGrid({"tp": 2, "cp": 2, "dp": 4, "pp": 3}, ("tp", "cp", "dp", "pp"))
    fast = grid.groups(ep=2), grid.groups(ep=2, etp=2)
    monkeypatch.setattr(ranks, "FAMILY_ARRAYS", False)
    assert (grid.groups(ep=2), grid.groups(ep=2, etp=2)) == fast


def _classes_both_ways(trace, speeds, monkeypatch):
    from sim.engine import classes
    fast = classes.rank_classes(trace, speeds)
    with monkeypatch.context() as m:
        m.setattr(classes, "REFINE_ARRAYS", False)
        ref = classes.rank_classes(trace, speeds)
    return fast, ref


LAYOUTS = [
    dict(tp=2, pp=2, dp=4),
    dict(tp=2, pp=4, dp=2, vpp=2, schedule="interleaved"),
    dict(tp=2, cp=2, pp=2, dp=2, sequence_parallel=True),
    dict(tp=1, dp=8, ep=4),
    dict(tp=4, pp=2, dp=2, zero=3),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=[str(sorted(x.items())) for x in LAYOUTS])
def test_rank_classes_from_arrays_equal_the_reference(layout, monkeypatch):
    import numpy as np
    from workloads.generate import Layout, Training, generate
    model = {"layers": 8, "hidden": 512, "heads": 8, "ffn_hidden": 2048, "vocab": 8192,
             "seq_len": 512}
    if layout.get("ep"):
        model["moe"] = {"experts": 8, "top_k": 2, "expert_ffn_hidden": 1024}
    trace = generate(model, Layout(**layout), Training(global_batch=16, micro_batch=1,
                                                       seq_len=512))
    n = trace.world_size
    rng = np.random.default_rng(5)
    speed_sets = [None, [1.0] * n]
    for slow in (1, 2, 3):
        s = [1.0] * n
        for r in rng.choice(n, size=slow, replace=False):
            s[int(r)] = float(rng.choice([0.5, 0.8]))
        speed_sets.append(s)
    for speeds in speed_sets:
        fast, ref = _classes_both_ways(trace, speeds, monkeypatch)
        assert fast == ref
    assert len(fast) > len(_classes_both_ways(trace, None, monkeypatch)[0])


def _synthetic_trace(groups, p2p_family, programs_of):
    from workloads.trace import Op, Peer, Program, Trace
    ops = [Op("ar", "all_reduce", "comm", bytes=1.0, group="coll"),
           Op("tx", "send", "comm", bytes=1.0, peer=Peer(group=p2p_family, offset=1))]
    n = 1 + max(r for lists in groups.values() for ms in lists for r in ms)
    progs = {}
    for r in range(n):
        progs.setdefault(programs_of(r), []).append(r)
    return Trace(world_size=n, programs=[Program(rs, list(ops)) for rs in progs.values()],
                 groups=groups)


@pytest.mark.parametrize("groups,uses_arrays", [
    ({"coll": [[0, 1, 2], [3, 4], [5, 6, 7]], "pp": [[0, 4], [1, 5], [2, 6], [3, 7]]}, True),
    ({"coll": [[0, 1, 2, 3, 4, 5, 6, 7]], "pp": [[0, 3, 6], [1, 4], [2, 5, 7]]}, False),
    ({"coll": [[0, 1], [2, 3], [4, 5], [6, 7]], "pp": [[0, 1], [1, 2], [3, 4, 5, 6, 7]]}, False),
    ({"coll": [[0, 1], [1, 2], [3, 4, 5, 6, 7]], "pp": [[0, 2, 4, 6], [1, 3, 5, 7]]}, False),
])
def test_rank_classes_on_groups_the_arrays_do_not_take(groups, uses_arrays, monkeypatch):
    from sim.engine import classes
    # ragged collective groups are bucketed; ragged p2p groups or a rank in two
    # groups of one family go to the reference refinement
    for programs_of in (lambda r: 0, lambda r: r % 2, lambda r: int(r == 5)):
        trace = _synthetic_trace(groups, "pp", programs_of)
        owner = trace.program_of_rank()
        got = classes._refine_arrays(trace, owner, [1.0] * trace.world_size)
        assert (got is not None) == uses_arrays
        for speeds in (None, [1.0] * 7 + [0.5]):
            fast, ref = _classes_both_ways(trace, speeds, monkeypatch)
            assert fast == ref


# -- topology graphs built in bulk --------------------------------------------

def _rail_one_edge_at_a_time(nodes, node, gpn, npl, spines, nic_bw, nic_eff, hop, up_eff, over):
    """The rail-optimized graph built node by node and edge by edge (as before)."""
    from topologies.graph import duplex
    from topologies.rail import leaf_name
    from topologies.specs import node_spec
    ns = node_spec(node)
    G = DiGraph()
    for g in range(-(-nodes // npl)):
        for j in range(gpn):
            G.add_node(leaf_name(j, g), kind="switch", tier="leaf")
    edges = []
    for h in range(nodes):
        nvsw = f"h{h}.nvsw"
        if gpn > 1:
            G.add_node(nvsw, kind="nvswitch", host=h)
        host_edges = []
        for j in range(gpn):
            gpu, nic = h * gpn + j, f"h{h}.nic{j}"
            G.add_node(gpu, kind="gpu", host=h, local=j)
            G.add_node(nic, kind="nic", host=h, local=j)
            if gpn > 1:
                host_edges += duplex(gpu, nvsw, ns.nvlink_bw_bytes_per_s, ns.nvlink_latency_s,
                                     "nvlink", ns.nvlink_efficiency)
            host_edges += duplex(gpu, nic, ns.pcie_bw_bytes_per_s, ns.pcie_latency_s, "pcie")
        for u, v, d in host_edges:
            G.add_edge(u, v, **d)
        for j in range(gpn):
            edges += duplex(f"h{h}.nic{j}", leaf_name(j, h // npl), nic_bw, hop, "ib", nic_eff)
    if spines:
        for s in range(spines):
            G.add_node(f"spine{s}", kind="switch", tier="spine")
        for g in range(-(-nodes // npl)):
            for j in range(gpn):
                for s in range(spines):
                    edges += duplex(leaf_name(j, g), f"spine{s}", npl * nic_bw / over / spines,
                                    hop, "ib", up_eff)
    for u, v, d in edges:
        G.add_edge(u, v, **d)
    return G


def _same_graph_in_order(a, b):
    assert list(a._node.items()) == list(b._node.items())
    for n in a._node:
        assert list(a._succ[n].items()) == list(b._succ[n].items()), n
        assert list(a._pred[n].items()) == list(b._pred[n].items()), n
    dicts = [d for nbrs in a._succ.values() for d in nbrs.values()]
    assert len({id(d) for d in dicts}) == len(dicts)           # a dict per direction
    assert all(a._pred[v][u] is d for u, nbrs in a._succ.items() for v, d in nbrs.items())
    assert len({id(d) for d in a._node.values()}) == len(a._node)


@pytest.mark.parametrize("nodes,node,gpn,npl,spines", [
    (1, "dgx-h100", 8, 4, 0), (5, "dgx-h100", 8, 2, 3), (6, "dgx-a100", 1, 4, 2),
    (9, "dgx-b200", 4, 3, 1)])
def test_rail_fabric_built_in_bulk_equals_the_edge_by_edge_graph(nodes, node, gpn, npl, spines):
    from topologies.rail import rail_optimized
    from topologies.specs import fabric_spec, node_spec
    G = rail_optimized(nodes, node, nodes_per_leaf=npl, spines=spines, gpus_per_node=gpn)
    ns = node_spec(node)
    fs = fabric_spec(ns.fabric)
    ref = _rail_one_edge_at_a_time(nodes, node, gpn, npl, spines,
                                   min(ns.nic_bw_bytes_per_s, fs.link_bw_bytes_per_s),
                                   ns.nic_efficiency, fs.hop_latency_s, fs.link_efficiency,
                                   fs.oversubscription)
    _same_graph_in_order(G, ref)
    assert G.number_of_edges() == ref.number_of_edges() > 0
    nxg = G.to_networkx()
    assert list(nxg.nodes(data=True)) == list(ref.nodes(data=True))
    assert list(nxg.edges(data=True)) == list(ref.edges(data=True))


def test_owned_nodes_and_edges_behave_as_add_node_and_add_edge():
    a, b = DiGraph(), DiGraph()
    a.add_owned_nodes([(0, {"kind": "gpu"}), ("s", {"kind": "switch"}), (0, {"host": 1})])
    a.add_owned_edges([(0, "s", {"bw": 1.0}), ("s", 0, {"bw": 2.0}), (0, "s", {"lat": 3.0}),
                       (0, 7, {"bw": 4.0}), ("new", "s", {})])
    for n, d in [(0, {"kind": "gpu"}), ("s", {"kind": "switch"}), (0, {"host": 1})]:
        b.add_node(n, **d)
    for u, v, d in [(0, "s", {"bw": 1.0}), ("s", 0, {"bw": 2.0}), (0, "s", {"lat": 3.0}),
                    (0, 7, {"bw": 4.0}), ("new", "s", {})]:
        b.add_edge(u, v, **d)
    _same_graph_in_order(a, b)
    assert a.edges[0, "s"] == {"bw": 1.0, "lat": 3.0}
    with pytest.raises(ValueError):
        a.add_owned_nodes([(None, {})])


def test_row_ids_partition_rows_as_numpy_unique_does():
    import numpy as np
    from sim.engine.classes import _row_ids
    rng = np.random.default_rng(11)
    for n, width, top in [(1, 1, 3), (50, 3, 2), (400, 17, 4), (1000, 2, 1000)]:
        M = rng.integers(-1, top, size=(n, width))
        M[n // 2:] = M[:n - n // 2]                 # repeated rows
        ids = _row_ids(M)
        _, ref = np.unique(M, axis=0, return_inverse=True)
        ref = ref.reshape(-1)
        # the same partition: ids and ref determine each other
        assert len(set(zip(ids.tolist(), ref.tolist()))) == len(set(ids.tolist())) \
            == len(set(ref.tolist()))
        assert sorted(set(ids.tolist())) == list(range(len(set(ref.tolist()))))


def test_pxn_legs_of_many_sends_equal_the_send_by_send_legs():
    import random
    from sim.collectives.base import TopologyView
    from sim.collectives.p2p import legs, pxn_proxy
    from topologies.cluster import build_cluster
    topo = TopologyView(build_cluster("h100-sxm", 32))
    assert topo.pxn
    rng = random.Random(4)
    pairs = [(rng.randrange(32), rng.randrange(32)) for _ in range(300)]
    flows, of_send = [], []
    for a, b in pairs:
        proxy = pxn_proxy(a, b, topo)
        hops = [(a, b)] if proxy is None else [(a, proxy), (proxy, b)]
        of_send.append(list(range(len(flows), len(flows) + len(hops))))
        flows.extend(hops)
    assert legs(pairs, topo) == (tuple(flows), of_send)
    assert len(flows) > len(pairs)                   # some sends are relayed


def _max_min_masked(capacity, flow_ptr, flow_links, count, link_share):
    """Progressive filling over all entries masked each round (the former loop)."""
    import numpy as np
    n_flows = len(flow_ptr) - 1
    rates = np.zeros(n_flows)
    lengths = np.diff(flow_ptr)
    owner = np.repeat(np.arange(n_flows), lengths)
    rates[lengths == 0] = np.inf
    used = np.unique(flow_links)
    local = np.searchsorted(used, flow_links)
    remaining = capacity[used].astype(float)
    tol = 1e-9 * np.maximum(remaining, 1.0)
    weight = count[owner] * link_share
    entry_active = np.ones(len(local), dtype=bool)
    active = lengths > 0
    while active.any():
        load = np.bincount(local[entry_active], weights=weight[entry_active],
                           minlength=len(used))
        loaded = load > 0
        share = np.full(len(used), np.inf)
        share[loaded] = remaining[loaded] / load[loaded]
        delta = max(float(share.min()), 0.0)
        rates[active] += delta
        remaining -= delta * load
        saturated = loaded & (remaining <= tol)
        if not saturated.any():
            saturated[np.argmin(share)] = True
        hit = np.bincount(owner[entry_active & saturated[local]], minlength=n_flows) > 0
        active &= ~hit
        entry_active &= active[owner]
    return rates


def test_max_min_on_active_entries_equals_the_masked_filling_bit_for_bit():
    import numpy as np
    from sim.network.maxmin import max_min_rates
    rng = np.random.default_rng(8)
    for trial in range(40):
        n_links = int(rng.integers(3, 60))
        n_flows = int(rng.integers(1, 80))
        capacity = rng.choice([1e9, 2.5e9, 5e10], size=n_links) * rng.uniform(0.5, 1, n_links)
        lengths = rng.integers(0 if trial % 5 == 0 else 1, 5, size=n_flows)
        links = [rng.choice(n_links, size=min(k, n_links), replace=False) for k in lengths]
        ptr = np.concatenate(([0], np.cumsum([len(x) for x in links])))
        flat = np.concatenate(links).astype(np.int64) if ptr[-1] else np.zeros(0, np.int64)
        count = rng.integers(1, 4, size=n_flows).astype(float)
        share = rng.choice([1.0, 0.5, 0.25], size=len(flat))
        got = max_min_rates(capacity, ptr, flat, count, share)
        assert np.array_equal(got, _max_min_masked(capacity, ptr, flat, count, share))


def test_row_means_equal_the_means_of_each_slice_bit_for_bit():
    # _mean_hop_latencies_s takes row means of equal-length hop lists
    import numpy as np
    rng = np.random.default_rng(1)
    for k in (1, 2, 7, 8, 9, 16, 17, 128, 129, 1000):
        for m in (1, 5, 64):
            x = rng.random(m * k) * 1e-6 + rng.random(m * k)
            rows = np.mean(x.reshape(m, k), axis=1).tolist()
            assert rows == [float(np.mean(x[i * k:(i + 1) * k])) for i in range(m)]


def test_mean_hop_latencies_of_equal_and_ragged_lists():
    from sim.collectives.base import TopologyView
    from sim.collectives.layout import _mean_hop_latencies_s
    from sim.collectives.protocols import PROTOCOLS
    from sim.network.routing import Router
    from topologies.cluster import build_cluster
    G = build_cluster("h100-sxm", 32)
    router, topo, proto = Router(G), TopologyView(G), PROTOCOLS["simple"]
    equal = [((0, 9), (9, 17)), ((1, 2), (2, 30)), ((5, 6), (6, 7))]
    ragged = [((0, 9),), ((1, 2), (2, 30), (30, 31))]
    for lists in (equal, ragged):
        got = _mean_hop_latencies_s(router, topo, lists, proto)
        one_by_one = [_mean_hop_latencies_s(router, topo, [h], proto)[0] for h in lists]
        assert got == one_by_one and len(set(got)) > 1


def test_owned_adjacency_fills_only_an_empty_graph_with_matching_maps():
    G = DiGraph()
    d = {"bw": 1.0}
    G.add_owned_adjacency({0: {}, 1: {}}, {0: {1: d}, 1: {}}, {0: {}, 1: {0: d}})
    assert G.edges[0, 1] is d and list(G.predecessors(1)) == [0]
    with pytest.raises(ValueError):
        G.add_owned_adjacency({2: {}}, {2: {}}, {2: {}})
    with pytest.raises(ValueError):
        DiGraph().add_owned_adjacency({0: {}, 1: {}}, {0: {}}, {0: {}, 1: {}})


def test_legs_of_sends_that_all_go_direct():
    from sim.collectives.base import TopologyView
    from sim.collectives.p2p import legs
    from topologies.cluster import build_cluster
    topo = TopologyView(build_cluster("h100-sxm", 32))
    pairs = [(g, (g + 8) % 32) for g in range(32)] * 3          # same rail: no relay
    flows, of_send = legs(pairs, topo)
    assert flows == tuple((a, b) for a, b in pairs) and of_send == [[i] for i in range(96)]
    assert legs([], topo) == ((), [])


def test_route_sets_of_translated_placements_share_one_form():
    from sim.network.routing import Router
    from topologies.cluster import build_cluster
    G = build_cluster("h100-sxm", 32)
    router = Router(G)
    ring = lambda base: tuple((base + i, base + (i + 1) % 8) for i in range(8))   # noqa: E731
    cross = lambda base: tuple((base + i, base + 8 + i) for i in range(8))        # noqa: E731
    assert router.form(router.routes(ring(0))) == router.form(router.routes(ring(8)))
    assert router.form(router.routes(cross(0))) == router.form(router.routes(cross(16)))
    assert router.form(router.routes(ring(0))) != router.form(router.routes(cross(0)))
    # a slower link on host 2 makes its ring a form of its own
    G.edges[16, "h2.nvsw"]["bw_bytes_per_s"] /= 2
    slow = Router(G)
    assert slow.form(slow.routes(ring(16))) != slow.form(slow.routes(ring(0))) \
        == slow.form(slow.routes(ring(8)))
