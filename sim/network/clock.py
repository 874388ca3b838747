"""Timeouts that fire at an exact time.

A simpy timeout set at ``now`` with delay ``d`` fires at ``now + d`` in
floating point. ``d = t - now`` rounds when ``t`` is more than twice ``now``
(early in a step), and the event then lands a unit in the last place away
from ``t``. Work timed ahead of the clock in closed form starts at ``t``
itself, so the clock must land there too for both to agree to the bit.
"""
from __future__ import annotations

import math


def delay_to(now: float, t: float) -> float:
    """The delay after which a timeout set at ``now`` fires at exactly ``t``
    (``now + delay == t``; ``t >= now``). As the delay steps by one unit in
    its last place, ``now + delay`` steps by at most one in its own, so some
    delay next to ``t - now`` lands on ``t``."""
    d = t - now
    while now + d < t:
        d = math.nextafter(d, math.inf)
    while now + d > t:
        d = math.nextafter(d, -math.inf)
    return d
