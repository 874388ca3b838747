"""The error raised for a malformed topology or bad topology input.

``topologies`` imports nothing from the rest of clustersim, so it has its own
error type. It is a :class:`ValueError` and renders like the engine's input
errors: ``<file>: <field> = <value>: <message>``.
"""
from __future__ import annotations

import itertools
import reprlib


class _Bounded(reprlib.Repr):
    """reprlib with insertion-ordered dicts and huge integers summarised.

    ``workloads.errors`` renders values the same way; ``topologies`` imports
    nothing of the rest of clustersim, so it keeps this small copy.
    """

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxlist, self.maxdict, self.maxstring = 3, 8, 6, 60
        self.maxother, self.maxlong = 60, 30

    def repr_dict(self, x, level):
        if level <= 0:
            return "{...}"
        items = [f"{self.repr1(k, level - 1)}: {self.repr1(x[k], level - 1)}"
                 for k in itertools.islice(x, self.maxdict)]
        return "{" + ", ".join(items + (["..."] if len(x) > self.maxdict else [])) + "}"

    def repr_int(self, x, level):
        return repr(x) if abs(x) < 10**30 else f"<{x.bit_length()}-bit integer>"


def bounded_repr(value: object, limit: int = 120) -> str:
    """``repr(value)`` bounded in length and cost (large structures are cut, not walked)."""
    try:
        text = " ".join(_Bounded().repr(value).split())
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


class TopologyError(ValueError):
    """Bad topology input or a graph that breaks the topology conventions.

    >>> str(TopologyError("unknown node", file="net.yaml", field="links[3].b", value="h9.nic0"))
    "net.yaml: links[3].b = 'h9.nic0': unknown node"
    """

    def __init__(self, message: str, *, file: str | None = None,
                 field: str | None = None, value: object = ...):
        self.message = message
        self.file = file
        self.field = field
        self.value = value
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.field is not None:
            loc = str(self.field)
            if self.value is not ...:
                loc += f" = {bounded_repr(self.value)}"
            parts.append(loc)
        return " ".join(": ".join(parts + [str(self.message)]).split())
