"""ZB-H1, the memory-neutral zero-bubble schedule (Qi et al., "Zero Bubble
Pipeline Parallelism", ICLR 2024, Sec. 3.1).

The backward pass is split into B (input gradient, on the critical path between
stages) and W (weight gradient, needed only by the optimizer). Stages keep
1F1B's warm-up (``p - s - 1`` forwards) and order of F and B; W passes are
deferred to fill the slots where a stage would otherwise wait, subject to the
1F1B activation-memory limit: at most ``p`` micro-batches between their F and
their W on any stage (activations are released after W). With equal F, B and W
times the bubble drops from 1F1B's (p - 1)(T_F + T_B + T_W) to
(p - 1)(T_F + T_B - T_W) (Qi et al. 2024, Sec. 3.1).

The order is built by running every stage in lockstep with equal unit
durations (the paper's handcrafted assumption): a stage runs F and B in exactly
1F1B's order; whenever its next F or B is not ready yet, or the next F would
exceed the memory limit, it runs its oldest pending W instead.
"""
from __future__ import annotations

from workloads.generate.schedules.base import Action, Schedule
from workloads.generate.schedules.one_f_one_b import OneFOneB


class ZeroBubbleH1(Schedule):
    name = "zero-bubble"
    splits_weight_grad = True

    def actions(self, pp: int, microbatches: int, vpp: int = 1) -> list[list[Action]]:
        self.validate(pp, microbatches, vpp)
        return _lockstep(pp, microbatches)

    def stage_actions(self, pp: int, microbatches: int, vpp: int,
                      stage: int) -> list[Action]:
        return self.actions(pp, microbatches, vpp)[stage]


def _lockstep(pp: int, m: int) -> list[list[Action]]:
    order = [[a for a in OneFOneB().stage_actions(pp, m, 1, s)] for s in range(pp)]
    out: list[list[Action]] = [[] for _ in range(pp)]
    pos, nf, nb, nw = [0] * pp, [0] * pp, [0] * pp, [0] * pp
    # f_done[s] / b_done[s]: micro-batches whose F / B finished on stage s
    # before the current step (every action takes one step).
    f_done, b_done = [0] * pp, [0] * pp
    while any(w < m for w in nw):
        for s in range(pp):
            nxt = order[s][pos[s]] if pos[s] < len(order[s]) else None
            if nxt is not None and nxt.kind == "F":
                ready = (s == 0 or nf[s] < f_done[s - 1]) and nf[s] - nw[s] < pp
            elif nxt is not None:
                ready = nb[s] < f_done[s] and (s == pp - 1 or nb[s] < b_done[s + 1])
            else:
                ready = False
            if ready:
                out[s].append(nxt)
                pos[s] += 1
                if nxt.kind == "F":
                    nf[s] += 1
                else:
                    nb[s] += 1
            elif nw[s] < nb[s]:
                out[s].append(Action("W", nw[s]))
                nw[s] += 1
        f_done, b_done = list(nf), list(nb)
    return out
