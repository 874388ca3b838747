"""Building blocks of the input schemas (scenario, sweep, reliability sections).

* :class:`Section` — a pydantic model that is strict (``gpus: true`` is not 1,
  ``"8"`` is not 8), rejects NaN and infinity, and rejects unknown keys with
  the nearest valid key ("did you mean ...") or, for a key that used to be
  accepted, what to use instead (:attr:`Section.moved`);
* number types: :data:`Float` also reads the strings YAML 1.1 leaves
  unparsed (``1e12``); :func:`at_most` is an upper limit with its reason;
* :func:`pydantic_error` — the first error of a ``ValidationError`` as an
  :class:`~workloads.errors.InputError` naming the file, the dotted field and
  the value (shortened to :data:`VALUE_CHARS` characters).

A custom error may carry ``sub`` in its context: a field path below the
location pydantic reports (``[2].kind`` below ``stragglers``).
"""
from __future__ import annotations

import difflib
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from workloads.errors import InputError

#: longest value repr an error message shows
VALUE_CHARS = 60


def suggest(word: object, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or ``""``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def choice_error(value: object, choices, what: str = "value") -> PydanticCustomError:
    """The error of a value that is not one of ``choices`` (a registry's names)."""
    names = ", ".join(map(str, choices))
    return PydanticCustomError("unknown_choice", "unknown {what}{hint} (known: {names})",
                               {"what": what, "hint": suggest(value, choices), "names": names})


def one_of(choices_of, what: str):
    """A validator accepting only names in ``choices_of()`` (read at validation time)."""
    def check(value):
        choices = list(choices_of())
        if value not in choices:
            raise choice_error(value, choices, what)
        return value
    return AfterValidator(check)


def field_error(field: str, value: Any, message: str) -> PydanticCustomError:
    """An error of a cross-field check, located at sub-field ``field`` of the section."""
    return PydanticCustomError("invalid", "{message}", {"message": message, "sub": f".{field}",
                                                         "value": value})


def _number(value: Any) -> Any:
    # YAML 1.1 reads 1e12 (no dot) as a string; read it as the number it means
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


Float = Annotated[float, BeforeValidator(_number)]


def at_most(limit: float, why: str) -> AfterValidator:
    """An upper limit whose error says why it exists."""
    def check(value):
        if value is not None and value > limit:
            raise PydanticCustomError("too_large", "{message}",
                                      {"message": f"at most {limit:g}: {why}"})
        return value
    return AfterValidator(check)


class Section(BaseModel):
    """One mapping of an input file: strict types, finite numbers, known keys only,
    immutable once checked (``model_copy(update=...)`` makes a changed copy).

    ``moved`` maps a key that was once accepted to the advice given instead.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
    moved: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        for key in data:
            if key in known:
                continue
            if key in cls.moved:
                raise PydanticCustomError("moved_key", "not read here: {advice}",
                                          {"sub": f".{key}", "advice": cls.moved[key],
                                           "value": data[key]})
            raise PydanticCustomError(
                "unknown_key", "unknown key{hint}",
                {"sub": f".{key}", "hint": suggest(key, sorted(known)) or
                 f" (known: {', '.join(sorted(known))})", "value": data[key]})
        return data


class _Short:
    """A value whose repr is cut to :data:`VALUE_CHARS` characters."""

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:
        text = repr(self.value)
        return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 3] + "..."


def shorten(value: Any) -> Any:
    """``value`` itself if its repr is short, else a stand-in with a cut repr."""
    return value if len(repr(value)) <= VALUE_CHARS else _Short(value)


def dotted(loc, prefix: str | None = None) -> str:
    """``('stragglers', 0, 'kind=slow_gpu', 'gpu')`` -> ``stragglers[0].gpu``.

    Union tags (``name=value`` elements) are not fields and are left out.
    """
    out = prefix or ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "=" in str(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def pydantic_error(exc, file: str | None, prefix: str | None = None) -> InputError:
    """The first error of a pydantic ``ValidationError`` as an :class:`InputError`.

    The field is the dotted location (after ``prefix``), the value the
    offending input (omitted when it is a whole mapping or list).
    """
    err = exc.errors()[0]
    ctx = err.get("ctx") or {}
    field = (dotted(err.get("loc", ()), prefix) + str(ctx.get("sub", ""))).lstrip(".")
    kind = err["type"]
    value = ctx.get("value", err.get("input", ...))
    if kind == "extra_forbidden":
        msg = "unknown key"
    elif kind == "missing":
        msg, value = "missing required key", ...
    else:
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        if isinstance(value, (dict, list)) and "sub" not in ctx:
            value = ...
    if value is not ...:
        value = shorten(value)
    return InputError(msg, file=file, field=field or "(top)", value=value)
