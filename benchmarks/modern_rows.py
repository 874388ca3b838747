"""Which rows of calibration/modern.yaml the simulator can run, and why not.

    python benchmarks/modern_rows.py [PATH/TO/modern.yaml] [--json]

Every row becomes a scenario by the rules the modern validation suite uses
(sim/data/validation.yaml: the row's GPU, model preset, layout, batch and
precision, NeMo's overlaps, ZeRO 1 or, for ``fsdp`` rows, ZeRO 3; the
embedding and the loss counted in the pipeline split where the printed split
needs them); a row the suite itself reproduces runs as its validation case,
with the recipe settings given there. Its trace is generated, which checks
the layout and the memory, but not simulated. The rows that cannot run are
printed with the reason, then a count per reason.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from anywhere

from sim.scenario.load import parse_scenario
from sim.scenario.workload import generate_workload
from sim.validation import cases
from workloads.errors import InputError
from workloads.models import get_model


def _default() -> str:
    """The calibration file next to the repository (../shared/calibration/)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "calibration" / "modern.yaml"
        if candidate.exists():
            return str(candidate)
    return "modern.yaml"

GPU = {"DGX-H100": "h100-sxm", "DGX-B200": "b200", "DGX-GB200": "gb200"}
PRESET = {"llama2_7b": "llama2-7b", "llama3_8b": "llama3-8b", "llama3_70b": "llama3-70b",
          "llama3.1_405b": "llama3-405b", "nemotron4_15b": "nemotron4-15b",
          "nemotron4_340b": "nemotron4-340b", "mixtral_8x7b": "mixtral-8x7b",
          "mixtral_8x22b": "mixtral-8x22b", "qwen3_30b_a3b": "qwen3-30b-a3b",
          "deepseek_v3": "deepseek-v3", "gpt3_175b": "gpt3-175b", "gpt3_5b": "gpt3-5b",
          "gpt3_20b": "gpt3-20b", "llama2_13b": "llama2-13b", "llama2_70b": "llama2-70b",
          "qwen3_235b_a22b": "qwen3-235b-a22b"}


def precision(text: str) -> str:
    p = text.upper()
    if "NVFP4" in p:
        return "nvfp4"
    if "PRECISION COLUMN ABSENT" in p:
        return "fp8"
    if "MX" in p or "BLOCKWISE" in p:
        return "mxfp8"
    return "fp8" if "FP8" in p else "bf16"


def nvlink_segment_gpus(gpus: int, gpus_per_tray: int = 4, trays: int = 18) -> int:
    """GPUs per NVLink domain of a GB200 NVL72 job as NVIDIA's performance
    scripts place it: Slurm ``--segment`` = all nodes when there are at most
    18 compute trays, else the largest divisor of the node count up to 18
    (Megatron-Bridge scripts/performance/utils/executors.py), each segment in
    one rack. 256 GPUs: 64 nodes in segments of 16 trays, 64 GPUs per domain."""
    nodes = -(-gpus // gpus_per_tray)
    if nodes <= trays:
        return nodes * gpus_per_tray
    return gpus_per_tray * next(s for s in range(trays, 0, -1) if nodes % s == 0)


def scenario(r: dict) -> tuple[dict | None, str | None]:
    """The scenario of row ``r``, or None and the reason it has none."""
    if r["system"] not in GPU:
        return None, f"hardware not modelled ({r['system']})"
    if r["model_key"] not in PRESET:
        return None, f"model not a preset ({r['model_key']})"
    missing = [k for k in ("gbs", "seq_len", "tp", "pp") if r.get(k) is None]
    if missing:
        return None, "layout or batch not printed (" + ", ".join(missing) + ")"
    if r.get("gbs") == 1 and r.get("mbs") == 64:     # known misprint (file header)
        r = {**r, "gbs": 64, "mbs": 1}
    if r.get("tokens_per_sec_per_gpu") is None:
        return None, "no tokens/s printed (only TFLOP/s, whose convention varies)"
    par = {"tp": r["tp"], "pp": r["pp"], "cp": r.get("cp") or 1,
           "zero": 3 if r.get("fsdp") else 1, "overlap_param_gather": True,
           "tp_comm_overlap": True, "sequence_parallel": r["tp"] > 1}
    if (r.get("vp") or 1) > 1:
        par.update(vpp=r["vp"], schedule="interleaved")
        # Megatron splits the layers evenly over pp * vp virtual stages; a split
        # that only works with the embedding and the loss counted as layers is
        # run with them counted (account_for_{embedding,loss}_in_pipeline_split)
        layers, stages = get_model(PRESET[r["model_key"]]).layers, r["pp"] * r["vp"]
        if layers % stages and not (layers + 2) % stages:
            par.update(account_for_embedding_in_pipeline_split=True,
                       account_for_loss_in_pipeline_split=True)
    if (r.get("ep") or 1) > 1:
        par["ep"] = r["ep"]
        dp_cp = r["gpus"] // (r["tp"] * r["pp"])
        if dp_cp % r["ep"]:            # EP spans TP ranks: MoE parallel folding, ETP 1
            par["etp"] = 1
    cluster = {"gpu": GPU[r["system"]], "gpus": r["gpus"]}
    if r["system"] == "DGX-GB200":
        cluster["gpus_per_node"] = nvlink_segment_gpus(r["gpus"])
    dtype = precision(r["precision"])
    if dtype == "mxfp8" and r["system"] == "DGX-H100":
        # H100 runs "blockwise" FP8 (1x128 / 128x128 scales) on its FP8 tensor
        # cores, the scales applied by the GEMM kernel; it has no MXFP8 format
        dtype = "fp8"
    # FP8 / MXFP8 recipes keep primary FP8 weights (fp8_param_gather); the
    # blockwise FP8 recipe does not (Megatron-Bridge mixed_precision.py)
    blockwise = "BLOCKWISE" in r["precision"].upper() and r["system"] == "DGX-H100"
    return {"name": f"row {r['id']}", "model": PRESET[r["model_key"]],
            "cluster": cluster, "parallelism": par,
            "training": {"global_batch": r["gbs"], "micro_batch": r.get("mbs") or 1,
                         "seq_len": r["seq_len"], "dtype": dtype,
                         "fp8_params": not blockwise}}, None


def validation_scenarios() -> dict[int, dict]:
    """Scenarios of the rows the modern validation suite reproduces, by row id
    (their recipe settings, e.g. recompute or optimizer dtype, are given there
    with sources)."""
    out = {}
    for case in cases("modern"):
        m = re.search(r"#(\d+)$", case.name)
        if m:
            out[int(m.group(1))] = case.scenario
    return out


def classify(rows: list[dict]) -> list[dict]:
    out = []
    known = validation_scenarios()
    for r in rows:
        scn, why = (dict(known[r["id"]]), None) if r["id"] in known else scenario(r)
        if scn is not None:
            try:
                generate_workload(parse_scenario(scn, scn["name"]))
            except InputError as e:
                why = str(e)
        out.append({"id": r["id"], "system": r["system"], "precision": r["precision"][:24],
                    "model": r["model_key"], "gpus": r["gpus"], "runs": why is None,
                    "reason": why})
    return out


KINDS = {"does not fit": "does not fit in HBM as modelled",
         "hardware not modelled": "hardware not modelled",
         "model not a preset": "model not a preset",
         "not printed": "layout or batch not printed",
         "no tokens/s": "no tokens/s printed",
         "exceeds the model": "pp * vpp exceeds the layers",
         "tensor cores": "precision the GPU lacks",
         "must divide tp * cp * dp": "ep larger than the tp * cp * dp ranks of a stage "
                                     "(layout as printed cannot exist)"}


def _kind(reason: str) -> str:
    for key, kind in KINDS.items():
        if key in reason:
            return kind
    return reason[:80]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=_default())
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = yaml.safe_load(Path(args.path).read_text())["rows"]
    result = classify(rows)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    blocked = [r for r in result if not r["runs"]]
    for r in blocked:
        print(f"row {r['id']:>4} {r['system'][:10]:<10} {r['model']:<24} {r['gpus']:>5}  "
              f"{r['reason'][:150]}")
    print(f"\n{len(result) - len(blocked)} of {len(result)} rows run; cannot run:")
    for kind, n in Counter(_kind(r["reason"]) for r in blocked).most_common():
        print(f"  {n:>4}  {kind}")


if __name__ == "__main__":
    main()
