"""Validation cases against the published runs, and the validate command."""
import json

import pytest

import sim.commands.validate as validate_cmd
from sim.cli import main
from sim.validation import cases, megatron_flops, run_case


def test_cases_cover_both_papers():
    cs = cases()
    assert len(cs) == 11
    assert {c.source for c in cs} == {"megatron_sc21", "korthikanti_2022"}


def test_megatron_measured_time_follows_the_papers_flop_formula():
    c = next(c for c in cases() if c.name == "gpt-1.7b sc21")
    h, l, s, V, B = 2304, 24, 2048, 51200, 512
    F = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
    assert megatron_flops(B, l, h) == pytest.approx(F)
    assert c.measured_s == pytest.approx(F / (32 * 137e12))
    assert c.scenario["parallelism"]["recompute"] == "full"
    assert c.scenario["training"]["flash_attention"] is False


@pytest.mark.parametrize("name", ["gpt-1.7b sc21", "gpt-7.5b sc21", "gpt-22b full",
                                  "gpt-22b seqsel"])
def test_small_cases_predict_within_ten_percent(name):
    row = run_case(next(c for c in cases() if c.name == name))
    assert abs(row["error"]) < 0.10, row
    assert row["predicted_s"] > 0 and 0 < row["mfu"] < 1


def test_validate_json_reports_rows_and_mape(monkeypatch, capsys):
    subset = [c for c in cases() if c.name in ("gpt-22b full", "gpt-22b seqsel")]
    monkeypatch.setattr(validate_cmd, "cases", lambda: subset)
    assert main(["validate", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["rows"]) == 2
    assert out["mape"] == pytest.approx(sum(abs(r["error"]) for r in out["rows"]) / 2)
