"""FP8 against BF16: simulated speed-up for three models on H100 and B200,
next to the published ratios.

    nice -n 10 python benchmarks/precision_table.py [--json]

Each model runs with the same layout in BF16 and in FP8 (Megatron-Core /
Transformer Engine recipe: layer GEMMs in FP8, attention in BF16); the table
prints tokens/s per GPU of both and their ratio. Published ratios, from
../shared/calibration/modern.yaml: Llama 3 8B on 8 H100 with the same recipe
(torchtitan, FSDP + torch.compile), 6,667 tokens/s/GPU in BF16 against
8,532 in FP8 = 1.28x; NeMo's FP8 recipes 1.3-1.5x.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from anywhere

from sim.scenario.execute import run_scenario
from sim.scenario.load import parse_scenario

MODELS = {
    # model: (gpus, parallelism, training)
    "llama3-8b": (8, {"dp": 8, "zero": 3},
                  {"global_batch": 128, "micro_batch": 1, "seq_len": 8192}),
    "llama3-70b": (64, {"tp": 4, "pp": 8, "vpp": 5, "schedule": "interleaved",
                        "sequence_parallel": True, "zero": 1},
                   {"global_batch": 128, "micro_batch": 1, "seq_len": 8192}),
    "nemotron4-15b": (64, {"tp": 2, "sequence_parallel": True, "zero": 1},
                      {"global_batch": 256, "micro_batch": 2, "seq_len": 4096}),
}
PUBLISHED = {"llama3-8b": "1.28x (torchtitan, 8 H100); NeMo 1.3-1.5x",
             "llama3-70b": "NeMo 1.3-1.5x", "nemotron4-15b": "NeMo 1.3-1.5x"}


def tokens_per_gpu(model: str, gpu: str, dtype: str) -> float:
    gpus, par, tr = MODELS[model]
    scn = parse_scenario({"name": f"{model}-{gpu}-{dtype}", "model": model,
                    "cluster": {"gpu": gpu, "gpus": gpus}, "parallelism": par,
                    "training": {**tr, "dtype": dtype}}, model)
    r = run_scenario(scn).result
    return r["tokens_per_s"] / r["gpus"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    for gpu in ("h100-sxm", "b200"):
        for model in MODELS:
            bf16 = tokens_per_gpu(model, gpu, "bf16")
            fp8 = tokens_per_gpu(model, gpu, "fp8")
            rows.append({"gpu": gpu, "model": model, "gpus": MODELS[model][0],
                         "bf16_tokens_per_s_per_gpu": bf16, "fp8_tokens_per_s_per_gpu": fp8,
                         "ratio": fp8 / bf16, "published": PUBLISHED[model]})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'gpu':<10}{'model':<15}{'gpus':>5}{'BF16 tok/s/GPU':>16}{'FP8 tok/s/GPU':>15}"
          f"{'FP8/BF16':>10}  published")
    for r in rows:
        print(f"{r['gpu']:<10}{r['model']:<15}{r['gpus']:>5}{r['bf16_tokens_per_s_per_gpu']:>16,.0f}"
              f"{r['fp8_tokens_per_s_per_gpu']:>15,.0f}{r['ratio']:>9.2f}x  {r['published']}")


if __name__ == "__main__":
    main()
