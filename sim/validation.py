"""Validation against published measurements of real training runs.

Every row of ``sim/data/published.yaml`` (a copy of the calibration file,
with its sources) becomes a scenario: the paper's model, its parallel layout
and batch on DGX A100 80GB nodes joined by HDR InfiniBand (Selene). The
simulated iteration time is compared with the measured one:

* Megatron-LM SC'21 Table 1 reports TFLOP/s per GPU counted with the paper's
  formula F = 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) per iteration, so the
  measured iteration time is F / (gpus * tflops_per_gpu);
* Korthikanti et al. 2022 Table 5 reports iteration times directly, for full
  recomputation and for sequence parallelism + selective recomputation.

Both papers predate FlashAttention in Megatron-LM, so the cases run with
unfused attention (``training.flash_attention: false``), and with
Megatron-LM's local data parallelism of the time: fp32 gradient buffers
all-reduced after the backward pass (``training.grad_dtype: fp32``,
``parallelism.overlap_grad_reduce: false``). The compute
efficiencies used are the ones of ``sim/data/compute.yaml`` for
the A100 — one set for every row, never tuned per row.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from sim.scenario.load import validate as validate_scenario
from sim.scenario.runner import run_scenario

SEQ_LEN = 2048
VOCAB = 51200


@lru_cache(maxsize=1)
def published() -> dict:
    return yaml.safe_load(resources.files("sim").joinpath("data/published.yaml").read_text())


@dataclass(frozen=True)
class Case:
    """One published measurement and the scenario that reproduces it."""

    name: str
    source: str
    scenario: dict
    measured_s: float


def megatron_flops(B: int, l: int, h: int, s: int = SEQ_LEN, V: int = VOCAB) -> float:
    """FLOPs per iteration as counted by Narayanan et al. (SC'21), with recomputation."""
    return 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))


def _scenario(row: dict, recompute: str, sequence_parallel: bool, dtype: str) -> dict:
    h = row["hidden"]
    return {
        "name": row["name"],
        "model": {"layers": row["layers"], "hidden": h, "heads": row["heads"],
                  "ffn_hidden": 4 * h, "vocab": VOCAB, "seq_len": SEQ_LEN},
        "cluster": {"gpu": "a100-80gb", "gpus": row["gpus"]},
        "parallelism": {"tp": row["tp"], "pp": row["pp"],
                        "dp": row["gpus"] // (row["tp"] * row["pp"]), "vpp": row["vpp"],
                        "schedule": "interleaved" if row["vpp"] > 1 else "1f1b",
                        "recompute": recompute, "sequence_parallel": sequence_parallel,
                        "overlap_grad_reduce": False},
        "training": {"global_batch": row["global_batch"], "micro_batch": row["micro_batch"],
                     "dtype": dtype, "grad_dtype": "fp32", "flash_attention": False},
    }


def cases() -> list[Case]:
    data = published()
    out = []
    for row in data["megatron_sc21_table1"]:
        flops = megatron_flops(row["global_batch"], row["layers"], row["hidden"])
        measured = flops / (row["gpus"] * row["tflops_per_gpu"] * 1e12)
        out.append(Case(f"{row['name']} sc21", "megatron_sc21",
                        _scenario(row, "full", False, "fp16"), measured))
    for row in data["korthikanti_table5"]:
        for variant, (recompute, sp) in (("full", ("full", False)),
                                         ("seqsel", ("selective", True))):
            out.append(Case(f"{row['name']} {variant}", "korthikanti_2022",
                            _scenario(row, recompute, sp, "fp16"),
                            row["iteration_s"][variant]))
    return out


def run_case(case: Case) -> dict:
    scn = validate_scenario(dict(case.scenario), f"validation case '{case.name}'")
    res = run_scenario(scn).result
    predicted = res["step_time_s"]
    err = (predicted - case.measured_s) / case.measured_s
    return {"name": case.name, "source": case.source, "gpus": res["gpus"],
            "measured_s": case.measured_s, "predicted_s": predicted, "error": err,
            "mfu": res["mfu"], "sim_wall_s": res["sim"]["wall_s"]}


def validate(selected: list[Case] | None = None, progress=None) -> dict:
    rows = []
    for case in selected if selected is not None else cases():
        rows.append(run_case(case))
        if progress is not None:
            progress(rows[-1])
    mape = sum(abs(r["error"]) for r in rows) / len(rows) if rows else float("nan")
    return {"mape": mape, "rows": rows, "gpu": "a100-80gb"}
