"""Interleaved 1F1B (Narayanan et al., "Efficient Large-Scale Language Model
Training on GPU Clusters Using Megatron-LM", SC'21, Sec. 2.2.2).

Each device holds ``v`` model chunks (chunk c of device s is virtual stage
c*p + s). Micro-batches go through the chunks in groups of ``p``: the k-th
forward of a device is micro-batch ``(k // (p*v)) * p + k % p`` on chunk
``(k // p) % v``; backwards walk the chunks in reverse. Warm-up length on stage
s is ``2 (p - s - 1) + (v - 1) p`` forwards (capped at m*v), then 1F1B, then
cool-down. Bubble fraction (p - 1) / (v m). Requires m % p == 0.
"""
from __future__ import annotations

from workloads.errors import InputError
from workloads.generate.schedules.base import Action, Schedule
from workloads.generate.schedules.one_f_one_b import OneFOneB


class Interleaved(Schedule):
    name = "interleaved"
    supports_vpp = True

    def validate(self, pp: int, microbatches: int, vpp: int) -> None:
        super().validate(pp, microbatches, vpp)
        if vpp > 1 and pp == 1:
            raise InputError("interleaving model chunks needs pipeline parallelism (pp > 1)",
                             field="parallelism.vpp", value=vpp)
        if vpp > 1 and microbatches % pp:
            raise InputError(f"the interleaved schedule needs the number of micro-batches "
                             f"to be a multiple of pp = {pp}",
                             field="microbatches", value=microbatches)

    @staticmethod
    def _nth(k: int, pp: int, vpp: int, backward: bool) -> tuple[int, int]:
        group, pos = divmod(k, pp * vpp)
        chunk = (pos // pp) % vpp
        if backward:
            chunk = vpp - 1 - chunk
        return group * pp + pos % pp, chunk

    def stage_actions(self, pp: int, microbatches: int, vpp: int,
                      stage: int) -> list[Action]:
        if vpp == 1:
            return OneFOneB().stage_actions(pp, microbatches, 1, stage)
        total = microbatches * vpp
        warmup = min(2 * (pp - stage - 1) + (vpp - 1) * pp, total)
        out: list[Action] = []
        nf = nb = 0

        def fwd() -> None:
            nonlocal nf
            mb, c = self._nth(nf, pp, vpp, backward=False)
            out.append(Action("F", mb, c))
            nf += 1

        def bwd() -> None:
            nonlocal nb
            mb, c = self._nth(nb, pp, vpp, backward=True)
            out.append(Action("B", mb, c))
            nb += 1

        for _ in range(warmup):
            fwd()
        while nf < total:
            fwd()
            bwd()
        while nb < total:
            bwd()
        return out
