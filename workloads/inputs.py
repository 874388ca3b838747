"""Reading user files: YAML with located errors, pydantic errors as InputError."""
from __future__ import annotations

from workloads.errors import InputError
from workloads.readers import parse_yaml, read_yaml

__all__ = ["parse_yaml", "read_yaml", "pydantic_error"]


def pydantic_error(exc, file: str | None, prefix: str | None = None) -> InputError:
    """The first error of a pydantic ``ValidationError`` as an :class:`InputError`.

    The field is the dotted location (after ``prefix``), the value the
    offending input (omitted when it is a whole mapping or list).
    """
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    field = ".".join(([prefix] if prefix else []) + loc) or "(top)"
    extra = err["type"] == "extra_forbidden"
    value = err.get("input", ...)
    if isinstance(value, (dict, list)) and not extra:
        value = ...
    msg = "unknown key" if extra else err.get("msg", "invalid").removeprefix("Value error, ")
    return InputError(msg, file=file, field=field, value=value)
