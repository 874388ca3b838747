"""Fit one set of compute efficiencies for a GPU type against the published runs.

    python benchmarks/calibrate.py [--quick]

Generates every validation case's trace once, then re-simulates it for
candidate efficiency sets — coordinate descent over the GEMM and attention
FLOP efficiencies and the memory-bound efficiency — printing the MAPE of each
candidate as it goes and the best set at the end. The chosen values go into ``sim/data/compute.yaml`` by hand: one
set per GPU type, never per case.
"""
from __future__ import annotations

import argparse

import topologies
from sim.compute import ComputeModel, Efficiency, compute_model
from sim.scenario.load import validate as validate_scenario
from sim.scenario.runner import _cluster
from sim.scenario.workload import generate_trace
from sim.simulate import simulate_trace
from sim.validation import cases


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip cases with more than 600 GPUs")
    ap.add_argument("--rounds", type=int, default=1, help="coordinate-descent rounds")
    args = ap.parse_args(argv)
    gpu = "a100-80gb"
    spec = topologies.gpu_spec(gpu)
    base = compute_model(gpu, spec.peak_dense_flops, spec.hbm_bw_bytes_per_s)
    prepared = []
    for case in cases():
        if args.quick and case.scenario["cluster"]["gpus"] > 600:
            continue
        scn = validate_scenario(dict(case.scenario), case.name)
        trace = generate_trace(scn)
        prepared.append((case, trace, _cluster(scn, trace.world_size)))
    def evaluate(gemm, attn, mem):
        eff = dict(base.efficiency)
        eff["gemm"] = Efficiency(gemm, eff["gemm"].mem)
        eff["default"] = Efficiency(gemm, mem)
        eff["attention"] = Efficiency(attn, eff["attention"].mem)
        for cat in ("elementwise", "norm"):
            eff[cat] = Efficiency(eff[cat].flop, mem)
        model = ComputeModel(base.peak_flops, base.hbm_bw_bytes_per_s, eff,
                             base.launch_overhead_s, gpu)
        errs = [(simulate_trace(t, g, model).makespan_s - c.measured_s) / c.measured_s
                for c, t, g in prepared]
        mape = sum(map(abs, errs)) / len(errs)
        print(f"{mape * 100:6.2f}% gemm {gemm:.3f} attention {attn:.3f} mem {mem:.3f}  "
              + " ".join(f"{e * 100:+.1f}" for e in errs), flush=True)
        return mape

    point = {"gemm": base.eff("gemm").flop, "attn": base.eff("attention").flop,
             "mem": base.eff("elementwise").mem}
    steps = {"gemm": [-0.06, -0.03, 0.03], "attn": [-0.15, 0.15], "mem": [-0.1, 0.1]}
    best = evaluate(**point)
    for _ in range(args.rounds):
        for name, deltas in steps.items():
            for d in deltas:
                trial = dict(point, **{name: round(point[name] + d, 3)})
                if not 0 < trial[name] <= 1:
                    continue
                m = evaluate(**trial)
                if m < best:
                    best, point = m, trial
    print(f"best: MAPE {best * 100:.2f}% with {point}")
    print("cases:", ", ".join(c.name for c, _, _ in prepared))


if __name__ == "__main__":
    main()
