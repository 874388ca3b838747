"""Whole-process time of small commands: start-up matters as much as simulation here.

Runs each command N times as a fresh ``python -m sim.cli ...`` process and
prints the best wall time and the best CPU time (user + sys of the child).
On a shared, loaded machine the wall time includes waiting for a core; the
CPU time is what the process itself costs. Targets are for wall time on an
idle machine.

By default the commands run from this checkout with this interpreter: with
``PYTHONDONTWRITEBYTECODE`` set, every run compiles the project's modules
again, which an installed copy never does. ``--python`` measures an installed
copy as a user runs it, from a folder outside the checkout::

    python -m venv /tmp/venv && /tmp/venv/bin/pip install .
    python benchmarks/bench_startup.py --python /tmp/venv/bin/python

Two ``--python`` (say an earlier release installed in another venv, then this
one) run side by side, interleaved, with the ratio of their CPU times.

    python benchmarks/bench_startup.py [--repeat 5] [--python EXE [--python EXE]]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "workloads" / "examples" / "chakra"


def cases(tmp: Path) -> list[tuple[str, list[str], float]]:
    dp = tmp / "dp1024"
    subprocess.run([sys.executable, "-m", "workloads.importers.et_writer", "dp", "--ranks",
                    "1024", str(dp)], cwd=ROOT, check=True, capture_output=True)
    return [
        ("python -c pass (interpreter alone)", ["-c", "pass"], 0.0),
        ("8-rank all-reduce Chakra trace",
         ["-m", "sim.cli", "run", "--chakra", str(EX / "allreduce_1g"), "--network",
          str(EX / "switch_8.yml")], 0.5),
        ("collective all_reduce 1G 8 GPUs a100-80gb",
         ["-m", "sim.cli", "collective", "--op", "all_reduce", "--bytes", "1G", "--gpus", "8",
          "--topology", "a100-80gb"], 0.5),
        ("64-rank DP Chakra trace, 2-D network",
         ["-m", "sim.cli", "run", "--chakra", str(EX / "dp_64"), "--network",
          str(EX / "switch_2d_8x8.yml"), "--system", str(EX / "system_2d.json")], 0.0),
        ("1,024-rank DP Chakra trace, 2-D network",
         ["-m", "sim.cli", "run", "--chakra", str(dp), "--network",
          str(EX / "switch_2d_8x128.yml"), "--system", str(EX / "system_2d.json")], 2.0),
    ]


def measure(argv: list[str], python: str = sys.executable,
            cwd: Path = ROOT) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([python, *argv], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--python", action="append", default=None, metavar="EXE",
                    help="interpreter with clustersim installed (run outside the checkout); "
                    "give two (e.g. an earlier release's venv first) to compare them side by "
                    "side, runs interleaved")
    args = ap.parse_args(argv)
    pythons = args.python or [sys.executable]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp) if args.python else ROOT
        rows = []
        for name, cmd, target in cases(Path(tmp)):
            runs: list[list] = [[] for _ in pythons]
            for _ in range(args.repeat):          # interleaved: load hits every interpreter alike
                for k, python in enumerate(pythons):
                    runs[k].append(measure(cmd, python, cwd))
            best = [(min(w for w, _ in r), min(c for _, c in r)) for r in runs]
            rows.append((name, best, target))
    where = ", ".join(pythons) if args.python else "this checkout"
    print(f"{where}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"best of {args.repeat}")
    cols = "".join(f" {'wall s':>7} {'cpu s':>7}" for _ in pythons)
    ratio = f" {'cpu 1st/last':>12}" if len(pythons) > 1 else ""
    print(f"{'command':<44}{cols} {'target':>7}{ratio}")
    for name, best, target in rows:
        cells = "".join(f" {w:7.3f} {c:7.3f}" for w, c in best)
        r = f" {best[0][1] / best[-1][1]:12.2f}" if len(pythons) > 1 else ""
        print(f"{name:<44}{cells} {f'< {target:g}' if target else '':>7}{r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
