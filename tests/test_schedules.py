"""Pipeline schedules against the papers' bubble and memory formulas."""
from __future__ import annotations

from collections import Counter

import pytest

from workloads.errors import InputError
from workloads.generate.schedules import (SCHEDULES, Action, ScheduleDeadlock,
                                          in_flight_microbatches, run_timeline, schedule)

SHAPES = [(1, 1), (1, 4), (2, 2), (2, 6), (3, 7), (4, 4), (4, 8), (4, 16), (8, 8), (8, 32)]


def _bubble(stages, vpp=1, **t):
    tl = run_timeline(stages, vpp, **t)
    return tl.makespan_s - tl.busy_s[0], tl


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("pp,m", SHAPES)
def test_every_action_exactly_once(name, pp, m):
    vpps = (1, 2, 3) if name == "interleaved" and m % pp == 0 and pp > 1 else (1,)
    for vpp in vpps:
        stages = schedule(name, pp, m, vpp)
        assert len(stages) == pp
        kinds = ("F", "B", "W") if name == "zero-bubble" else ("F", "B")
        for acts in stages:
            counts = Counter((a.kind, a.microbatch, a.chunk) for a in acts)
            expected = {(k, mb, c) for k in kinds for mb in range(m) for c in range(vpp)}
            assert set(counts) == expected
            assert set(counts.values()) == {1}
            # a backward never precedes its own forward; W never precedes its B
            seen = set()
            for a in acts:
                if a.kind == "B":
                    assert ("F", a.microbatch, a.chunk) in seen
                if a.kind == "W":
                    assert ("B", a.microbatch, a.chunk) in seen
                seen.add((a.kind, a.microbatch, a.chunk))
        run_timeline(stages, vpp, t_f=1.0, t_b=2.0, t_w=1.0)  # finishes: no deadlock


@pytest.mark.parametrize("pp,m", SHAPES)
@pytest.mark.parametrize("t_f,t_b", [(1.0, 2.0), (1.0, 1.0), (0.7, 1.9)])
def test_gpipe_and_1f1b_bubble(pp, m, t_f, t_b):
    # Narayanan et al. SC'21 Sec. 2.2.1: bubble time (p-1)(t_f+t_b), fraction (p-1)/m
    for name in ("gpipe", "1f1b"):
        bubble, tl = _bubble(schedule(name, pp, m), t_f=t_f, t_b=t_b)
        assert bubble == pytest.approx((pp - 1) * (t_f + t_b))
        assert tl.bubble_fraction() == pytest.approx((pp - 1) / m)


@pytest.mark.parametrize("pp,m", [(2, 4), (4, 4), (4, 8), (4, 16), (8, 16), (8, 32)])
@pytest.mark.parametrize("vpp", [2, 3, 4])
@pytest.mark.parametrize("t_f,t_b", [(1.0, 2.0), (1.0, 1.0)])
def test_interleaved_bubble(pp, m, vpp, t_f, t_b):
    # Narayanan et al. SC'21 Sec. 2.2.2: bubble fraction (p-1)/(v m)
    stages = schedule("interleaved", pp, m, vpp)
    tl = run_timeline(stages, vpp, t_f=t_f, t_b=t_b)
    assert tl.busy_s[0] == pytest.approx(m * vpp * (t_f + t_b))
    assert tl.bubble_fraction() == pytest.approx((pp - 1) / (vpp * m))


def test_interleaved_needs_microbatches_multiple_of_pp():
    with pytest.raises(InputError) as e:
        schedule("interleaved", 4, 6, 2)
    assert e.value.field == "microbatches" and e.value.value == 6
    assert "multiple of pp" in str(e.value)


def test_interleaving_needs_pipeline():
    with pytest.raises(InputError) as e:
        schedule("interleaved", 1, 4, 2)
    assert e.value.field == "parallelism.vpp" and "pp > 1" in str(e.value)


def test_vpp_only_for_interleaved():
    with pytest.raises(InputError) as e:
        schedule("1f1b", 4, 8, 2)
    assert e.value.field == "parallelism.vpp"


def test_unknown_schedule_names_choices():
    with pytest.raises(InputError) as e:
        schedule("2f2b", 4, 8)
    assert e.value.field == "parallelism.schedule" and "1f1b" in str(e.value)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_pp(bad):
    with pytest.raises(InputError):
        schedule("1f1b", bad, 8)


@pytest.mark.parametrize("pp,m", [(2, 2), (2, 5), (3, 7), (4, 4), (4, 8), (8, 32), (16, 64)])
@pytest.mark.parametrize("t_f,t_b,t_w", [(1.0, 1.0, 1.0), (1.0, 1.2, 0.8), (1.0, 1.1, 1.0)])
def test_zero_bubble_h1(pp, m, t_f, t_b, t_w):
    # Qi et al. 2024 Sec. 3.1: ZB-H1 bubble (p-1)(T_F + T_B - T_W), versus
    # 1F1B's (p-1)(T_F + T_B + T_W) with B and W fused; same peak memory (p).
    zb, _ = _bubble(schedule("zero-bubble", pp, m), t_f=t_f, t_b=t_b, t_w=t_w)
    fused, _ = _bubble(schedule("1f1b", pp, m), t_f=t_f, t_b=t_b + t_w)
    assert fused == pytest.approx((pp - 1) * (t_f + t_b + t_w))
    assert zb == pytest.approx((pp - 1) * (t_f + t_b - t_w))
    assert zb < fused
    assert max(in_flight_microbatches("zero-bubble", pp, m, 1, s) for s in range(pp)) == pp


def test_zero_bubble_never_worse_with_few_microbatches():
    for pp, m in [(4, 2), (8, 3), (4, 1)]:
        zb, _ = _bubble(schedule("zero-bubble", pp, m), t_f=1, t_b=1, t_w=1)
        fused, _ = _bubble(schedule("1f1b", pp, m), t_f=1, t_b=2)
        assert zb < fused


@pytest.mark.parametrize("pp,m", SHAPES)
def test_in_flight_1f1b_and_gpipe(pp, m):
    for s in range(pp):
        got = in_flight_microbatches("1f1b", pp, m, 1, s)
        assert got == min(pp - s, m) <= pp
        assert in_flight_microbatches("gpipe", pp, m, 1, s) == m


@pytest.mark.parametrize("pp,vpp,m", [(4, 2, 8), (8, 3, 16), (4, 4, 16)])
def test_in_flight_interleaved_first_stage(pp, vpp, m):
    # Korthikanti et al. 2022 Sec. 4.2.3: the interleaved schedule's first stage
    # holds p (1 + (p-1)/(p v)) micro-batches' worth of activations.
    got = in_flight_microbatches("interleaved", pp, m, vpp, 0)
    assert got == pytest.approx(pp * (1 + (pp - 1) / (pp * vpp)))


def test_in_flight_bad_stage():
    with pytest.raises(InputError) as e:
        in_flight_microbatches("1f1b", 4, 8, 1, 4)
    assert e.value.field == "stage"


def test_timeline_detects_deadlock():
    # stage 0 waits for B of mb 0 before running the forward stage 1 needs
    stages = [[Action("B", 0), Action("F", 0)], [Action("F", 0), Action("B", 0)]]
    with pytest.raises(ScheduleDeadlock):
        run_timeline(stages)


def test_1f1b_order_matches_pipedream_flush():
    # p=4, m=6, stage 1: 2 warm-up forwards, steady 1F1B, cool-down
    got = [(a.kind, a.microbatch) for a in schedule("1f1b", 4, 6)[1]]
    assert got == [("F", 0), ("F", 1), ("F", 2), ("B", 0), ("F", 3), ("B", 1),
                   ("F", 4), ("B", 2), ("F", 5), ("B", 3), ("B", 4), ("B", 5)]


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_shared_schedule_is_the_schedule_made_once(name):
    """The trace generator reads the actions the memory check already made:
    the same actions as schedule(), one object per shape."""
    from workloads.generate.schedules import shared_schedule
    for pp, m in SHAPES:
        vpp = 2 if name == "interleaved" and m % pp == 0 and pp > 1 else 1
        shared = shared_schedule(name, pp, m, vpp)
        assert [list(s) for s in shared] == schedule(name, pp, m, vpp)
        assert shared_schedule(name, pp, m, vpp) is shared
