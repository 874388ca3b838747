"""1F1B, PipeDream-Flush (Narayanan et al., "Memory-Efficient Pipeline-Parallel
DNN Training", ICML 2021; SC'21 Sec. 2.2.1).

Stage ``s`` of ``p`` runs ``p - s - 1`` warm-up forwards, then alternates one
forward and one backward, then drains the remaining backwards. Same bubble as
GPipe, (p - 1) / m, but at most ``p - s`` micro-batches in flight on stage s.
"""
from __future__ import annotations

from workloads.generate.schedules.base import Action, Schedule


class OneFOneB(Schedule):
    name = "1f1b"

    def stage_actions(self, pp: int, microbatches: int, vpp: int,
                      stage: int) -> list[Action]:
        m = microbatches
        warmup = min(pp - stage - 1, m)
        out = [Action("F", mb) for mb in range(warmup)]
        nf, nb = warmup, 0
        while nf < m:
            out.append(Action("F", nf))
            nf += 1
            out.append(Action("B", nb))
            nb += 1
        out.extend(Action("B", mb) for mb in range(nb, m))
        return out
