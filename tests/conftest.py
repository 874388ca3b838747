"""Test-run settings: how many pytest-xdist workers ``-n auto`` (pyproject addopts) starts."""
import os
from pathlib import Path

import pytest

# figures the tests save are checked for existence and layout, not resolution: draft
# PNGs (the 300 dpi default is covered in test_figures.py); subprocesses inherit this
os.environ.setdefault("CLUSTERSIM_PNG_DPI", "40")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                  # not on Linux
        return os.cpu_count() or 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config) -> int:
    """One worker per CPU, but none (a plain serial run, no worker start-up) on one
    CPU or when the run names fewer than two test files: files are not split
    between workers (``--dist loadfile``), so a second worker would only wait.
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides the count."""
    env = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if env:
        return int(env)
    files = set()
    for arg in config.args:
        path = Path(arg.split("::")[0])
        if not path.is_file():              # a folder (or the default testpaths): many files
            files = None
            break
        files.add(path.resolve())
    n = _cpus() if files is None else min(_cpus(), len(files))
    return n if n > 1 else 0
