"""Strict, bounded readers for user files: UTF-8 text, YAML and JSON.

Every problem is an :class:`InputError` naming the file (and line where known):

* text must be UTF-8 (a UTF-8 byte-order mark is allowed); UTF-16/32 files, other
  encodings and binary files are refused with a hint to re-save as UTF-8; files
  larger than ``MAX_FILE_BYTES`` are refused before they are read;
* YAML is read with the safe loader plus three limits: a key repeated in one
  mapping is an error (YAML itself forbids it; PyYAML silently keeps the last);
  nesting deeper than ``MAX_DEPTH`` is an error (instead of a ``RecursionError``);
  and aliases may expand to at most ``MAX_NODES`` values (a "billion laughs" file
  is refused at once instead of being walked);
* JSON is strict: ``NaN``/``Infinity`` and repeated keys are errors, and nesting
  is bounded.
"""
from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import yaml

from workloads.errors import InputError

MAX_FILE_BYTES = 1 << 30        # 1 GiB: larger inputs are refused before reading
MAX_DEPTH = 64                  # nesting of mappings and lists
MAX_NODES = 1_000_000           # values after expanding YAML aliases

_BOMS = [(codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")]


def decode(data: bytes, label: str) -> str:
    """``data`` as UTF-8 text, or an error saying what it is instead."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise InputError(f"file is {name}-encoded; save it as UTF-8", file=label)
    if b"\x00" in data[:8192]:
        raise InputError("binary file (contains NUL bytes), expected UTF-8 text", file=label)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"not UTF-8 text: byte 0x{data[e.start]:02x} on line {line}; "
                         "save the file as UTF-8", file=label) from None


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of ``path``; unreadable, huge or non-UTF-8 files are errors."""
    label = str(path)
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError(f"cannot read {what}: is a folder", file=label)
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{what} is {size / 2**20:.0f} MiB, more than the "
                             f"{MAX_FILE_BYTES >> 20} MiB limit", file=label)
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {what}: {e.strerror or type(e).__name__}",
                         file=label) from None
    return decode(data, label)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses repeated keys, deep nesting and alias bombs."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    repeated = key in seen
                except TypeError:       # unhashable: the base class reports it
                    continue
                if repeated:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {str(key)[:60]!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node) -> int:
    """How many values ``root`` stands for once aliases are expanded (memoised per node)."""
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done or not children:
            sizes[id(node)] = 1 + sum(sizes.get(id(c), 0) for c in children)
            if sizes[id(node)] > MAX_NODES:
                return sizes[id(node)]
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def parse_yaml(text: str, label: str) -> Any:
    """Parse YAML ``text`` strictly; errors name ``label``, the line and the column."""
    try:
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_size(node) > MAX_NODES:
                raise InputError(f"YAML aliases expand to more than {MAX_NODES:,} values "
                                 "(an alias bomb?)", file=label)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(f"invalid YAML: {where}{problem}", file=label) from None
    except RecursionError:
        raise InputError(f"invalid YAML: nested more than {MAX_DEPTH} levels deep",
                         file=label) from None
    except ValueError as e:                 # e.g. an integer with more than 4300 digits
        raise InputError(f"invalid YAML: {str(e)[:120]}", file=label) from None


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """Read and strictly parse a YAML file."""
    return parse_yaml(read_text(path, what), str(path))


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number in JSON (use a finite value)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key[:60]!r}")
        out[key] = value
    return out


def _depth(obj: Any) -> int:
    depth, level = 0, [obj]
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            return depth
        nxt = []
        for o in level:
            if isinstance(o, dict):
                nxt.extend(v for v in o.values() if isinstance(v, (dict, list)))
            elif isinstance(o, list):
                nxt.extend(v for v in o if isinstance(v, (dict, list)))
        level = nxt
    return depth


def parse_json(text: str, label: str) -> Any:
    """Parse JSON ``text`` strictly (no NaN/Infinity, no repeated keys, bounded nesting)."""
    try:
        data = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}",
                         file=label) from None
    except RecursionError:
        raise InputError(f"invalid JSON: nested more than {MAX_DEPTH} levels deep",
                         file=label) from None
    except ValueError as e:
        raise InputError(f"invalid JSON: {str(e)[:160]}", file=label) from None
    if _depth(data) > MAX_DEPTH:
        raise InputError(f"invalid JSON: nested more than {MAX_DEPTH} levels deep", file=label)
    return data


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read and strictly parse a JSON file."""
    return parse_json(read_text(path, what), str(path))
