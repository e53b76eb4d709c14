"""Policies: MDRange visits each index once, a TeamPolicy covers league x team."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import kkpy
from core_kernels import scaled_copy, visit2, visit3, visit4

VISIT = {2: visit2, 3: visit3, 4: visit4}


@st.composite
def md_boxes(draw):
    rank = draw(st.integers(2, 4))
    limit = {2: 40, 3: 12, 4: 6}[rank]
    begin = tuple(draw(st.integers(0, 3)) for _ in range(rank))
    # extents of 0 (an empty box) and 1 come up often
    end = tuple(b + draw(st.one_of(st.integers(0, 1), st.integers(0, limit))) for b in begin)
    tile = draw(st.none() | st.tuples(*[st.integers(1, 5)] * rank))
    return begin, end, tile


@given(box=md_boxes())
@example(box=((0, 0), (0, 5), None))
@example(box=((1, 1, 1), (2, 2, 2), (1, 1, 1)))
def test_mdrange_visits_each_index_once(box):
    begin, end, tile = box
    hits = np.zeros(tuple(e + 1 for e in end), np.int64)  # +1: room to catch overruns
    pol = kkpy.MDRangePolicy(kkpy.Threads(), begin, end, tile=tile)
    kkpy.parallel_for("visit", pol, VISIT[len(begin)], hits)
    expect = np.zeros_like(hits)
    expect[tuple(slice(b, e) for b, e in zip(begin, end))] = 1
    assert np.array_equal(hits, expect)


@pytest.mark.parametrize("tile", [None, (2, 2)])
def test_reversed_bounds_are_empty(tile):
    hits = np.zeros((6, 6), np.int64)
    kkpy.parallel_for("rev", kkpy.MDRangePolicy(kkpy.Threads(), (4, 4), (1, 2), tile=tile), visit2, hits)
    kkpy.parallel_for("rev1", kkpy.RangePolicy(kkpy.Threads(), 4, 1), scaled_copy, hits[0], hits[1], 1)
    assert not hits.any()


# Host teams have one thread: larger teams are refused (tests/robustness/test_team.py).
@given(league=st.integers(0, 40), team=st.just(1))
@example(league=0, team=1)
@example(league=1, team=1)
def test_team_policy_covers_league_times_team(league, team):
    from core_kernels import team_visit

    hits = np.zeros((league, team), np.int64)
    sizes = np.zeros((league, team, 2), np.int64)
    kkpy.parallel_for("team", kkpy.TeamPolicy(kkpy.Threads(), league, team), team_visit, hits, sizes)
    assert np.array_equal(hits, np.ones((league, team)))
    assert (sizes[..., 0] == league).all() and (sizes[..., 1] == team).all()


@given(league=st.integers(0, 20), team=st.sampled_from([1, kkpy.AUTO]), n=st.integers(0, 30))
def test_team_thread_range_covers_the_row_once(league, team, n):
    from core_kernels import team_thread_sweep

    hits = np.zeros((league, n), np.int64)
    kkpy.parallel_for("sweep", kkpy.TeamPolicy(kkpy.Threads(), league, team), team_thread_sweep, hits)
    assert np.array_equal(hits, np.ones((league, n)))


def test_team_scratch_is_per_team():
    from core_kernels import team_scratch_sum

    x = np.arange(60.0).reshape(12, 5)
    out = np.zeros(12)
    pol = kkpy.TeamPolicy(kkpy.Threads(), 12, 1).set_scratch_size(0, per_team=5 * 8)
    kkpy.parallel_for("scratch", pol, team_scratch_sum, x, out)
    assert np.array_equal(out, x.sum(axis=1))


def test_auto_team_size_runs_one_thread_per_team_on_host():
    assert kkpy.TeamPolicy(kkpy.Serial(), 3, kkpy.AUTO).team_size == 1


@pytest.mark.parametrize("schedule,chunk", [("static", None), ("dynamic", None), ("dynamic", 7)])
def test_schedules_give_the_same_result(schedule, chunk):
    x = np.arange(1000.0)
    y = np.zeros(1000)
    pol = kkpy.RangePolicy(kkpy.Threads(), 0, 1000, schedule=schedule, chunk=chunk)
    kkpy.parallel_for("copy", pol, scaled_copy, x, y, 2.0)
    assert np.array_equal(y, 3 * x)
    from core_kernels import value

    assert kkpy.parallel_reduce("sum", pol, value, y) == kkpy.parallel_reduce(
        "sum", kkpy.RangePolicy(kkpy.Threads(), 0, 1000), value, y)


def test_an_int_is_a_range_on_the_default_space():
    y = np.zeros(5)
    kkpy.parallel_for("n", 5, scaled_copy, np.ones(5), y, 1.0)
    assert y.tolist() == [1, 2, 3, 4, 5]


def test_label_is_optional():
    y = np.zeros(3)
    kkpy.parallel_for(kkpy.RangePolicy(kkpy.Serial(), 0, 3), scaled_copy, np.ones(3), y, 1.0)
    assert y.tolist() == [1, 2, 3]


@pytest.mark.parametrize("make, message", [
    (lambda: kkpy.RangePolicy(kkpy.Serial(), 0, 3, schedule="guided"), "schedule"),
    (lambda: kkpy.RangePolicy(kkpy.Serial(), 0, 3, chunk=0), "chunk"),
    (lambda: kkpy.RangePolicy(kkpy.Serial(), 0.5, 3), "integer"),
    (lambda: kkpy.MDRangePolicy(kkpy.Serial(), (0,), (3,)), "rank"),
    (lambda: kkpy.MDRangePolicy(kkpy.Serial(), (0, 0), (3, 3), tile=(0, 1)), "tile"),
    (lambda: kkpy.TeamPolicy(kkpy.Serial(), -1, 1), "league_size"),
    (lambda: kkpy.TeamPolicy(kkpy.Serial(), 2, 0), "team_size"),
])
def test_bad_policies_are_refused_clearly(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()
