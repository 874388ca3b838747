"""The error raised for a malformed topology or bad topology input.

``topologies`` imports nothing from the rest of clustersim, so it has its own
error type. It is a :class:`ValueError` and renders like the engine's input
errors: ``<file>: <field> = <value>: <message>``.
"""
from __future__ import annotations


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
                loc += f" = {self.value!r}"
            parts.append(loc)
        return ": ".join(parts + [self.message])
