"""Closed forms for checkpoint/restart with exponential failures.

Symbols: M = mean time between failures of the job (s), delta = time training
stops to write one checkpoint (s), tau = training time between checkpoints
(s), R = time to restart after a failure (s).
"""
from __future__ import annotations

import math


def young_interval_s(delta_s: float, mtbf_s: float) -> float:
    """First-order optimum interval sqrt(2 * delta * M).

    J. W. Young, "A first order approximation to the optimum checkpoint
    interval", Communications of the ACM 17(9), 1974.
    """
    return math.sqrt(2.0 * delta_s * mtbf_s)


def daly_interval_s(delta_s: float, mtbf_s: float) -> float:
    """Higher-order optimum interval (Daly 2006).

    tau = sqrt(2 delta M) * (1 + sqrt(delta / 2M) / 3 + (delta / 2M) / 9) - delta
    for delta < 2M, else tau = M. J. T. Daly, "A higher order estimate of the
    optimum checkpoint interval for restart dumps", Future Generation Computer
    Systems 22(3), 2006.
    """
    if delta_s >= 2.0 * mtbf_s:
        return mtbf_s
    x = delta_s / (2.0 * mtbf_s)
    return math.sqrt(2.0 * delta_s * mtbf_s) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - delta_s


def daly_goodput(tau_s: float, delta_s: float, restart_s: float, mtbf_s: float) -> float:
    """Expected useful fraction of wall time when failures can interrupt restarts.

    Daly 2006: the expected wall time per segment of tau useful
    seconds is M * exp(R/M) * (exp((tau + delta)/M) - 1), so the goodput is
    tau / (M * exp(R/M) * (exp((tau + delta)/M) - 1)).
    """
    return tau_s / (mtbf_s * math.exp(restart_s / mtbf_s)
                    * math.expm1((tau_s + delta_s) / mtbf_s))


def goodput_immune_restart(tau_s: float, delta_s: float, restart_s: float,
                           mtbf_s: float) -> float:
    """Expected useful fraction when restarts cannot fail.

    Same renewal argument as Daly 2006 with the failure clock stopped during
    the restart: a segment costs (M + R) * (exp((tau + delta)/M) - 1) in
    expectation, so the goodput is tau / ((M + R) * (exp((tau + delta)/M) - 1)).
    """
    return tau_s / ((mtbf_s + restart_s) * math.expm1((tau_s + delta_s) / mtbf_s))
