"""Validation runs cases of one job together and generates its trace once;
rows are the same, in the same order, as running every case afresh in
data-file order (the reference switches ``JOB_ORDER`` and ``TRACE_MEMO``)."""
import sim.scenario.workload as workload
import sim.validation as validation
from sim.scenario.load import parse_scenario
from sim.validation import cases, validate


def _by_name(*names):
    every = {c.name: c for c in cases("modern")}
    return [every[n] for n in names]


# two cases of one job (llama3_8b mxfp8, on b200 and on gb200) with another
# job's case between them
PICK = ("llama3_8b 8xb200 mxfp8 #191", "llama3_8b 8xb200 fp8 #41",
        "llama3_8b 8xgb200 mxfp8 #182")


def _rows(report):
    return [{k: v for k, v in r.items() if k != "sim_wall_s"} for r in report["rows"]]


def test_cases_of_one_job_run_together_rows_keep_their_order():
    todo = _by_name(*PICK)
    assert validation._job_order(todo) == [0, 2, 1]
    keys = [workload.trace_key(s.job, s.parallelism.placement_order)
            for s in (parse_scenario(dict(c.scenario), c.name) for c in todo)]
    assert keys[0] == keys[2] != keys[1]


def test_job_order_and_trace_memo_give_the_reference_rows(monkeypatch):
    todo = _by_name(*PICK)
    seen = []
    fast = validate(todo, progress=lambda row: seen.append(row["name"]))
    assert seen == [PICK[0], PICK[2], PICK[1]]
    monkeypatch.setattr(validation, "JOB_ORDER", False)
    monkeypatch.setattr(workload, "TRACE_MEMO", False)
    seen.clear()
    ref = validate(todo, progress=lambda row: seen.append(row["name"]))
    assert seen == list(PICK)
    assert [r["name"] for r in fast["rows"]] == list(PICK)
    assert all(r["predicted_s"] is not None for r in fast["rows"])
    assert _rows(fast) == _rows(ref)
    assert fast["mape"] == ref["mape"] and fast["groups"] == ref["groups"]


def test_trace_memo_reuses_the_trace_of_the_same_job_only(monkeypatch):
    a, b, c = (parse_scenario(dict(x.scenario), x.name) for x in _by_name(*PICK))
    t_a, _ = workload.generate_workload(a)
    t_c, _ = workload.generate_workload(c)       # same job, other cluster
    assert t_c is t_a
    t_b, _ = workload.generate_workload(b)       # another job: generated
    assert t_b is not t_a
    monkeypatch.setattr(workload, "TRACE_MEMO", False)
    fresh, _ = workload.generate_workload(a)
    assert fresh is not t_a
    assert fresh.world_size == t_a.world_size
    assert [p.ops for p in fresh.programs] == [p.ops for p in t_a.programs]


def test_cases_of_one_scenario_share_a_run_with_the_reference_rows(monkeypatch):
    # two published runs of one configuration (same scenario, own measurements)
    every = cases("modern")
    keys = [validation.scenario_key(c) for c in every]
    i = next(i for i, k in enumerate(keys) if keys.count(k) > 1
             and every[i].name.startswith("llama3_8b"))
    j = keys.index(keys[i], i + 1)
    todo = [every[i], every[j]]
    assert todo[0].measured_s != todo[1].measured_s
    runs = {}
    shared = [validation.run_case(c, runs) for c in todo]
    assert list(runs) == [keys[i]]                 # simulated once
    monkeypatch.setattr(validation, "SHARE_RUNS", False)
    ref = validate(todo)
    assert [{k: v for k, v in r.items() if k != "sim_wall_s"} for r in shared] == _rows(ref)
    assert shared[0]["predicted_s"] == shared[1]["predicted_s"]
    assert shared[0]["error"] != shared[1]["error"]
