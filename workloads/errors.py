"""The error raised for bad input anywhere in clustersim.

It lives in ``workloads`` (the lowest layer that reads user files) so that the
trace loader, the model generator and the engine share one type; ``sim.errors``
re-exports it as ``UserError``.
"""
from __future__ import annotations


class InputError(Exception):
    """Bad user input: names the file, the field and the offending value.

    >>> str(InputError("bad value", file="a.yaml", field="parallelism.tp", value=3))
    "a.yaml: parallelism.tp = 3: bad value"
    """

    def __init__(self, message: str, *, file: str | None = None,
                 field: str | None = None, value: object = ...):
        self.message = message
        self.file = file
        self.field = field
        self.value = value
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.field is not None:
            loc = self.field
            if self.value is not ...:
                loc += f" = {self.value!r}"
            where.append(loc)
        return ": ".join(where + [self.message])

    def in_file(self, file: str) -> "InputError":
        """Return a copy of this error that names ``file`` (if it named none)."""
        if self.file:
            return self
        return type(self)(self.message, file=file, field=self.field, value=self.value)
