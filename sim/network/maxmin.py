"""Max-min fair bandwidth sharing (progressive filling), vectorised with numpy.

Every flow crosses a set of links. Max-min fairness gives each flow the
largest rate such that no flow can gain without a flow of equal or smaller
rate losing (Bertsekas & Gallager, *Data Networks*, 1992, sec. 6.5.2). The
classic progressive-filling algorithm raises all unfrozen flows' rates
together until some link saturates, freezes the flows that cross it, and
repeats.

Flows may stand for ``count`` identical flows on the same path: a flow of
count c consumes c times its rate on each of its links. This is how identical
traffic is aggregated without one object per flow. A flow may also be spread
over several equal paths (adaptive routing): each link then carries a given
share of its rate, and the same water-filling applies with weighted loads.
"""
from __future__ import annotations

import numpy as np

_REL_EPS = 1e-9


def max_min_rates(capacity: np.ndarray, flow_ptr: np.ndarray, flow_links: np.ndarray,
                  count: np.ndarray | None = None,
                  link_share: np.ndarray | None = None) -> np.ndarray:
    """Max-min fair rates of flows over capacitated links.

    Args:
        capacity: (L,) link capacities in bytes/s.
        flow_ptr: (F+1,) CSR row pointer: flow f crosses
            ``flow_links[flow_ptr[f]:flow_ptr[f+1]]``.
        flow_links: link indices (a flow lists each link at most once).
        count: (F,) multiplicity of each flow (default 1).
        link_share: fraction of a flow's rate carried by each listed link
            (default 1: the flow is on one path). A flow spread evenly over k
            equal paths lists each path's private links with share 1/k.

    Returns:
        (F,) rate of one instance of each flow, bytes/s. A flow that crosses
        no link gets ``inf``.
    """
    n_flows = len(flow_ptr) - 1
    rates = np.zeros(n_flows)
    if n_flows == 0:
        return rates
    cnt = np.ones(n_flows) if count is None else np.asarray(count, dtype=float)
    lengths = np.diff(flow_ptr)
    owner = np.repeat(np.arange(n_flows), lengths)
    rates[lengths == 0] = np.inf
    # work on the links in use only, renumbered 0..k-1 (no sort needed)
    if 8 * len(flow_links) < len(capacity):       # few links of a large fabric
        used_links = np.sort(flow_links)
        if len(used_links) > 1:
            used_links = used_links[np.concatenate(([True], used_links[1:] != used_links[:-1]))]
        local = np.searchsorted(used_links, flow_links)
    else:
        present = np.zeros(len(capacity), dtype=bool)
        present[flow_links] = True
        used_links = np.flatnonzero(present)
        renumber = np.empty(len(capacity), dtype=np.int64)    # read at used links only
        renumber[used_links] = np.arange(len(used_links))
        local = renumber[flow_links]
    remaining = np.asarray(capacity, dtype=float)[used_links]
    tol = _REL_EPS * np.maximum(remaining, 1.0)
    n_links = len(used_links)
    weight = cnt[owner] if link_share is None else cnt[owner] * link_share
    # the entries of active flows only, in their original order (the loads
    # are the same sums, term by term, as over all entries masked)
    act_local, act_weight, act_owner = local, weight, owner
    active = lengths > 0
    while active.any():
        load = np.bincount(act_local, weights=act_weight, minlength=n_links)
        loaded = load > 0
        share = np.full(n_links, np.inf)
        share[loaded] = remaining[loaded] / load[loaded]
        delta = max(float(share.min()), 0.0)
        rates[active] += delta
        remaining -= delta * load
        saturated = loaded & (remaining <= tol)
        if not saturated.any():  # numerical safety: the tightest link saturates
            saturated[np.argmin(share)] = True
        # freeze every active flow that crosses a saturated link
        hit = np.bincount(act_owner[saturated[act_local]], minlength=n_flows) > 0
        active &= ~hit
        if not active.any():
            break
        keep = active[act_owner]
        act_local, act_weight, act_owner = act_local[keep], act_weight[keep], act_owner[keep]
    return rates
