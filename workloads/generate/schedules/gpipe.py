"""GPipe: all forwards, then all backwards (Huang et al., NeurIPS 2019).

Every stage keeps the activations of all ``m`` micro-batches. Bubble fraction
(bubble time / ideal time) is (p - 1) / m (Huang et al. 2019; Narayanan et al.,
SC'21, Sec. 2.2.1).
"""
from __future__ import annotations

from workloads.generate.schedules.base import Action, Schedule


class GPipe(Schedule):
    name = "gpipe"

    def stage_actions(self, pp: int, microbatches: int, vpp: int,
                      stage: int) -> list[Action]:
        fwd = [Action("F", mb) for mb in range(microbatches)]
        # Backwards in forward order: every stage then handles gradients in
        # the order the next stage produces them.
        bwd = [Action("B", mb) for mb in range(microbatches)]
        return fwd + bwd
