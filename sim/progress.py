"""Progress bars for long work: tqdm on stderr, shown only on a terminal.

``progress(iterable, ...)`` wraps an iterable (or gives a manual bar with
``total=``); ``enabled`` None shows the bar when stderr is a terminal, False
never (``--no-progress``), True always. stdout stays clean for ``--json``.
"""
from __future__ import annotations

import sys
from typing import Iterable


def progress(iterable: Iterable | None = None, *, total: int | None = None,
             desc: str | None = None, unit: str = "it", enabled: bool | None = None):
    """A tqdm bar on stderr (see the module docstring)."""
    from tqdm import tqdm
    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr,
                disable=disable, leave=False, dynamic_ncols=True)
