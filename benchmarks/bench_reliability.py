"""Speed of the run-level reliability model.

Runs the Llama 3 failure preset (419 interruptions per 54 days on 16,384
GPUs) over 54 wall-clock days and prints one row per point: wall time,
replicas, days, GPUs, checkpoint mode, mean interruptions and goodput.

Job: a 405B-parameter model (checkpoint 14 bytes per parameter: bf16
weights, fp32 master weights and two Adam moments), storage bandwidths of
published.yaml (save 273 GB/s, load 1 TB/s), 10 s steps of 16M tokens,
64 hot spare nodes repaired in 24 h, default detection (300 s) and restart
(600 s), checkpoint interval auto.

    python benchmarks/bench_reliability.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.reliability import (CheckpointConfig, FaultConfig, RunConfig,  # noqa: E402
                             SparesConfig, simulate_run)

CKPT = dict(size_bytes=405e9 * 14, save_bytes_per_s=2.73e11, load_bytes_per_s=1.0e12)
POINTS = [  # (label, gpus, days, replicas, checkpoint mode, fault settings over the preset)
    ("exponential", 16384, 54, 1000, "sync", {}),
    ("exponential", 16384, 54, 1000, "async", {}),
    ("exponential", 16384, 54, 1000, "in-memory", {}),
    ("weibull k=0.7", 16384, 54, 200, "sync", {"distribution": "weibull", "weibull_shape": 0.7}),
    ("elastic, no spares", 16384, 54, 200, "sync",
     {"elastic": True, "spares": SparesConfig(nodes=0, repair_h=24)}),
    ("exponential", 1024, 54, 1000, "sync", {}),
    ("exponential", 131072, 54, 100, "sync", {}),
]


def main() -> None:
    header = ("wall_s", "replicas", "days", "gpus", "mode", "faults", "interruptions",
              "goodput", "ettr")
    print("{:>7} {:>8} {:>5} {:>7} {:>9} {:>22} {:>13} {:>8} {:>6}".format(*header))
    for label, gpus, days, replicas, mode, extra in POINTS:
        settings = {"preset": "llama3-54day",
                    "spares": SparesConfig(nodes=64, repair_h=24), **extra}
        faults = FaultConfig(**settings)
        t0 = time.perf_counter()
        res = simulate_run(10.0, 16e6, gpus, 8, faults, CheckpointConfig(mode=mode, **CKPT),
                           RunConfig(days=days, replicas=replicas), np.random.default_rng(0),
                           step_time_for_gpus=lambda g, n=gpus: 10.0 * n / g)
        wall = time.perf_counter() - t0
        out = res.to_json()
        print(f"{wall:7.2f} {replicas:8d} {days:5d} {gpus:7d} {mode:>9} {label:>22} "
              f"{out['interruptions']:13.1f} {out['goodput_fraction']:8.4f} {out['ettr']:6.4f}")


if __name__ == "__main__":
    main()
