"""Chakra workloads on 2-D ASTRA-sim networks: simulated time against alpha-beta, and wall time.

Each case runs as a whole process (``python -m sim.cli run --chakra ... --json``).
The alpha-beta expectation is written out independently here: a switch
dimension d costs ``alpha_d = 2 * latency_d`` per step (two hops) and
``bytes / bandwidth_d`` per byte on a link; ASTRA-sim's localBWAware
all-reduce is a ring reduce-scatter along dimension 0, a ring all-reduce of
1/n0 of the data along dimension 1 and a ring all-gather back. The
data-parallel loop overlaps each layer's all-reduce with the next layer's
backward on one communicator (in issue order), and the next iteration's
first forward waits for the last all-reduce: :func:`dp_step` walks that
recurrence (with ``t_allreduce <= bwd`` only the last all-reduce of each
iteration is exposed: ``iterations * (layers * (fwd + bwd) + t_allreduce)``).

    python benchmarks/bench_chakra.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "workloads" / "examples" / "chakra"
GIB = 2**30


def ring_ar(s, n, bw, alpha):
    return 2 * (n - 1) / n * s / bw + 2 * (n - 1) * alpha


def ring_rs(s, n, bw, alpha):
    return (n - 1) / n * s / bw + (n - 1) * alpha


def two_d_ar(s, n0, n1, bw0, bw1, lat0, lat1):
    return 2 * ring_rs(s, n0, bw0, 2 * lat0) + ring_ar(s / n0, n1, bw1, 2 * lat1)


def dp_step(layers, iterations, fwd, bwd, t_ar):
    """Step time of the data-parallel loop with all-reduces of t_ar in issue order."""
    start = 0.0
    for _ in range(iterations):
        ar_end = 0.0
        for j in range(layers):
            bwd_end = start + layers * fwd + (j + 1) * bwd
            ar_end = max(bwd_end, ar_end) + t_ar
        start = max(start + layers * (fwd + bwd), ar_end)
    return start


def run(prefix: Path, network: Path, system: Path | None) -> tuple[float, float, dict]:
    argv = [sys.executable, "-m", "sim.cli", "run", "--chakra", str(prefix), "--network",
            str(network), "--json"] + (["--system", str(system)] if system else [])
    t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(p.stderr)
    res = json.loads(p.stdout)
    return res["step_time_s"], wall, res


def main() -> int:
    sysj = EX / "system_2d.json"
    s_ar, s_grad = GIB, 16 * 2**20
    layers, iters, fwd, bwd = 8, 2, 100e-6, 200e-6
    with tempfile.TemporaryDirectory() as tmp:
        dp1024 = Path(tmp) / "dp1024"
        subprocess.run([sys.executable, "-m", "workloads.importers.et_writer", "dp", "--ranks",
                        "1024", str(dp1024)], cwd=ROOT, check=True, capture_output=True)
        t_dp64 = two_d_ar(s_grad, 8, 8, 400 * GIB, 50 * GIB, 500e-9, 500e-9)
        t_dp1024 = two_d_ar(s_grad, 8, 128, 400 * GIB, 50 * GIB, 500e-9, 500e-9)
        cases = [
            ("8-rank all-reduce 1 GiB, 1-D switch 8 @ 50 GB/s", EX / "allreduce_1g",
             EX / "switch_8.yml", None, ring_ar(s_ar, 8, 50 * GIB, 1e-6)),
            ("8-rank all-reduce 1 GiB, 2-D switch 4x2 @ 400/50", EX / "allreduce_1g",
             EX / "switch_2d_4x2.yml", sysj,
             two_d_ar(s_ar, 4, 2, 400 * GIB, 50 * GIB, 500e-9, 500e-9)),
            ("64-rank DP loop, 2-D switch 8x8 @ 400/50", EX / "dp_64", EX / "switch_2d_8x8.yml",
             sysj, dp_step(layers, iters, fwd, bwd, t_dp64)),
            ("1,024-rank DP loop, 2-D switch 8x128 @ 400/50", dp1024,
             EX / "switch_2d_8x128.yml", sysj,
             dp_step(layers, iters, fwd, bwd, t_dp1024)),
        ]
        print(f"{'case':<50} {'simulated s':>12} {'alpha-beta s':>12} {'rel.err':>8} "
              f"{'wall s':>7}")
        for name, prefix, net, system, expected in cases:
            t, wall, _ = run(prefix, net, system)
            err = f"{abs(t - expected) / expected:8.1e}" if expected else "     n/a"
            exp = f"{expected:12.6g}" if expected else f"{'n/a':>12}"
            print(f"{name:<50} {t:12.6g} {exp} {err} {wall:7.2f}")
        chunked = EX / "system_2d_chunked.json"
        t, wall, _ = run(EX / "dp_64", EX / "switch_2d_8x8.yml", chunked)
        print(f"{'64-rank DP loop, chunked (4 splits, HD on dim 1)':<50} {t:12.6g} "
              f"{'(pipelined)':>12} {'':>8} {wall:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
