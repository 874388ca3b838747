"""The collective model against published nccl-tests results it was not fitted on."""
import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = yaml.safe_load((ROOT / "sim" / "data" / "nccl_tests.yaml").read_text())


def _calibrate():
    spec = importlib.util.spec_from_file_location(
        "calibrate_collectives", ROOT / "benchmarks" / "calibrate_collectives.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tolerance(nbytes: float) -> float:
    tol = DATA["tolerance"]
    if nbytes < tol["latency_bound_below_bytes"]:
        return tol["latency_bound_rel"]
    if nbytes >= tol["bandwidth_bound_from_bytes"]:
        return tol["bandwidth_bound_rel"]
    return tol["mid_size_rel"]


def test_every_row_names_a_known_source_and_use():
    for row in DATA["rows"]:
        assert row["source"] in DATA["sources"]
        assert row["use"] in ("fit", "check", "peak", "gap")
        assert ("time_us" in row) != ("busbw_gb_s" in row)
    uses = [r["use"] for r in DATA["rows"]]
    assert uses.count("check") >= 5 and uses.count("fit") >= 5


@pytest.mark.parametrize("row", [r for r in DATA["rows"] if r["use"] == "check"],
                         ids=lambda r: f"{r['system']}-{r['gpus']}-{r['bytes']}")
def test_held_back_rows_within_their_stated_tolerance(row):
    cal = _calibrate()
    pred, used = cal.predict(row)
    meas = cal.measured(row)
    assert pred == pytest.approx(meas, rel=_tolerance(row["bytes"])), used


@pytest.mark.parametrize("row", [r for r in DATA["rows"] if r["use"] == "peak"],
                         ids=lambda r: f"{r['system']}-{r['gpus']}-{r.get('algorithm', 'auto')}")
def test_peak_bandwidths_within_5_percent(row):
    cal = _calibrate()
    pred, _ = cal.predict(row)
    assert pred == pytest.approx(cal.measured(row), rel=0.05)
