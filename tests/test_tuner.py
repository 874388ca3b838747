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
