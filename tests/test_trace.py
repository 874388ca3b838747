"""Trace format: parsing, validation errors that name the field, round trip."""
import json

import pytest

from workloads import trace as tf
from workloads.errors import InputError

GOOD = {"world_size": 2, "groups": {"w": [[0, 1]]}, "programs": [{"ranks": [0, 1], "ops": [
    {"id": "a", "kind": "compute", "flops": 1e9, "bytes": 1e6},
    {"id": "b", "kind": "all_reduce", "group": "w", "bytes": 4096, "deps": ["a"]}]}]}


def bad(mutate):
    d = json.loads(json.dumps(GOOD))
    mutate(d)
    return d


def test_round_trip():
    t = tf.from_json(GOOD)
    again = tf.from_json(json.loads(json.dumps(t.to_json())))
    assert again.to_json() == t.to_json()
    assert again.programs[0].ops[1].stream == "comm"


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["programs"][0]["ops"][0].update(kind="matmul"), "programs[0].ops[0].kind"),
    (lambda d: d["programs"][0]["ops"][0].update(colour="red"), "programs[0].ops[0].colour"),
    (lambda d: d["programs"][0]["ops"][1].update(deps=["zz"]), "programs[0].ops[1].deps"),
    (lambda d: d["programs"][0]["ops"][1].update(group="tp"), "programs[0].ops[1].group"),
    (lambda d: d["programs"][0]["ops"][1].update(id="a"), "programs[0].ops[1].id"),
    (lambda d: d["programs"][0]["ops"][0].update(flops=-1), "programs[0].ops[0].flops"),
    (lambda d: d.update(world_size=3), "programs"),
    (lambda d: d.update(placement=[0, 0]), "placement"),
    (lambda d: d["programs"][0]["ops"].append(
        {"id": "s", "kind": "send", "peer": 1, "bytes": 1}), "programs[0].ops[2].peer"),
    (lambda d: d.update(extra=1), "extra"),
])
def test_errors_name_the_field(mutate, field):
    with pytest.raises(InputError) as e:
        tf.from_json(bad(mutate), "t.json")
    assert e.value.field == field and "t.json" in str(e.value)


def test_cycle_is_named():
    def make_cycle(d):
        d["programs"][0]["ops"][0]["deps"] = ["b"]
    with pytest.raises(InputError, match="dependency cycle.*a -> b -> a|b -> a -> b"):
        tf.from_json(bad(make_cycle))


def test_cycle_through_stream_order():
    def make(d):
        ops = d["programs"][0]["ops"]
        ops[1]["stream"] = "compute"       # b now runs after a on the same stream
        ops[0]["deps"] = ["b"]            # ... but a waits for b
    with pytest.raises(InputError, match="cycle"):
        tf.from_json(bad(make))


def test_load_reports_json_syntax_errors(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"world_size": 2,,}')
    with pytest.raises(InputError, match=r"broken.json: invalid JSON at line 1"):
        tf.load(p)


def test_group_peer_resolution():
    t = tf.from_json({"world_size": 3, "groups": {"pp": [[0, 1, 2]]}, "programs": [
        {"ranks": [0, 1, 2], "ops": [{"id": "s", "kind": "send", "bytes": 1,
                                      "peer": {"group": "pp", "offset": 1}}]}]})
    peer = t.programs[0].ops[0].peer
    assert [peer.resolve(r, t) for r in range(3)] == [1, 2, 0]


@pytest.mark.parametrize("seed", range(5))
def test_peer_resolve_by_position_table_equals_list_search(seed):
    """Group peers resolved through the per-family position table land on the
    rank a search of the member list gives, for every offset."""
    import numpy as np
    from workloads.trace import Peer, Trace
    rng = np.random.default_rng(seed)
    world = 48
    ranks = [int(r) for r in rng.permutation(world)]
    sizes = [2, 3, 4, 6, 8]
    groups, at = {}, 0
    lists = []
    while at < world:
        size = min(int(rng.choice(sizes)), world - at)
        lists.append(ranks[at:at + size])
        at += size
    groups["pp"] = lists
    tr = Trace(world_size=world, programs=[], groups=groups)
    for rank in range(world):
        members = tr.member_list("pp", rank)
        for offset in (-3, -1, 0, 1, 2, 7):
            want = members[(members.index(rank) + offset) % len(members)]
            assert Peer(group="pp", offset=offset).resolve(rank, tr) == want
    assert Peer(rank=5).resolve(0, tr) == 5
