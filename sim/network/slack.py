"""Links that can never limit a flow: switch-to-switch links of a two-tier
leaf-spine fabric under adaptive routing, with as much capacity as the
leaves' ports below them can feed.

In a two-tier fabric where every leaf has one link to and from every spine
(and switches link only leaf to spine), a shortest path crosses the spines
once: up from the leaf where the flow enters the switch fabric, down into
the leaf where it leaves. Spraying (``routing: spray``) splits at every hop
evenly over the next hops, so at its entry leaf every flow that goes up puts
``1/S`` of what arrives there on each of the ``S`` uplinks, and at its exit
leaf ``1/S`` of what leaves it downwards came over each of the ``S``
downlinks. So at any rates,

    load(leaf -> spine) <= (sum of the capacities of the links into the leaf
                            from below) / S,

and likewise for a downlink with the links out of the leaf below it, each
such link carrying no more than its capacity. A switch link whose capacity
is at least that bound is never the first to saturate in max-min
progressive filling: removing it changes no rate (it can only tie, when all
the ports below are saturated and every flow through it already frozen at
them; then the rates may differ in the last bit, about 1e-16 relative). A
full-bisection fabric (oversubscription 1) meets the bound exactly; an
oversubscribed one does not, and its uplinks stay ordinary links. The
comparison allows a relative :data:`TOLERANCE`, so that capacities equal on
paper compare equal; a link short of its bound by less than that could, at
most, saturate that much before the ports below it.

:mod:`sim.engine.private_sends` counts such links as nobody's: a send whose
other links are its ends' own meets no other traffic that could slow it.
"""
from __future__ import annotations

import numpy as np

from sim.network.routing import Router

#: relative slack on the comparison: capacities that are equal on paper differ
#: in the last bits once multiplied by efficiencies and divided over spines
TOLERANCE = 1e-9


def never_binding(router: Router) -> np.ndarray:
    """Per link (in the router's numbering), whether it can never limit a
    flow (see the module docstring); all False unless the fabric is a full
    two-tier leaf-spine one routed by spraying."""
    cap = router.capacity
    out = np.zeros(len(cap), dtype=bool)
    if router.routing != "spray" or len(cap) == 0 or not router.structured:
        return out
    kinds = router.node_table()[2]
    u, v = router.edge_ends()
    switch = np.fromiter((k == "switch" for k in kinds), bool, len(kinds))
    core = switch[u] & switch[v]
    if not core.any():
        return out
    below_in = ~switch[u] & switch[v]       # into a switch from below
    below_out = switch[u] & ~switch[v]      # out of a switch downwards
    leaf = np.zeros(len(kinds), dtype=bool)
    leaf[v[below_in]] = True
    leaf[u[below_out]] = True
    spine = switch & ~leaf
    n_spines = int(spine.sum())
    up = core & leaf[u] & spine[v]
    down = core & spine[u] & leaf[v]
    if n_spines == 0 or not (up | down)[core].all():
        return out                          # leaf-leaf or spine-spine links
    n_leaves = int(leaf.sum())
    ups = np.bincount(u[up], minlength=len(kinds))[leaf]
    downs = np.bincount(v[down], minlength=len(kinds))[leaf]
    if len(ups) != n_leaves or (ups != n_spines).any() or (downs != n_spines).any():
        return out                          # some leaf misses a spine
    fed = np.bincount(v[below_in], weights=cap[below_in], minlength=len(kinds))
    drained = np.bincount(u[below_out], weights=cap[below_out], minlength=len(kinds))
    limit = cap * (1.0 + TOLERANCE)
    out[up] = fed[u[up]] / n_spines <= limit[up]
    out[down] = drained[v[down]] / n_spines <= limit[down]
    return out
