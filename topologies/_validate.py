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


#: nesting of mappings and lists a topology file may have
MAX_YAML_DEPTH = 64
#: scalars, lists and mappings a topology file may stand for once aliases are expanded
MAX_YAML_NODES = 1_000_000


class _TopologyLoader(yaml.SafeLoader):
    """SafeLoader refusing repeated keys, deep nesting and alias expansion past a bound.

    ``topologies`` imports nothing else of the project, so it keeps its own small
    loader with the same rules as the scenario reader.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise ValueError(f"nested more than {MAX_YAML_DEPTH} levels deep")
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        children = node.value if isinstance(node, yaml.SequenceNode) else (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
        size = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        self._sizes[id(node)] = size
        if size > MAX_YAML_NODES:
            raise ValueError(f"YAML aliases expand to more than {MAX_YAML_NODES:,} values")
        return node

    def construct_mapping(self, node, deep=False):
        _refuse_repeated_keys(node)
        return super().construct_mapping(node, deep=deep)


def _refuse_repeated_keys(node) -> None:
    seen = set()
    for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else []:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key is not None and key in seen:
            mark = key_node.start_mark
            raise ValueError(f"duplicate key {key[:60]!r} (line {mark.line + 1}, "
                             f"column {mark.column + 1})")
        seen.add(key)


def load_config(text: str, file: str) -> object:
    """A configuration that may be JSON (as ASTRA-sim's own examples often are, tabs
    and all, which YAML refuses) or YAML: a text starting with ``{`` is read as JSON
    first; anything else, or JSON that does not parse or repeats a key, goes to the
    YAML reader, whose error names the line and column."""
    if text.lstrip().startswith("{"):
        import json

        def pairs(items):
            keys = [k for k, _ in items]
            if len(set(keys)) != len(keys):
                raise ValueError("repeated key")
            return dict(items)
        try:
            return json.loads(text, object_pairs_hook=pairs)
        except (ValueError, RecursionError):
            return load_yaml(text, file)         # YAML names the fault (and bounds nesting)
    return load_yaml(text, file)


def load_yaml(text: str, file: str) -> object:
    """YAML read strictly (no repeated keys, bounded nesting and aliases), with a
    one-line error naming the file, line and column."""
    try:
        return yaml.load(text, Loader=_TopologyLoader)   # noqa: S506 (a SafeLoader)
    except RecursionError:
        raise TopologyError("not valid YAML: nested too deeply", file=file) from None
    except ValueError as exc:
        raise TopologyError(f"not valid YAML: {str(exc)[:120]}", file=file) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TopologyError(f"not valid YAML{at}: {problem}", file=file) from None


#: libyaml's parser where PyYAML was built with it (about 30 times faster)
_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _PackagedLoader(_CLoader):
    """For the data files shipped with the package: repeated keys still refused, but
    parsed by libyaml (their size and nesting are known; user files go through
    :func:`load_yaml`)."""

    def construct_mapping(self, node, deep=False):
        _refuse_repeated_keys(node)
        return super().construct_mapping(node, deep=deep)


def load_packaged_yaml(text: str, file: str) -> object:
    """A data file shipped with the package (a preset table), read fast; the tests
    check that :func:`load_yaml` reads every shipped file to the same value."""
    try:
        return yaml.load(text, Loader=_PackagedLoader)   # noqa: S506 (a SafeLoader)
    except (ValueError, yaml.YAMLError) as exc:
        raise TopologyError(f"not valid YAML: {str(exc)[:120]}", file=file) from None

