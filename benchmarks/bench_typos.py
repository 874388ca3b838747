"""How fast a typo in a scenario is reported: one per section of a preset.

    python benchmarks/bench_typos.py [--scenario llama3-405b-16k-faults]

Runs ``python -m sim.cli run SCENARIO --set KEY=VALUE`` as a fresh process for
one misspelt key per section and prints the exit status, the wall and CPU
seconds and the message. Every section is checked when the file is loaded,
so none of these simulates anything. For reference the table starts with the
time of a bare ``python -c pass``.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

TYPOS = ["model.layerz=3", "cluster.gpuz=8", "cluster.fabric.spine=3", "parallelism.tpp=8",
         "training.global_bach=4", "stragglers=[{kind: slow_gpu, gpu: 1, factr: 0.5}]",
         "faults.detecton_s=5", "checkpoint.intervl_s=60", "run.dayz=3", "sim.fols=false"]


def timed(cmd: list[str]) -> tuple[int, float, float, str]:
    """(exit status, wall s, CPU s of the child, first stderr line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.returncode, wall, cpu, (proc.stderr.strip().splitlines() or [""])[0]


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="llama3-405b-16k-faults")
    args = ap.parse_args(argv)
    rows = []
    code, wall, cpu, _ = timed([sys.executable, "-c", "pass"])
    print(f"{'override':<52}{'exit':>5}{'wall_s':>8}{'cpu_s':>7}  message")
    print(f"{'(python -c pass)':<52}{code:>5}{wall:>8.2f}{cpu:>7.2f}")
    for typo in TYPOS:
        code, wall, cpu, msg = timed([sys.executable, "-m", "sim.cli", "run", args.scenario,
                                      "--set", typo])
        rows.append({"override": typo, "exit": code, "wall_s": wall, "cpu_s": cpu,
                     "message": msg})
        print(f"{typo[:51]:<52}{code:>5}{wall:>8.2f}{cpu:>7.2f}  {msg}")
    return rows


if __name__ == "__main__":
    main()
