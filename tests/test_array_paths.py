"""Array (bulk) code paths give exactly what their one-at-a-time references give."""
from itertools import permutations

import pytest

from workloads.generate import ranks
from workloads.generate.ranks import DIMS, RankGrid

FAMILIES = [(d,) for d in DIMS] + [("dp", "cp"), ("tp", "cp", "dp"), (), DIMS]


@pytest.mark.parametrize("sizes", [(1, 1, 1, 1), (2, 3, 1, 4), (8, 2, 3, 2), (4, 1, 5, 3)])
def test_rank_families_from_arrays_equal_the_reference(sizes):
    for order in permutations(DIMS):
        grid = RankGrid(dict(zip(DIMS, sizes)), order)
        for varying in FAMILIES:
            fast = grid.family(varying)
            assert fast == grid._family_reference(varying), (order, varying)
            assert all(type(r) is int for ms in fast for r in ms)


def test_rank_groups_from_arrays_equal_the_reference(monkeypatch):
    grid = RankGrid({"tp": 2, "cp": 2, "dp": 4, "pp": 3}, ("tp", "cp", "dp", "pp"))
    fast = grid.groups(ep=2), grid.groups(ep=2, etp=2)
    monkeypatch.setattr(ranks, "FAMILY_ARRAYS", False)
    assert (grid.groups(ep=2), grid.groups(ep=2, etp=2)) == fast


def _classes_both_ways(trace, speeds, monkeypatch):
    from sim.engine import classes
    fast = classes.rank_classes(trace, speeds)
    with monkeypatch.context() as m:
        m.setattr(classes, "REFINE_ARRAYS", False)
        ref = classes.rank_classes(trace, speeds)
    return fast, ref


LAYOUTS = [
    dict(tp=2, pp=2, dp=4),
    dict(tp=2, pp=4, dp=2, vpp=2, schedule="interleaved"),
    dict(tp=2, cp=2, pp=2, dp=2, sequence_parallel=True),
    dict(tp=1, dp=8, ep=4),
    dict(tp=4, pp=2, dp=2, zero=3),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=[str(sorted(x.items())) for x in LAYOUTS])
def test_rank_classes_from_arrays_equal_the_reference(layout, monkeypatch):
    import numpy as np
    from workloads.generate import Layout, Training, generate
    model = {"layers": 8, "hidden": 512, "heads": 8, "ffn_hidden": 2048, "vocab": 8192,
             "seq_len": 512}
    if layout.get("ep"):
        model["moe"] = {"experts": 8, "top_k": 2, "expert_ffn_hidden": 1024}
    trace = generate(model, Layout(**layout), Training(global_batch=16, micro_batch=1,
                                                       seq_len=512))
    n = trace.world_size
    rng = np.random.default_rng(5)
    speed_sets = [None, [1.0] * n]
    for slow in (1, 2, 3):
        s = [1.0] * n
        for r in rng.choice(n, size=slow, replace=False):
            s[int(r)] = float(rng.choice([0.5, 0.8]))
        speed_sets.append(s)
    for speeds in speed_sets:
        fast, ref = _classes_both_ways(trace, speeds, monkeypatch)
        assert fast == ref
    assert len(fast) > len(_classes_both_ways(trace, None, monkeypatch)[0])


def _synthetic_trace(groups, p2p_family, programs_of):
    from workloads.trace import Op, Peer, Program, Trace
    ops = [Op("ar", "all_reduce", "comm", bytes=1.0, group="coll"),
           Op("tx", "send", "comm", bytes=1.0, peer=Peer(group=p2p_family, offset=1))]
    n = 1 + max(r for lists in groups.values() for ms in lists for r in ms)
    progs = {}
    for r in range(n):
        progs.setdefault(programs_of(r), []).append(r)
    return Trace(world_size=n, programs=[Program(rs, list(ops)) for rs in progs.values()],
                 groups=groups)


@pytest.mark.parametrize("groups,uses_arrays", [
    ({"coll": [[0, 1, 2], [3, 4], [5, 6, 7]], "pp": [[0, 4], [1, 5], [2, 6], [3, 7]]}, True),
    ({"coll": [[0, 1, 2, 3, 4, 5, 6, 7]], "pp": [[0, 3, 6], [1, 4], [2, 5, 7]]}, False),
    ({"coll": [[0, 1], [2, 3], [4, 5], [6, 7]], "pp": [[0, 1], [1, 2], [3, 4, 5, 6, 7]]}, False),
    ({"coll": [[0, 1], [1, 2], [3, 4, 5, 6, 7]], "pp": [[0, 2, 4, 6], [1, 3, 5, 7]]}, False),
])
def test_rank_classes_on_groups_the_arrays_do_not_take(groups, uses_arrays, monkeypatch):
    from sim.engine import classes
    # ragged collective groups are bucketed; ragged p2p groups or a rank in two
    # groups of one family go to the reference refinement
    for programs_of in (lambda r: 0, lambda r: r % 2, lambda r: int(r == 5)):
        trace = _synthetic_trace(groups, "pp", programs_of)
        owner = trace.program_of_rank()
        got = classes._refine_arrays(trace, owner, [1.0] * trace.world_size)
        assert (got is not None) == uses_arrays
        for speeds in (None, [1.0] * 7 + [0.5]):
            fast, ref = _classes_both_ways(trace, speeds, monkeypatch)
            assert fast == ref
