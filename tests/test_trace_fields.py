"""Every trace field is type-checked and bounded; cycles are found with graphlib."""
import json

import pytest

from workloads import trace as tf
from workloads.errors import InputError

GOOD = {"world_size": 2, "groups": {"w": [[0, 1]]}, "programs": [{"ranks": [0, 1], "ops": [
    {"id": "a", "kind": "compute", "flops": 1e9, "bytes": 1e6, "category": "gemm"},
    {"id": "b", "kind": "all_reduce", "group": "w", "bytes": 4096, "deps": ["a"]}]}]}


def with_(path, value):
    d = json.loads(json.dumps(GOOD))
    node = d
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return d


OP0, OP1 = ["programs", 0, "ops", 0], ["programs", 0, "ops", 1]


@pytest.mark.parametrize("path, value, field, message", [
    (OP0 + ["category"], ["gemm"], "programs[0].ops[0].category", "unknown category"),
    (OP0 + ["category"], "bogus", "programs[0].ops[0].category", "unknown category"),
    (OP1 + ["algorithm"], ["ring"], "programs[0].ops[1].algorithm", "expected a string"),
    (OP1 + ["group"], {"a": 1}, "programs[0].ops[1].group", "expected a string"),
    (OP0 + ["stream"], 7, "programs[0].ops[0].stream", "expected a string"),
    (OP0 + ["id"], [1], "programs[0].ops[0].id", "expected a string or an integer"),
    (OP0 + ["layer"], {"x": 1}, "programs[0].ops[0].layer", "expected a string"),
    (OP1 + ["deps"], "a", "programs[0].ops[1].deps", "must be a list"),
    (OP1 + ["deps"], [["a"]], "programs[0].ops[1].deps", "expected a string"),
    (OP0 + ["flops"], "1e9", "programs[0].ops[0].flops", "non-negative finite number"),
    (OP0 + ["flops"], 1e308, "programs[0].ops[0].flops", "more than 1e+24"),
    (OP1 + ["bytes"], 1e30, "programs[0].ops[1].bytes", "more than"),
    (OP0 + ["kind"], ["compute"], "programs[0].ops[0].kind", "unknown op kind"),
    (["meta"], [1, 2], "meta", "must be an object, got list"),
    (["meta"], "abc", "meta", "must be an object, got str"),
    (["meta"], {"tokens_per_step": "abc"}, "meta.tokens_per_step", "positive finite number"),
    (["meta"], {"tokens_per_step": -5}, "meta.tokens_per_step", "positive finite number"),
    (["meta"], {"memory_gb_per_gpu": [1]}, "meta.memory_gb_per_gpu", "finite number"),
    (["name"], {"a": 1}, "name", "expected a string"),
    (["world_size"], 10**9, "world_size", "more than 131072"),
    (["world_size"], 2.5, "world_size", "positive finite integer"),
    (["placement"], [0, 10**9], "placement[1]", "more than 131071 (GPU index"),
    (["programs", 0, "ranks"], "01", "programs[0].ranks", "must be a list"),
    (["programs", 0, "ops"], {"a": 1}, "programs[0].ops", "must be a list"),
])
def test_bad_fields_are_named_with_the_reason(path, value, field, message):
    with pytest.raises(InputError) as e:
        tf.from_json(with_(path, value), "t.json")
    assert e.value.field == field and message in str(e.value)
    assert str(e.value).startswith("t.json: ") and "\n" not in str(e.value)


def test_known_fields_within_limits_are_accepted():
    t = tf.from_json(with_(["meta"], {"tokens_per_step": 4096, "note": {"free": ["form"]}}))
    assert t.meta["tokens_per_step"] == 4096
    renamed = with_(OP0 + ["id"], 5)
    renamed["programs"][0]["ops"][1]["deps"] = [5]
    assert tf.from_json(renamed).programs[0].ops[1].deps == ("5",)
    assert tf.from_json(with_(OP0 + ["flops"], tf.MAX_OP_FLOPS)).programs[0].ops[0].flops == 1e24


def test_cycle_names_ops_in_dependency_order():
    ops = [tf.Op(id="x", kind="compute", stream="s1", deps=("z",)),
           tf.Op(id="y", kind="compute", stream="s2", deps=("x",)),
           tf.Op(id="z", kind="compute", stream="s3", deps=("y",))]
    cycle = tf.find_cycle(ops)
    assert cycle[0] == cycle[-1] and set(cycle) == {"x", "y", "z"} and len(cycle) == 4
    # each op depends on the one before it in the cycle
    by_id = {o.id: o for o in ops}
    assert all(a in by_id[b].deps for a, b in zip(cycle, cycle[1:]))
    ops[0].deps = ()
    assert tf.find_cycle(ops) is None


def test_cycle_through_stream_order_is_found():
    ops = [tf.Op(id="p", kind="compute", stream="s", deps=("q",)),
           tf.Op(id="q", kind="compute", stream="s")]          # q after p in stream s
    assert tf.find_cycle(ops) in (["p", "q", "p"], ["q", "p", "q"])
