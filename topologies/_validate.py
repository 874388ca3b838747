"""Small validators shared by the builders and the data loaders.

Each one returns the cleaned value or raises :class:`TopologyError` naming the
file, field and value. Booleans are never accepted as numbers.
"""
from __future__ import annotations

import math
from pathlib import Path

import yaml

from topologies.errors import TopologyError


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_float(value: object, field: str, file: str | None = None) -> float:
    """A finite number > 0, as float."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise TopologyError("must be a positive finite number", file=file, field=field, value=value)
    return float(value)


def nonneg_float(value: object, field: str, file: str | None = None) -> float:
    """A finite number >= 0, as float."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise TopologyError("must be a finite number >= 0", file=file, field=field, value=value)
    return float(value)


def fraction(value: object, field: str, file: str | None = None) -> float:
    """A number in (0, 1], as float (an efficiency)."""
    if not _is_number(value) or not (0 < value <= 1):
        raise TopologyError("must be a number in (0, 1]", file=file, field=field, value=value)
    return float(value)


def int_at_least(value: object, minimum: int, field: str, file: str | None = None) -> int:
    """An integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TopologyError(f"must be an integer >= {minimum}", file=file, field=field, value=value)
    return value


def mapping(value: object, field: str, file: str | None = None) -> dict:
    """A mapping (YAML dict)."""
    if not isinstance(value, dict):
        raise TopologyError(f"must be a mapping, got {type(value).__name__}",
                            file=file, field=field, value=value)
    return value


def known_keys(data: dict, allowed: set[str] | frozenset[str], where: str,
               file: str | None = None) -> None:
    """Reject keys of ``data`` not in ``allowed``; ``where`` prefixes the field."""
    for key in data:
        if key not in allowed:
            field = f"{where}.{key}" if where else str(key)
            raise TopologyError(f"unknown key (allowed: {', '.join(sorted(allowed))})",
                                file=file, field=field, value=data[key])


def required(data: dict, key: str, where: str, file: str | None = None) -> object:
    """``data[key]``, or an error naming the missing field."""
    if key not in data:
        field = f"{where}.{key}" if where else key
        raise TopologyError("missing required field", file=file, field=field)
    return data[key]


def read_text(path, file: str) -> str:
    """The UTF-8 text of ``path``; unreadable or non-UTF-8 files are a :class:`TopologyError`."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise TopologyError(f"cannot read file: {exc.strerror or exc}", file=file) from None
    except UnicodeDecodeError as exc:
        raise TopologyError(f"not UTF-8 text (byte offset {exc.start}); save the file as UTF-8",
                            file=file) from None


def load_yaml(text: str, file: str) -> object:
    """``yaml.safe_load`` with a one-line error naming the file, line and column."""
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise TopologyError("not valid YAML: nested too deeply", file=file) from None
    except ValueError as exc:
        raise TopologyError(f"not valid YAML: {str(exc)[:120]}", file=file) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TopologyError(f"not valid YAML{at}: {problem}", file=file) from None
