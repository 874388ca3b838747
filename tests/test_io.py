"""Atomic output files and strict JSON (sim.io)."""
import json
import math
import os

import numpy as np
import pytest

from sim.io import (OutputError, atomic_open, dumps_json, ensure_dir, remove_stale,
                    write_bytes, write_json, write_text)


def test_write_text_creates_parents_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    write_text(target, "one")
    write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_failure_inside_body_keeps_previous_file_and_no_temp(tmp_path):
    target = tmp_path / "r.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_file_mode_follows_umask(tmp_path):
    target = tmp_path / "m.bin"
    write_bytes(target, b"\x00\x01")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert target.read_bytes() == b"\x00\x01"


def test_strict_json_has_no_nan_or_infinity(tmp_path):
    obj = {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5],
           "c": np.float64("nan"), "d": np.arange(3), "e": np.int64(7)}
    text = dumps_json(obj)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5], "c": None,
                                "d": [0, 1, 2], "e": 7}
    write_json(tmp_path / "x.json", obj)
    back = json.loads((tmp_path / "x.json").read_text(),
                      parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert back["b"][2] == 1.5 and not any(isinstance(v, float) and math.isnan(v)
                                           for v in back.values())


def test_device_is_written_in_place_not_replaced():
    write_text("/dev/null", "x")
    assert not os.path.isfile("/dev/null")
    with pytest.raises(OutputError, match="/dev/full: cannot write: No space left"):
        write_text("/dev/full", "x" * 100_000)
    assert not os.path.isfile("/dev/full")
    remove_stale("/dev/null")
    assert os.path.exists("/dev/null")


def test_output_path_errors_are_user_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="a file of that name exists"):
        ensure_dir(tmp_path / "file")
    with pytest.raises(OutputError, match="a file of that name exists|Not a directory"):
        write_text(tmp_path / "file" / "r.json", "x")
    with pytest.raises(OutputError, match="is a folder"):
        write_text(tmp_path, "x")
    with pytest.raises(OutputError, match="non-empty path"):
        ensure_dir("", "--out")
    with pytest.raises(OutputError, match="cannot"):
        write_text("/proc/clustersim-no-such/r.json", "x")
