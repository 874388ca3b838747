"""Validation against published measurements of real training runs.

The cases are data: ``sim/data/validation.yaml`` holds, per suite, the
published runs, the scenario that reproduces each (model, layout, batch,
precision) and the settings of their period (``settings``, merged under
every case of the suite: e.g. the A100 suite's Megatron-LM of 2021-22 ran
without FlashAttention and with fp32 gradients all-reduced after the
backward pass). Each case's measured figure becomes a step time by one
rule per kind (see the data file's header), and the simulated step time is
compared with it.

Suites and groups: ``a100`` (Megatron-LM SC'21, Korthikanti et al. 2022)
and ``modern`` (NeMo / Megatron-Core runs on H100, B200 and GB200 in BF16,
FP8, MXFP8 and NVFP4, from ``calibration/modern.yaml``), each case in one
group (``A100 2021-22``, ``H100 BF16``, ``H100 FP8``, ``B200``, ``GB200``,
``MoE``). The report gives MAPE and the worst row per group, for all rows,
for the rows used to fit ``compute.yaml`` (``fit: true``) and for the rows
held back. The compute efficiencies are one set per GPU type and precision
(``sim/data/compute.yaml``), never tuned per row.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from sim.scenario.execute import run_scenario
from sim.scenario.load import parse_scenario
from workloads.errors import InputError

SEQ_LEN = 2048
VOCAB = 51200
DATA = "data/validation.yaml"


@lru_cache(maxsize=1)
def validation_data() -> dict:
    return yaml.safe_load(resources.files("sim").joinpath(DATA).read_text())


@dataclass(frozen=True)
class Case:
    """One published measurement and the scenario that reproduces it."""

    name: str
    source: str
    scenario: dict
    measured_s: float
    suite: str = "a100"
    group: str = "A100 2021-22"
    fit: bool = True


def megatron_flops(B: int, l: int, h: int, s: int = SEQ_LEN, V: int = VOCAB) -> float:
    """FLOPs per iteration as counted by Narayanan et al. (SC'21), with recomputation."""
    return 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else copy.deepcopy(v)
    return out


def _seq_len(scn: dict) -> int:
    seq = scn["training"].get("seq_len")
    if seq is None and isinstance(scn["model"], dict):
        seq = scn["model"].get("seq_len")
    if seq is None:
        from workloads.models import get_model
        seq = get_model(scn["model"]).seq_len
    return int(seq)


def measured_step_s(measured: dict, scn: dict, where: str) -> float:
    """The step time a case's published figure stands for (rules in the data file)."""
    gpus = scn["cluster"]["gpus"]
    tr = scn["training"]
    if "iteration_s" in measured:
        return float(measured["iteration_s"])
    if "megatron_tflops_per_gpu" in measured:
        m = scn["model"]
        flops = megatron_flops(tr["global_batch"], m["layers"], m["hidden"], m["seq_len"],
                               m["vocab"])
        return flops / (gpus * measured["megatron_tflops_per_gpu"] * 1e12)
    if "causal_model_tflops_per_gpu" in measured:
        from workloads.models import get_model, model_flops_per_token
        seq = _seq_len(scn)
        flops = model_flops_per_token(get_model(scn["model"]), seq,
                                      causal_attention_flop_fraction=0.5)
        return tr["global_batch"] * seq * flops / (
            gpus * measured["causal_model_tflops_per_gpu"] * 1e12)
    if "tokens_per_s_per_gpu" in measured:
        return tr["global_batch"] * _seq_len(scn) / (measured["tokens_per_s_per_gpu"] * gpus)
    raise InputError("expected iteration_s, megatron_tflops_per_gpu, "
                     "causal_model_tflops_per_gpu or tokens_per_s_per_gpu",
                     file=DATA, field=f"{where}.measured", value=measured)


def cases(suite: str | None = None) -> list[Case]:
    """Every validation case (of ``suite`` if given), in data-file order."""
    data = validation_data()
    if suite is not None and suite not in data["suites"]:
        raise InputError(f"unknown suite (known: {', '.join(data['suites'])})",
                         field="--suite", value=suite)
    out = []
    for sname, s in data["suites"].items():
        if suite is not None and sname != suite:
            continue
        for i, c in enumerate(s["cases"]):
            scn = _merge(s.get("settings") or {}, c["scenario"])
            scn["name"] = c["name"]
            out.append(Case(c["name"], c["source"], scn,
                            measured_step_s(c["measured"], scn, f"suites.{sname}.cases[{i}]"),
                            sname, c["group"], bool(c.get("fit", False))))
    return out


# run cases of the same job one after another (trace generated once);
# False: in data-file order (the reference the reordering is compared with)
JOB_ORDER = True
# cases with the same scenario share one simulation; False: each simulated
# (the reference the sharing is compared with)
SHARE_RUNS = True


def run_case(case: Case, runs: dict | None = None) -> dict:
    """Simulate one case; a case the model cannot run (e.g. its layout does
    not fit in memory as modelled) is reported with the reason, not raised.

    ``runs``: results of scenarios simulated before, by :func:`scenario_key`;
    a case whose scenario is among them (another published run of the same
    configuration) takes that result instead of simulating it again — the
    simulation is deterministic, so the row is the same; ``sim_wall_s`` is
    that of the one simulation."""
    label = f"validation case '{case.name}'"
    key = scenario_key(case) if runs is not None else None
    try:
        scn = parse_scenario(dict(case.scenario), label)
        res = runs.get(key) if runs is not None else None
        if res is None:
            res = run_scenario(scn, label=label).result
            if runs is not None:
                runs[key] = res
    except InputError as e:
        sc = case.scenario
        return {"name": case.name, "source": case.source, "suite": case.suite,
                "group": case.group, "fit": case.fit, "gpus": sc["cluster"].get("gpus"),
                "gpu": sc["cluster"].get("gpu"), "dtype": sc["training"].get("dtype", "bf16"),
                "measured_s": case.measured_s, "predicted_s": None, "error": None,
                "mfu": None, "cannot_run": str(e)}
    predicted = res["step_time_s"]
    err = (predicted - case.measured_s) / case.measured_s
    return {"name": case.name, "source": case.source, "suite": case.suite,
            "group": case.group, "fit": case.fit, "gpus": res["gpus"],
            "gpu": scn.cluster.gpu, "dtype": scn.training.dtype,
            "measured_s": case.measured_s, "predicted_s": predicted, "error": err,
            "mfu": res["mfu"], "sim_wall_s": res["sim"]["wall_s"]}


def scenario_key(case: Case) -> str:
    """The case's scenario apart from its name (equal keys simulate alike)."""
    return json.dumps({k: v for k, v in case.scenario.items() if k != "name"},
                      sort_keys=True, default=repr)


def _mape(rows: list[dict]) -> float | None:
    return sum(abs(r["error"]) for r in rows) / len(rows) if rows else None


def _worst(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    w = max(rows, key=lambda r: abs(r["error"]))
    return {"name": w["name"], "error": w["error"]}


def summarise(rows: list[dict]) -> dict:
    """MAPE and worst row per group: all rows, fitted rows, held-back rows;
    rows that cannot run are counted apart (``cannot_run``)."""
    groups: dict[str, dict] = {}
    for g in dict.fromkeys(r["group"] for r in rows):
        blocked = [r for r in rows if r["group"] == g and r.get("error") is None]
        rs = [r for r in rows if r["group"] == g and r.get("error") is not None]
        if not rs:
            groups[g] = {"suite": blocked[0]["suite"], "cases": 0, "mape": None,
                         "worst": None, "fit": {"cases": 0, "mape": None, "worst": None},
                         "held_back": {"cases": 0, "mape": None, "worst": None},
                         "cannot_run": len(blocked)}
            continue
        fit = [r for r in rs if r["fit"]]
        held = [r for r in rs if not r["fit"]]
        groups[g] = {"suite": rs[0]["suite"], "cases": len(rs), "mape": _mape(rs),
                     "worst": _worst(rs), "fit": {"cases": len(fit), "mape": _mape(fit),
                                                  "worst": _worst(fit)},
                     "held_back": {"cases": len(held), "mape": _mape(held),
                                   "worst": _worst(held)},
                     "cannot_run": len(blocked)}
    return groups


def _job_order(todo: list[Case]) -> list[int]:
    """Case positions with cases of the same job (same generated trace)
    brought together, each group where its first case stands; rows are still
    reported in ``todo``'s order. The trace of consecutive runs of one job is
    generated once (see ``sim.scenario.workload.TRACE_MEMO``)."""
    from sim.scenario.workload import trace_key
    first: dict = {}
    group = []
    for i, case in enumerate(todo):
        try:
            scn = parse_scenario(dict(case.scenario), f"validation case '{case.name}'")
            key = trace_key(scn.job, scn.parallelism.placement_order)
            hash(key)
        except Exception:           # reported by run_case; runs on its own
            key = ("case", i)
        group.append(first.setdefault(key, i))
    return sorted(range(len(todo)), key=lambda i: (group[i], i))


def validate(selected: list[Case] | None = None, progress=None) -> dict:
    todo = list(selected if selected is not None else cases())
    done: dict[int, dict] = {}
    runs: dict | None = {} if SHARE_RUNS else None
    for i in _job_order(todo) if JOB_ORDER else range(len(todo)):
        done[i] = run_case(todo[i], runs)
        if progress is not None:
            progress(done[i])
    rows = [done[i] for i in range(len(todo))]
    mape = _mape([r for r in rows if r.get("error") is not None])
    gpus = sorted({r["gpu"] for r in rows})
    return {"mape": mape, "rows": rows,
            "gpu": ", ".join(gpus), "groups": summarise(rows)}
