"""Links that can never limit a flow (``sim.network.slack``): the spine links
of a full-bisection two-tier fabric under spraying. Ground truth: max-min
rates with those links taken out of every route equal the rates with them,
for any flows; an oversubscribed fabric, ECMP or a three-tier tree keeps them."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import topologies
from sim.network.maxmin import max_min_rates
from sim.network.routing import Router
from sim.network.slack import never_binding


def _rail(oversubscription=1.0, nodes=8, npl=2, gpn=4, routing=None):
    g = topologies.build_cluster("a100-80gb", nodes * gpn, gpus_per_node=gpn,
                                 nodes_per_leaf=npl, oversubscription=oversubscription)
    return Router(g, routing)


def _switch_links(router):
    kinds = router.node_table()[2]
    u, v = router.edge_ends()
    return np.array([kinds[a] == "switch" and kinds[b] == "switch" for a, b in zip(u, v)])


def test_full_bisection_spines_never_bind():
    router = _rail()
    free, core = never_binding(router), _switch_links(router)
    assert core.any()
    assert (free == core).all()             # every leaf-spine link, nothing else


@pytest.mark.parametrize("make", [
    lambda: _rail(oversubscription=2.0),                          # uplinks can bind
    lambda: _rail(routing="ecmp"),                                # one pinned path
    lambda: Router(topologies.fat_tree(4, 25e9, 1e-6)),           # three tiers
    lambda: Router(topologies.build_cluster("a100-80gb", 8)),     # one node, no switches
])
def test_fabrics_whose_switch_links_may_bind(make):
    assert not never_binding(make()).any()


def _rates(router, pairs, counts, drop):
    routes = router.routes(tuple(pairs))
    keep = ~drop[routes.flat]
    lengths = np.diff(routes.ptr)
    owner = np.repeat(np.arange(len(pairs)), lengths)
    ptr = np.zeros(len(pairs) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner[keep], minlength=len(pairs)), out=ptr[1:])
    return max_min_rates(router.capacity, ptr, routes.flat[keep], np.asarray(counts, float),
                         routes.share[keep])


def _flows(n_gpus):
    pair = st.tuples(st.integers(0, n_gpus - 1), st.integers(0, n_gpus - 1)).filter(
        lambda p: p[0] != p[1])
    return st.lists(st.tuples(pair, st.integers(1, 3)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(_flows(32))
def test_taking_never_binding_links_out_changes_no_rate(flows):
    router = _rail()
    pairs, counts = [p for p, _ in flows], [c for _, c in flows]
    free = never_binding(router)
    with_all = _rates(router, pairs, counts, np.zeros_like(free))
    without = _rates(router, pairs, counts, free)
    # equal but for rounding where a spine link ties with the ports below it
    np.testing.assert_allclose(without, with_all, rtol=1e-12)


def test_taking_binding_links_out_does_change_rates():
    """The control: on a 2:1 oversubscribed fabric, all of one leaf's GPUs
    sending across the spines are limited by the uplinks; without them they
    would go at port speed."""
    router = _rail(oversubscription=2.0)
    pairs = [(g, g + 8) for g in range(8)]      # leaf group 0 -> group 1, every rail
    core = _switch_links(router)
    with_all = _rates(router, pairs, [1] * 8, np.zeros_like(core))
    without = _rates(router, pairs, [1] * 8, core)
    assert (without > with_all * 1.5).all()
