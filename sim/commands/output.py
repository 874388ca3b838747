"""What the commands print: ``--json`` output (one strict JSON object on stdout)."""
from __future__ import annotations

import sys


def print_json(obj: dict) -> None:
    """Write ``obj`` as one JSON object on stdout (no NaN or infinity: see :mod:`sim.io`)."""
    from sim.io import dumps_json
    sys.stdout.write(dumps_json(obj, indent=1) + "\n")
