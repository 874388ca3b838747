"""The error raised for bad input anywhere in clustersim.

It lives in ``workloads`` (the lowest layer that reads user files) so that the
trace loader, the model generator and the engine share one type; ``sim.errors``
re-exports it as ``UserError``.
"""
from __future__ import annotations

import itertools
import reprlib

MAX_VALUE_CHARS = 120
MAX_MESSAGE_CHARS = 400


class _Short(reprlib.Repr):
    """``repr`` with every part bounded: long strings, big lists and deep nesting are cut."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxset = 3, 8, 8, 8
        self.maxdict, self.maxstring, self.maxother, self.maxlong = 6, 60, 60, 40

    def repr_dict(self, x, level):           # insertion order, as the user wrote it
        if level <= 0:
            return "{...}"
        items = [f"{self.repr1(k, level - 1)}: {self.repr1(x[k], level - 1)}"
                 for k in itertools.islice(x, self.maxdict)]
        return "{" + ", ".join(items + (["..."] if len(x) > self.maxdict else [])) + "}"

    def repr_int(self, x, level):
        return repr(x) if abs(x) < 10**30 else f"<{x.bit_length()}-bit integer>"


def short(value: object) -> str:
    """A one-line rendering of ``value`` of at most ``MAX_VALUE_CHARS`` characters.

    Its cost is bounded too: nothing is rendered past a few levels or items, so a
    YAML alias bomb or a megabyte string is cut, never walked.

    >>> short("x" * 1000)[:12], len(short(list(range(10**6)))) <= MAX_VALUE_CHARS
    ("'xxxxxxxxxxx", True)
    """
    try:
        text = _Short().repr(value)
    except Exception:               # a value whose repr fails still names its type
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 3] + "..."


class InputError(Exception):
    """Bad user input: names the file, the field and the offending value.

    >>> str(InputError("bad value", file="a.yaml", field="parallelism.tp", value=3))
    'a.yaml: parallelism.tp = 3: bad value'
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
                loc += f" = {short(self.value)}"
            where.append(loc)
        message = " ".join(str(self.message).split())
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS - 3] + "..."
        return ": ".join(where + [message])

    def in_file(self, file: str) -> "InputError":
        """Return a copy of this error that names ``file`` (if it named none)."""
        if self.file:
            return self
        return type(self)(self.message, file=file, field=self.field, value=self.value)
