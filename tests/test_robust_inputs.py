"""Strict readers, bounded error messages and the CLI's exit codes on hostile input."""
import subprocess
import sys

import pytest

from sim import cli
from tests.helpers import run_cli
from topologies.errors import TopologyError
from workloads.errors import MAX_VALUE_CHARS, InputError, short
from workloads.readers import (MAX_DEPTH, parse_json, parse_yaml, read_json, read_text,
                               read_yaml)

#: a quick run whose Chrome trace (about 0.8 MB) is still larger than a pipe's
#: buffer and the 50 kB file-size limit below, so those writes do fail
SMALL = ["--set", "cluster.gpus=64", "--set", "parallelism.dp=1",
         "--set", "training.global_batch=16", "--set", "model.layers=8", "--no-progress"]


def bomb(levels=9):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# -- text encodings ---------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    ("name: caf\xe9\n".encode("latin-1"), r"not UTF-8 text: byte 0xe9 on line 1; save"),
    ("name: x\n".encode("utf-16"), "file is UTF-16-encoded; save it as UTF-8"),
    (bytes(range(256)), "binary file"),
])
def test_non_utf8_files_are_refused_with_a_hint(tmp_path, data, message):
    path = tmp_path / "s.yaml"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message) as err:
        read_yaml(path)
    assert str(err.value).startswith(str(path))


def test_utf8_bom_is_accepted_and_folders_are_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: caf\xc3\xa9\n")
    assert read_yaml(path) == {"name": "café"}
    with pytest.raises(InputError, match="is a folder"):
        read_text(tmp_path)


# -- YAML ---------------------------------------------------------------------------------

def test_yaml_duplicate_key_names_the_key_and_line():
    with pytest.raises(InputError, match=r"s.yaml: invalid YAML: line 4 column 3: "
                                         r"duplicate key 'global_batch'"):
        parse_yaml("model: x\ntraining:\n  global_batch: 1\n  global_batch: 2\n", "s.yaml")


def test_yaml_merge_keys_may_be_overridden():
    data = parse_yaml("base: &b {tp: 1, pp: 2}\nuse: {<<: *b, tp: 4}\n", "s.yaml")
    assert data["use"] == {"tp": 4, "pp": 2}


def test_yaml_alias_bomb_is_refused_at_once():
    # refused while counting, before the 9**9 values are built
    with pytest.raises(InputError, match="aliases expand to more than 1,000,000 values"):
        parse_yaml(bomb() + "bogus: *a8\n", "bomb.yaml")
    assert parse_yaml(bomb(4), "ok.yaml")["a3"][0][0][0][0] == "lol"   # small aliases are fine


@pytest.mark.parametrize("text", ["x: " + "[" * 10_000 + "]" * 10_000,
                                  "x: " + "{a: " * 5_000 + "1" + "}" * 5_000,
                                  "x:\n" + "".join("  " * i + "- \n" for i in range(1, 200))])
def test_yaml_deep_nesting_is_one_clean_error(text):
    with pytest.raises(InputError, match=f"nested more than {MAX_DEPTH} levels deep"):
        parse_yaml(text, "deep.yaml")
    parse_yaml("x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1), "ok.yaml")


def test_yaml_huge_integer_is_a_clean_error():
    with pytest.raises(InputError, match="invalid YAML"):
        parse_yaml("x: " + "9" * 5000, "big.yaml")


# -- JSON ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('{"a": NaN}', "NaN is not a number in JSON"),
    ('{"a": [1, -Infinity]}', "-Infinity is not a number in JSON"),
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ("[" * 100_000 + "]" * 100_000, "nested more than"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested more than"),
    ('{"a": 1', "invalid JSON at line 1 column 8"),
    ("9" * 5000, "invalid JSON"),
])
def test_json_is_strict_and_bounded(tmp_path, text, message):
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_json(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_json_within_limits_parses():
    assert parse_json('{"a": [1.5, {"b": null}]}', "t.json") == {"a": [1.5, {"b": None}]}


# -- bounded messages ----------------------------------------------------------------------

class _Leaf:
    """A leaf that counts how often it is rendered (and refuses past a bound)."""

    renders = 0

    def __repr__(self):
        _Leaf.renders += 1
        if _Leaf.renders > 10_000:
            raise RuntimeError("the value is being walked")
        return "lol"


def test_error_values_are_bounded_in_length_and_work():
    nested = [_Leaf()] * 9
    for _ in range(9):
        nested = [_Leaf()] + [nested] * 8            # over 8**9 leaves if walked
    _Leaf.renders = 0
    for value in (nested, {"k": nested}, "x" * 10**7, 10**5000, b"\x00" * 10**6):
        for err in (InputError("bad", file="f.yaml", field="k", value=value),
                    TopologyError("bad", file="f.yaml", field="k", value=value)):
            text = str(err)
            assert len(text) <= len("f.yaml: k = ") + MAX_VALUE_CHARS + len(": bad")
            assert "\n" not in text and text.endswith(": bad")
    # four renderings of the alias bomb look at a few leaves each, never at them all
    assert 0 < _Leaf.renders <= 1000
    assert short({"b": 1, "a": 2}) == "{'b': 1, 'a': 2}"         # the user's key order
    assert "\n" not in str(InputError("two\nlines", field="f", value="a\nb"))


# -- the CLI ------------------------------------------------------------------------------

def test_internal_error_exits_3_with_one_line_and_traceback_only_with_debug(monkeypatch, capsys):
    import sim.commands.validate as validate

    def broken(args):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(validate, "cmd_validate", broken)
    assert cli.main(["validate"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: ZeroDivisionError" in err
    assert "--debug" in err and "report" in err and "Traceback" not in err
    assert cli.main(["--debug", "validate"]) == 3
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--bytes", "nan"], "argument --bytes: not a positive finite size: 'nan'"),
    (["--bytes", "inf"], "argument --bytes: not a positive finite size: 'inf'"),
    (["--bytes", "0"], "argument --bytes: not a positive finite size"),
    (["--bytes", "1e30"], "argument --bytes: at most"),
    (["--gpus", "1000000000"], "argument --gpus: must be 2..131072"),
    (["--link-bw", "nan", "--topology", "ring"], "argument --link-bw: must be a finite number"),
    (["--link-bw", "-1", "--topology", "ring"], "argument --link-bw: must be > 0"),
    (["--latency-us", "-1", "--topology", "ring"], "argument --latency-us: must be >= 0"),
])
def test_collective_arguments_are_checked_under_the_users_names(capsys, args, message):
    base = {"--op": "all_reduce", "--bytes": "1G", "--gpus": "8"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    with pytest.raises(SystemExit) as exc:
        cli.main(["collective", *[x for kv in base.items() for x in kv]])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _cli(shell: str) -> subprocess.CompletedProcess:
    py = f"{sys.executable} -m sim.cli"
    return subprocess.run(["bash", "-c", shell.format(py=py, small=" ".join(SMALL))],
                          capture_output=True, text=True, timeout=300)


def test_stdout_errors_are_clean():
    full = _cli("{py} run {small} --json > /dev/full")
    assert full.returncode == 2
    assert full.stderr == "clustersim: error: cannot write output: No space left on device\n"
    pipe = _cli("{py} run {small} --chrome-trace /dev/stdout | head -c 10 >/dev/null; "
                "exit ${{PIPESTATUS[0]}}")
    assert pipe.returncode == 0 and pipe.stderr == ""


def test_output_path_errors_exit_2_with_one_line(tmp_path):
    (tmp_path / "f").write_text("x")
    for extra, message in [(["--out", f"{tmp_path}/f"], "a file of that name exists"),
                           (["--chrome-trace", tmp_path], "is a folder"),
                           (["--chrome-trace", "/dev/full"], "No space left on device"),
                           (["--out", ""], "--out = '': must be a non-empty path"),
                           (["--out", "/proc/clustersim"], "cannot create folder")]:
        proc = run_cli("run", *SMALL, *extra)
        assert proc.returncode == 2, (extra, proc.stderr)
        assert message in proc.stderr and proc.stderr.count("\n") == 1, (extra, proc.stderr)


def test_file_size_limit_leaves_no_torn_trace(tmp_path):
    target = tmp_path / "t.json"
    proc = _cli("ulimit -f 50; {py} run {small} --chrome-trace " + str(target))
    assert proc.returncode == 2 and "File too large" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_failed_run_removes_earlier_result(tmp_path):
    out = tmp_path / "o"
    assert run_cli("run", *SMALL, "--out", out).returncode == 0
    assert (out / "result.json").exists()
    proc = run_cli("run", *SMALL, "--set", "parallelism.tp=3", "--out", out)
    assert proc.returncode == 2
    assert not (out / "result.json").exists()


# -- found by benchmarks/fuzz.py ----------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"distributedInfo": [1]}, "distributedInfo"),
    ({"distributedInfo": {"rank": "0"}}, "distributedInfo.rank"),
    ({"distributedInfo": {"world_size": 10**9}}, "distributedInfo.world_size"),
    ({"traceEvents": [{"ph": "X", "ts": 0, "dur": 1, "tid": [1], "name": "a"}]},
     "traceEvents[0].tid"),
])
def test_kineto_fields_are_checked(tmp_path, change, field):
    import json

    from workloads.importers.kineto import load_kineto
    data = {"traceEvents": [{"ph": "X", "ts": 0, "dur": 1, "tid": 1, "name": "a"}], **change}
    path = tmp_path / "k.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        load_kineto([str(path)])
    assert err.value.field == field


def test_a_scenario_name_too_long_for_the_os_is_a_clean_error():
    from sim.scenario.load import raw_scenario
    with pytest.raises(InputError, match="no such scenario file or preset"):
        raw_scenario("x" * 5000)
