"""The tuner against the simulation: its pick is never much slower than the best candidate."""
import pytest

import topologies
from sim.collectives import TopologyView
from sim.collectives.registry import pairs
from sim.collectives.timing import explain, simulate_collective

SIZES = [8.0, 64 * 2**10, 2**20, 16 * 2**20, 256 * 2**20]


def _graph(kind: str, n: int):
    if kind == "two_level":
        return topologies.two_level(n // 8, 8, 400e9, 50e9)
    return topologies.build_cluster(kind, n)


# all-to-all on 64 GPUs (4,032 flows per candidate) only on one topology, to keep it quick
GRID = [(kind, n, op) for kind in ("a100-80gb", "h100-sxm", "two_level") for n in (8, 16, 64)
        for op in ("all_reduce", "all_to_all")
        if not (op == "all_to_all" and n == 64 and kind != "two_level")]
# Blackwell: a two-node B200 pair and a 72-GPU NVL72 rack
GRID += [("b200", 16, "all_reduce"), ("gb200", 72, "all_reduce")]


@pytest.mark.parametrize("kind,n,op", GRID)
def test_tuner_pick_is_within_5_percent_of_the_best_simulated_candidate(kind, n, op):
    g = _graph(kind, n)
    gpus = list(range(n))
    topo = TopologyView(g)
    for size in SIZES:
        simulated = {(a.name, p): simulate_collective(g, op, size, gpus, a.name, p)[0]
                     for a, p in pairs(op, gpus, topo)}
        t_pick, algo, proto = simulate_collective(g, op, size, gpus)
        best = min(simulated.values())
        assert t_pick == simulated[(algo, proto)]
        assert t_pick <= 1.05 * best, (size, algo, proto, sorted(simulated.items(),
                                                                 key=lambda kv: kv[1])[:3])


def test_explain_lists_every_candidate_fastest_first_and_forcing_narrows_it():
    g = topologies.build_cluster("h100-sxm", 16)
    cands = explain(g, "all_reduce", 2**20, list(range(16)))
    names = {(c["algorithm"], c["protocol"]) for c in cands}
    assert {("ring", "ll"), ("ring", "ll128"), ("ring", "simple"), ("tree", "ll"),
            ("nvls_tree", "simple"), ("collnet", "simple")} <= names
    times = [c["predicted_s"] for c in cands]
    assert times == sorted(times)
    for c in cands:
        assert c["predicted_s"] == pytest.approx(c["latency_s"] + c["bandwidth_s"])
        # 1 MiB: all 32 channels (NVLS: its own 16), but a ring's LL wants
        # 8 B x 16 ranks per thread: 1 MiB / (512 x 128 B) = 16 channels
        if c["algorithm"].startswith("nvls"):
            expected = (16, 640)
        elif (c["algorithm"], c["protocol"]) == ("ring", "ll"):
            expected = (16, 512)
        else:
            expected = (32, 640 if c["protocol"] == "ll128" else 512)
        assert (c["channels"], c["threads"]) == expected, c
    only_ring = explain(g, "all_reduce", 2**20, list(range(16)), "ring")
    assert {c["algorithm"] for c in only_ring} == {"ring"} and len(only_ring) == 3
    only_ll = explain(g, "all_reduce", 2**20, list(range(16)), None, "ll")
    assert {c["protocol"] for c in only_ll} == {"ll"}


def test_prediction_matches_the_simulation_on_an_idle_network():
    g = topologies.build_cluster("a100-80gb", 32)
    for c in explain(g, "all_reduce", 4 * 2**20, list(range(32))):
        t, _, _ = simulate_collective(g, "all_reduce", 4 * 2**20, list(range(32)),
                                      c["algorithm"], c["protocol"])
        assert c["predicted_s"] == pytest.approx(t, rel=0.05), c


def _run_merged(g, size, instances, request=None):
    from sim.collectives.timing import _planner
    env, planner = _planner(g, None)
    env.process(planner.run("all_reduce", size, instances, request))
    env.run()
    return env.now, planner


def test_concurrent_groups_of_different_shapes_get_one_choice_good_for_all():
    # one group inside a host, one spread over three hosts, run in lock step:
    # the first group alone would pick ring (small) or hierarchical / NVLS
    # (large), which are slower for the merged pair or cannot run the other group
    g = topologies.build_cluster("h100-sxm", 32)
    one_host, three_hosts = list(range(8)), [8, 16, 24, 9, 17, 25, 10, 18]
    topo = TopologyView(g)
    common = ({(a.name, p) for a, p in pairs("all_reduce", one_host, topo)}
              & {(a.name, p) for a, p in pairs("all_reduce", three_hosts, topo)})
    for size in (1024.0, 2**20, 2**24):
        t_auto, planner = _run_merged(g, size, [one_host, three_hosts])
        first = planner.tuner.choose("all_reduce", size, one_host)
        forced = {ap: _run_merged(g, size, [one_host, three_hosts], "/".join(ap))[0]
                  for ap in common}
        assert t_auto <= 1.05 * min(forced.values()), (size, sorted(forced.items(),
                                                                    key=lambda kv: kv[1])[:3])
        if first in forced:
            assert t_auto < forced[first], (size, first)
        else:
            assert first[0] in ("hierarchical", "nvls"), first


def test_groups_of_one_shape_take_the_first_groups_choice():
    g = topologies.build_cluster("a100-80gb", 64)
    rails = [[h * 8 + j for h in range(8)] for j in range(8)]     # one GPU per host each
    topo = TopologyView(g)
    assert len({topo.shape(r) for r in rails}) == 1
    _, planner = _run_merged(g, 2**20, rails)
    assert planner.choice("all_reduce", 2**20, rails) == planner.tuner.choose(
        "all_reduce", 2**20, rails[0])


def test_a_forced_algorithm_some_group_cannot_run_is_a_clear_error():
    from workloads.errors import InputError
    g = topologies.build_cluster("h100-sxm", 32)
    with pytest.raises(InputError, match="hierarchical"):
        _run_merged(g, 2**20, [list(range(8)), [8, 16, 24, 9, 17, 25, 10, 18]], "hierarchical")


@pytest.mark.parametrize("seed", range(6))
def test_distinct_shapes_from_arrays_equal_shape_by_shape(seed, monkeypatch):
    import numpy as np
    from sim.collectives import tuner
    g = topologies.build_cluster("a100-80gb", 8 * 24, nodes_per_leaf=4)
    topo = TopologyView(g)
    rng = np.random.default_rng(seed)
    seen = set()
    for _ in range(30):
        k, m = int(rng.choice([1, 2, 3, 8])), int(rng.integers(1, 7))
        if rng.random() < 0.5:      # some lists alike: one pattern shifted host by host
            base = rng.choice(8 * 24, k, replace=False)
            instances = [[int((x + 8 * int(s)) % (8 * 24)) for x in base]
                         for s in rng.integers(0, 24, m)]
        else:
            instances = [[int(x) for x in rng.choice(8 * 24, k, replace=False)]
                         for _ in range(m)]
        firsts = {}
        for i, gpus in enumerate(instances):
            firsts.setdefault(topo.shape(gpus), i)
        assert topo.distinct_shapes(instances) == list(firsts.values())
        seen.add(len(firsts) == 1)
    assert seen == {True, False}
    assert topo.distinct_shapes([[0, 1], [2]]) is None
    # the choice is the same either way
    planner = _run_merged(g, 2**20, [list(range(8)), [8, 40, 72, 9]])[1]
    groups = [[0, 1, 8, 9], [16, 17, 24, 25], [2, 40, 3, 41]]
    fast = planner.tuner.choose_merged("all_reduce", 2.0**20, groups)
    monkeypatch.setattr(tuner, "SHAPE_ARRAYS", False)
    planner.tuner._choice.clear()
    assert planner.tuner.choose_merged("all_reduce", 2.0**20, groups) == fast
