"""Timeouts that fire at an exact time.

A simpy timeout set at ``now`` with delay ``d`` fires at ``now + d`` in
floating point. ``d = t - now`` rounds when ``t`` is more than twice ``now``
(early in a step), and the event then lands a unit in the last place away
from ``t``. Work timed ahead of the clock in closed form starts at ``t``
itself, so the clock lands there too, for both to agree to the bit (all but
in the rare case :func:`delay_to` describes, where no delay reaches ``t``).
"""
from __future__ import annotations

import math


def delay_to(now: float, t: float) -> float:
    """The delay after which a timeout set at ``now`` fires at ``t``
    (``now + delay == t``; ``t >= now``), found next to ``t - now``. When
    ``now``'s bits below ``t``'s last place are exactly one half of it, the
    sums round to every other float and ``t`` may be out of reach: the delay
    then lands one unit in the last place below it."""
    d = t - now
    while now + d < t:
        d = math.nextafter(d, math.inf)
    while now + d > t:
        d = math.nextafter(d, -math.inf)
    return d
