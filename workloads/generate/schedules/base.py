"""Pipeline-schedule building blocks: actions and the schedule base class.

A pipeline schedule says, for every pipeline stage (device), the order in which
it runs the forward ("F"), backward ("B") and — for schedules that split the
backward pass — weight-gradient ("W") work of every micro-batch on every model
chunk it holds. Timing is not part of a schedule: the engine (or a test's
analytical executor) derives it from the order and the cross-stage data
dependencies:

* F of virtual stage ``k`` for micro-batch ``mb`` needs F of virtual stage
  ``k - 1`` for ``mb``;
* B of virtual stage ``k`` needs B of virtual stage ``k + 1`` (the last virtual
  stage's B needs its own F);
* W of a virtual stage needs its own B.

Chunk ``c`` on device ``s`` is virtual stage ``k = c * pp + s`` (Megatron's
interleaved assignment, Narayanan et al., SC'21, Sec. 2.2.2).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from workloads.errors import InputError

KINDS = ("F", "B", "W")


@dataclass(frozen=True, slots=True)
class Action:
    """One unit of pipeline work on one device.

    ``kind``: "F" forward, "B" backward (input gradient, plus the weight
    gradient unless the schedule emits separate "W" actions), "W" weight
    gradient only. ``microbatch``: 0-based micro-batch index. ``chunk``: model
    chunk on this device, 0..vpp-1.
    """

    kind: str
    microbatch: int
    chunk: int = 0


def virtual_stage(pp: int, stage: int, chunk: int) -> int:
    """Pipeline position of ``chunk`` on device ``stage`` (0..pp*vpp-1)."""
    return chunk * pp + stage


def _positive_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError("must be a positive integer", field=field, value=value)
    return value


class Schedule(ABC):
    """Base class: subclasses set ``name`` and implement :meth:`stage_actions`.

    ``splits_weight_grad`` is True for schedules that emit "W" actions.
    """

    name = ""
    splits_weight_grad = False
    supports_vpp = False

    def validate(self, pp: int, microbatches: int, vpp: int) -> None:
        """Raise :class:`InputError` if the schedule cannot run this shape."""
        _positive_int(pp, "parallelism.pp")
        _positive_int(microbatches, "microbatches")
        _positive_int(vpp, "parallelism.vpp")
        if vpp > 1 and not self.supports_vpp:
            raise InputError(f"schedule '{self.name}' runs one model chunk per device; "
                             "use schedule 'interleaved' for vpp > 1",
                             field="parallelism.vpp", value=vpp)

    @abstractmethod
    def stage_actions(self, pp: int, microbatches: int, vpp: int,
                      stage: int) -> list[Action]:
        """The ordered actions of pipeline ``stage``."""

    def actions(self, pp: int, microbatches: int, vpp: int = 1) -> list[list[Action]]:
        """Per stage, the ordered list of actions."""
        self.validate(pp, microbatches, vpp)
        return [self.stage_actions(pp, microbatches, vpp, s) for s in range(pp)]


def peak_in_flight(actions: list[Action], release: str) -> int:
    """Peak number of (micro-batch, chunk) pairs whose activations are held.

    A pair enters at its "F" and leaves at its ``release`` action ("B", or "W"
    for schedules whose weight-gradient pass still needs the layer inputs).
    """
    held = peak = 0
    for a in actions:
        if a.kind == "F":
            held += 1
            peak = max(peak, held)
        elif a.kind == release:
            held -= 1
    return peak
