"""Reading user files: YAML with located errors, pydantic errors as InputError."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from workloads.errors import InputError


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """Parse a YAML file; unreadable files and syntax errors name the file and line."""
    label = str(path)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"cannot read {what}: {e.strerror}", file=label) from None
    return parse_yaml(text, label)


def parse_yaml(text: str, label: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(f"invalid YAML: {where}{problem}", file=label) from None


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
