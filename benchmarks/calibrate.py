"""Fit one set of compute efficiencies per GPU type and precision against the
validation rows marked ``fit: true``.

    nice -n 10 python benchmarks/calibrate.py --gpu h100-sxm [--rounds N]

Generates the trace of every fitted case of that GPU type once (all
precisions together), then re-simulates them for candidate efficiency sets —
coordinate descent over the FLOP efficiency of each precision's GEMMs
(``gemm`` for bf16/fp16, ``gemm_fp8``, ``gemm_mxfp8``, ``gemm_nvfp4``), the
attention FLOP efficiency and the memory-bound efficiency — printing the
MAPE of each candidate and the best set at the end, with the held-back rows'
errors under it. The chosen values go into ``sim/data/compute.yaml`` by hand:
one set per GPU type and precision, never per case.

With ``--moe-host`` it fits ``moe_host_issue_s`` (the host's issue time per
local expert after the MoE dispatcher's synchronisation) on the MoE rows
marked ``fit: true``, efficiencies held fixed; the efficiency fits leave the
MoE rows out.

With ``--software RELEASE`` it fits the one factor of an earlier software
release instead (``software.RELEASE.flop_scale`` in compute.yaml: the
fraction of the latest release's GEMM and attention efficiencies that
release reaches), on the fitted rows run with ``cluster.software: RELEASE``,
holding the latest release's efficiencies fixed.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from anywhere

from sim.compute import Efficiency, compute_model_for
from sim.scenario.load import parse_scenario
from sim.scenario.workload import generate_workload
from sim.simulate import simulate_trace
from sim.validation import cases
from workloads.errors import InputError

GEMM_CATEGORY = {"bf16": "gemm", "fp16": "gemm", "fp8": "gemm_fp8", "mxfp8": "gemm_mxfp8",
                 "nvfp4": "gemm_nvfp4"}


def prepare(gpu: str, fit: bool, software: str | None = None, moe: bool = False) -> list:
    """Traces of the cases of ``gpu`` (fitted or held back): the MoE group's
    with ``moe`` (they fit the host issue time only), the others without."""
    out = []
    for case in cases():
        cl = case.scenario["cluster"]
        if cl.get("gpu") != gpu or case.fit != fit or cl.get("software") != software \
                or (case.group == "MoE") != moe:
            continue
        try:
            scn = parse_scenario(dict(case.scenario), case.name)
            trace, _ = generate_workload(scn)
        except InputError as e:
            print(f"skipped {case.name}: {e}")
            continue
        out.append((case, scn.training.dtype, trace, scn.job.cluster.graph()))
    return out


def model_with(gpu: str, precision: str, point: dict):
    base = compute_model_for(gpu, precision)
    eff = dict(base.efficiency)
    for cat, flop in point.items():
        if cat == "moe_host_issue_s":
            base = dataclasses.replace(base, host_issue_s=flop)
            continue
        if cat == "flop_scale":
            for c, e in base.efficiency.items():
                if c.startswith("gemm") or c == "attention":
                    eff[c] = Efficiency(e.flop * flop, e.mem)
        elif cat == "mem":
            for c in ("default", "elementwise", "norm"):
                eff[c] = Efficiency(eff[c].flop, flop)
        elif cat.startswith("gemm") and cat != GEMM_CATEGORY[precision]:
            continue
        else:
            old = base.eff(cat)
            eff[cat] = Efficiency(flop, old.mem)
    return dataclasses.replace(base, efficiency=eff)


def errors(prepared: list, gpu: str, point: dict) -> list[float]:
    return [(simulate_trace(t, g, model_with(gpu, p, point)).makespan_s - c.measured_s)
            / c.measured_s for c, p, t, g in prepared]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", default="a100-80gb", help="GPU preset to fit")
    ap.add_argument("--rounds", type=int, default=2, help="coordinate-descent rounds")
    ap.add_argument("--deltas", default="-0.12,-0.06,-0.03,0.03,0.06",
                    help="comma-separated steps tried per parameter (halved each round)")
    ap.add_argument("--only", default="", help="comma-separated parameters to vary "
                    "(gemm, gemm_fp8, ..., attention, mem; default: all)")
    ap.add_argument("--software", default=None,
                    help="fit the flop_scale of this earlier software release instead")
    ap.add_argument("--moe-host", action="store_true",
                    help="fit moe_host_issue_s (seconds per local expert) on the MoE rows "
                    "instead, efficiencies held fixed")
    args = ap.parse_args(argv)
    fitted = prepare(args.gpu, True, args.software, args.moe_host)
    if not fitted:
        raise SystemExit(f"no validation rows marked fit: true for {args.gpu}"
                         + (f" with cluster.software {args.software}" if args.software else ""))
    precisions = sorted({p for _, p, _, _ in fitted})
    point = {}
    if args.moe_host:
        point["moe_host_issue_s"] = compute_model_for(args.gpu).host_issue_s
    elif args.software:
        point["flop_scale"] = 1.0
    else:
        for p in precisions:
            cat = GEMM_CATEGORY[p]
            point[cat] = compute_model_for(args.gpu, p).eff(cat).flop
        base = compute_model_for(args.gpu, precisions[0])
        point["attention"] = base.eff("attention").flop
        point["mem"] = base.eff("elementwise").mem

    def evaluate(pt):
        errs = errors(fitted, args.gpu, pt)
        mape = sum(map(abs, errs)) / len(errs)
        print(f"{mape * 100:6.2f}%  " + " ".join(f"{k} {v:.4g}" for k, v in pt.items())
              + "  | " + " ".join(f"{e * 100:+.1f}" for e in errs), flush=True)
        return mape

    best = evaluate(point)
    for r in range(args.rounds):
        scale = 0.5 ** r
        for name in [n for n in point if not args.only or n in args.only.split(",")]:
            for d in (float(x) for x in args.deltas.split(",")):
                if name == "moe_host_issue_s":      # seconds: relative steps
                    value = float(f"{point[name] * (1 + d * scale):.3g}")
                else:
                    value = round(point[name] + d * scale, 3)
                trial = dict(point, **{name: value})
                if not 0 < trial[name] <= 1:
                    continue
                m = evaluate(trial)
                if m < best:
                    best, point = m, trial
    print(f"best: MAPE {best * 100:.2f}% over {len(fitted)} fitted rows with {point}")
    print("fitted:", ", ".join(c.name for c, _, _, _ in fitted))
    held = prepare(args.gpu, False, args.software, args.moe_host)
    if held:
        errs = errors(held, args.gpu, point)
        print(f"held back: MAPE {sum(map(abs, errs)) / len(errs) * 100:.2f}% over {len(held)}:",
              ", ".join(f"{c.name} {e * 100:+.1f}%" for (c, _, _, _), e in zip(held, errs)))


if __name__ == "__main__":
    main()
