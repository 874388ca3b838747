"""Sweep files: validation, point expansion, override round trip, ranking, table."""
import itertools

import pytest
import yaml

from sim.scenario.load import apply_overrides
from sim.sweep import best_record, expand_points, load_sweep, parse_sweep, rank_direction, \
    table_text
from sim.sweep.spec import point_key, yaml_value
from workloads.errors import InputError


def test_grid_zip_seeds_expand_in_nesting_order():
    spec = parse_sweep({"base": "default", "set": {"training.global_batch": 512},
                        "grid": {"parallelism.tp": [2, 4, 8], "parallelism.pp": [4, 8]},
                        "zip": {"parallelism.schedule": ["1f1b", "interleaved"],
                                "parallelism.vpp": [1, 2]},
                        "seeds": [0, 1]})
    points = expand_points(spec)
    assert len(points) == 3 * 2 * 2 * 2
    assert [p.index for p in points] == list(range(len(points)))
    expected = [(tp, pp, sched, vpp, seed) for tp, pp in itertools.product([2, 4, 8], [4, 8])
                for sched, vpp in [("1f1b", 1), ("interleaved", 2)] for seed in [0, 1]]
    got = [(p.varied["parallelism.tp"], p.varied["parallelism.pp"],
            p.varied["parallelism.schedule"], p.varied["parallelism.vpp"], p.seed)
           for p in points]
    assert got == expected
    assert all(p.overrides["training.global_batch"] == 512 for p in points)
    assert "training.global_batch" not in points[0].varied
    assert len({p.key for p in points}) == len(points)
    assert spec.varied_keys() == ["parallelism.tp", "parallelism.pp", "parallelism.schedule",
                                  "parallelism.vpp"]


def test_no_grid_is_one_point_of_the_base():
    points = expand_points(parse_sweep({"base": "default"}))
    assert len(points) == 1 and points[0].overrides == {} and points[0].seed is None


def test_point_key_ignores_index_and_key_order():
    assert point_key({"a": 1, "b": 2}, 0) == point_key({"b": 2, "a": 1}, 0)
    assert point_key({"a": 1}, 0) != point_key({"a": 1}, 1)
    assert point_key({"a": 1}, None) != point_key({"a": "1"}, None)


@pytest.mark.parametrize("value", [4, 1e20, 3.5e11, 0.1, "1f1b", "null", "yes", "8", None,
                                   True, [1, 2], {"experts": 8, "top_k": 2}, "a b: c"])
def test_overrides_round_trip_through_set_syntax(value):
    spec = parse_sweep({"grid": {"x.y": [value]}})
    (arg,) = expand_points(spec)[0].set_args()
    assert arg == f"x.y={yaml_value(value)}"
    assert apply_overrides({}, [arg]) == {"x": {"y": value}}
    assert yaml.safe_load(yaml_value(value)) == value


@pytest.mark.parametrize("data, field, needle", [
    ({"grid": {"parallelism.tp": [1]}, "gird": {}}, "gird", "unknown key"),
    ({"grid": {"parallelism.tp": []}}, "grid", "at least one value"),
    ({"grid": {"parallelism.tp": 4}}, "grid.parallelism.tp", "list"),
    ({"zip": {"a": [1, 2], "b": [1]}}, "(top)", "equal lengths"),
    ({"set": {"a": 1}, "grid": {"a": [1, 2]}}, "(top)", "both 'set' and 'grid'"),
    ({"seeds": [1, 1]}, "seeds", "distinct"),
    ({"metrics": []}, "metrics", "at least 1"),
])
def test_bad_sweeps_name_file_field_and_value(data, field, needle):
    with pytest.raises(InputError) as e:
        parse_sweep(data, "s.yaml")
    assert e.value.file == "s.yaml" and e.value.field == field
    assert needle in str(e.value)


def test_unknown_key_error_shows_the_value():
    with pytest.raises(InputError) as e:
        parse_sweep({"metric": ["mfu"]}, "s.yaml")
    assert str(e.value) == "s.yaml: metric = ['mfu']: unknown key"


def test_load_sweep_file_errors(tmp_path):
    with pytest.raises(InputError, match="cannot read sweep file"):
        load_sweep(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {a: [1, 2]\n")
    with pytest.raises(InputError, match="invalid YAML: line"):
        load_sweep(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="mapping"):
        load_sweep(lst)


@pytest.mark.parametrize("rank_by, expected", [
    ("mfu", ("mfu", "max")), ("tokens_per_s", ("tokens_per_s", "max")),
    ("step_time_s", ("step_time_s", "min")), ("memory_gb_per_gpu", ("memory_gb_per_gpu", "min")),
    ("reliability.goodput_fraction", ("reliability.goodput_fraction", "max")),
    ("reliability.time_to_train_days", ("reliability.time_to_train_days", "min")),
    ("reliability.wasted_gpu_hours.total", ("reliability.wasted_gpu_hours.total", "min")),
    ("min:mfu", ("mfu", "min")), ("max:step_time_s", ("step_time_s", "max")),
])
def test_rank_direction(rank_by, expected):
    assert rank_direction(rank_by) == expected


def _rec(i, status="ok", **result):
    return {"index": i, "status": status, "varied": {"k": i}, "seed": None,
            "result": result if status == "ok" else None, "error": None if status == "ok"
            else "cluster.gpus = 16: bad layout"}


def test_best_record_by_direction_ties_and_missing_values():
    recs = [_rec(0, mfu=0.3, step_time_s=2.0), _rec(1, "error"), _rec(2, mfu=0.5, step_time_s=1.0),
            _rec(3, mfu=0.5, step_time_s=3.0), _rec(4, mfu=None, step_time_s=0.5)]
    assert best_record(recs, "mfu")["index"] == 2          # tie with #3: lowest index
    assert best_record(recs, "step_time_s")["index"] == 4
    assert best_record(recs, "min:mfu")["index"] == 0
    assert best_record(recs, "reliability.goodput_fraction") is None
    assert best_record([_rec(0, "error")], "mfu") is None


def test_table_aligns_metrics_and_shows_errors():
    recs = [_rec(1, "error"), _rec(0, mfu=0.123456, step_time_s=2.0)]
    lines = table_text(recs, ["k"], ["mfu", "step_time_s"]).splitlines()
    assert lines[0].split() == ["#", "k", "status", "mfu", "step_time_s"]
    assert lines[1].split() == ["0", "0", "ok", "0.1235", "2"]
    assert lines[2].split()[:3] == ["1", "1", "error"] and "bad layout" in lines[2]
    assert lines[0].index("mfu") == lines[1].index("0.1235")
    many = table_text([_rec(i, mfu=0.1) for i in range(5)], ["k"], ["mfu"], max_rows=3)
    assert many.splitlines()[-1] == "... 2 more rows in results.csv"
