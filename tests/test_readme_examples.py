"""The commands shown in README.md run: each exits 0, or 2 where the README says
the command is an error ("exits 2" on the line). Commands run in README order
in one scratch folder (later ones may read what earlier ones wrote), with the
repository's data folders linked in. They run in this process, as the entry
points run them: ``clustersim ARGS`` is ``sim.cli.main(ARGS)`` and ``python -m
MODULE ARGS`` runs MODULE as ``__main__`` (tests/test_cli.py and
tests/test_robust_inputs.py run the command line as a real process). Long ones
are marked slow (not in CI)."""
import contextlib
import io
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
#: Commands that take more than a few seconds (full-size models or long runs).
SLOW = ("clustersim run llama3-405b-16k-faults", "clustersim validate",
        "clustersim run --set cluster.gpus=2048")


def readme_commands(text: str) -> list[tuple[str, int]]:
    """``(command, expected exit status)`` for each runnable line of an indented
    code block or inline code span that starts with clustersim or python -m."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        cmd = None
        if line.startswith("    ") and not line.startswith("     "):
            body = line.strip().removeprefix("$ ")
            if body.startswith(("clustersim ", "python -m ")) or body == "clustersim":
                cmd = body
                while cmd.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    cmd = cmd[:-1].rstrip() + " " + lines[i].strip()
        for span in re.findall(r"`(clustersim [^`]+ --set [^`]+)`", line):
            out.append((span, 0))
        if cmd and "[" not in cmd.split("#")[0] and not re.search(r"\b[A-Z]{3,}\b",
                                                                  cmd.split("#")[0]):
            status = 2 if "exits 2" in cmd else 0
            out.append((cmd if status else cmd.split("  #")[0].strip(), status))
        i += 1
    return [(c, s) for c, s in out if "[" not in c and "..." not in c]


COMMANDS = readme_commands((ROOT / "README.md").read_text())


def _run(cmd: str, monkeypatch) -> tuple[int, str]:
    """Exit status and stderr of ``cmd`` (``clustersim ...`` or ``python -m ...``)."""
    parts = shlex.split(cmd)
    if parts[0] == "clustersim":
        proc = run_cli(*parts[1:])
        return proc.returncode, proc.stderr
    assert parts[:2] == ["python", "-m"], cmd
    monkeypatch.setattr(sys, "argv", parts[2:])
    monkeypatch.delitem(sys.modules, parts[2], raising=False)   # run fresh, as python -m does
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module(parts[2], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, err.getvalue()


def _is_slow(cmd: str) -> bool:
    if "exits 2" in cmd:                 # errors are found before anything is simulated
        return False
    return any(s.strip() == cmd if s.endswith("\n") else s in cmd for s in SLOW)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    for name in ("workloads", "tests", "sim", "topologies", "experiments"):
        (folder / name).symlink_to(ROOT / name)
    return folder


def test_readme_has_commands():
    assert len(COMMANDS) >= 10
    assert any(c.startswith("clustersim plot") for c, _ in COMMANDS)


@pytest.mark.parametrize("cmd,status", [
    pytest.param(c, s, marks=[pytest.mark.slow] if _is_slow(c) else [], id=c[:70])
    for c, s in COMMANDS])
def test_readme_command(cmd, status, scratch, monkeypatch):
    monkeypatch.chdir(scratch)
    code, stderr = _run(cmd.split("  #")[0], monkeypatch)
    assert code == status, stderr[-2000:]
