"""What the collective tuner's choice is worth: default against forced algorithms.

Two tables, each simulated side by side in one run:

1. single all-reduces on A100 clusters (as ``clustersim collective``): the
   tuner's pick (``auto``) and every algorithm forced, at 1 MiB and 64 MiB on
   256 GPUs;
2. a data-parallel step on 1,024 GPUs (128 nodes of 8): the toy job of
   ``bench_scale.py`` (2 iterations x 8 layers of 100 us forward and 200 us
   backward, a 16 MiB all-reduce per layer after its backward), with the
   all-reduces left to the tuner or forced, on the A100 preset cluster and on
   the two-level toy fabric (400 GB/s in-node, 50 GB/s per GPU across).

    python benchmarks/bench_collective_choice.py [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

MIB = 2**20


def single_rows(gpus: int) -> list[dict]:
    import topologies
    from sim.collectives.timing import simulate_collective
    g = topologies.build_cluster("a100-80gb", gpus)
    rows = []
    for size in (1 * MIB, 64 * MIB):
        for algo in (None, "ring", "tree", "hierarchical"):
            t, used, proto = simulate_collective(g, "all_reduce", size, list(range(gpus)), algo)
            rows.append({"case": f"all_reduce {size // MIB} MiB x {gpus}",
                         "request": algo or "auto", "used": f"{used}/{proto}",
                         "time": f"{t * 1e6:.1f} us"})
    return rows


def step_rows(nodes: int) -> list[dict]:
    import topologies
    from bench_scale import TOY, toy_trace
    from sim.compute import compute_model
    from sim.simulate import simulate_trace
    spec = topologies.gpu_spec("a100-80gb")
    compute = compute_model("a100-80gb", spec.peak_dense_flops, spec.hbm_bw_bytes_per_s)
    rows = []
    for topo in ("a100-80gb", "two_level"):
        graph = (topologies.build_cluster("a100-80gb", nodes * 8) if topo == "a100-80gb" else
                 topologies.two_level(nodes, 8, TOY["intra_bw_bytes_per_s"],
                                      TOY["inter_bw_bytes_per_s"]))
        for algo in (None, "ring", "tree", "hierarchical"):
            trace = toy_trace(nodes, 8, **TOY)
            for prog in trace.programs:
                for op in prog.ops:
                    if op.kind == "all_reduce":
                        op.algorithm = algo
            t0 = time.perf_counter()
            step = simulate_trace(trace, graph, compute, fold=True)
            rows.append({"case": f"DP step {nodes * 8} GPUs, {topo}", "request": algo or "auto",
                         "used": "-", "time": f"{step.makespan_s * 1e3:.2f} ms "
                                              f"(wall {time.perf_counter() - t0:.1f} s)"})
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 GPUs / 2 nodes instead")
    args = ap.parse_args(argv)
    rows = single_rows(16 if args.quick else 256) + step_rows(2 if args.quick else 128)
    print(f"{'case':<34}{'request':<14}{'used':<20}time")
    for r in rows:
        print(f"{r['case']:<34}{r['request']:<14}{r['used']:<20}{r['time']}")
    return rows


if __name__ == "__main__":
    main()
