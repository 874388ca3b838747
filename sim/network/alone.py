"""Flows alone on their links: exact duration when no other traffic shares them.

When a set of flows can never meet other traffic, its max-min evolution
depends on nothing else, so it can be computed once, outside the event loop,
and replayed as a plain delay.
"""
from __future__ import annotations

import numpy as np

from sim.network.maxmin import max_min_rates


def alone_duration_s(capacity: np.ndarray, ptr: np.ndarray, flat: np.ndarray,
                        sizes: np.ndarray, counts: np.ndarray,
                        share: np.ndarray | None = None) -> float:
    """Time until the last flow delivers, re-solving max-min as flows finish."""
    remaining = np.asarray(sizes, dtype=float).copy()
    lengths = np.diff(ptr)
    active = (remaining > 0) & (lengths > 0)
    t = 0.0
    while active.any():
        keep = np.repeat(active, lengths)
        sub_ptr = np.zeros(int(active.sum()) + 1, dtype=np.int64)
        np.cumsum(lengths[active], out=sub_ptr[1:])
        rates = max_min_rates(capacity, sub_ptr, flat[keep], counts[active],
                              None if share is None else share[keep])
        due = remaining[active] / rates
        step = float(due.min())
        t += step
        idx = np.flatnonzero(active)
        remaining[idx] -= rates * step
        active[idx[due <= step * (1 + 1e-12)]] = False
    return t
