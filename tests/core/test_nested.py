"""Nested patterns in team kernels: reduce and scan over TeamThreadRange /
ThreadVectorRange, single(PerTeam / PerThread) and team_broadcast.

One kernel exercises them all, per row of a matrix (one team per row), as
one test body on every space: Serial and Threads (compiled: one thread per
team) and Cuda, compiled on a GPU or in the simulator without one, with
teams of several threads that combine their partial results through the
block, of sizes below, at and past one warp.
"""
import numpy as np
import pytest

import kkpy
from kkpy.core._cuda_testing import make_space, simulator_rerun, space_params

test_cuda_space_under_the_simulator = simulator_rerun(__file__)


@pytest.fixture(scope="module", params=space_params())
def space(request):
    return make_space(request.param)


@kkpy.kernel
def elem(j, row, a):
    return a[row, j]


@kkpy.kernel
def exclusive(j, update, final, row, a, out):
    # Kokkos's scan functor: write only on the final pass.
    if final:
        out[row, j] = update
    return update + a[row, j]


@kkpy.kernel
def first_elem(row, a):
    return a[row, 0] if a.shape[1] > 0 else -1.0


@kkpy.kernel
def row_stats(member, a, stats, loc, out):
    row, n = member.league_rank(), a.shape[1]
    s = kkpy.parallel_reduce(kkpy.TeamThreadRange(member, n), elem, row, a)
    mx = kkpy.parallel_reduce(kkpy.ThreadVectorRange(member, n), elem, row, a, kkpy.Max)
    mn, where = kkpy.parallel_reduce(kkpy.TeamThreadRange(member, n), elem, row, a, kkpy.MinLoc)
    hi, at = kkpy.parallel_reduce(kkpy.ThreadVectorRange(member, n), elem, row, a, kkpy.MaxLoc)
    total = kkpy.parallel_scan(kkpy.TeamThreadRange(member, n), exclusive, row, a, out)
    first = kkpy.single(kkpy.PerTeam(member), first_elem, row, a)
    mine = kkpy.single(kkpy.PerThread(member), first_elem, row, a)
    root = member.team_size() - 1
    b = member.team_broadcast(s + member.team_rank(), root)
    if member.team_rank() == root:
        stats[row, 0] = s
        stats[row, 1] = mx
        stats[row, 2] = mn
        stats[row, 3] = total
        stats[row, 4] = first + mine
        stats[row, 5] = b - root
        loc[row, 0] = where
        loc[row, 1] = at
        stats[row, 6] = hi


def reference(a):
    n = a.shape[1]
    stats = np.empty((a.shape[0], 7))
    stats[:, 0] = a.sum(axis=1)
    stats[:, 1] = a.max(axis=1) if n else -np.inf
    stats[:, 2] = a.min(axis=1) if n else np.inf
    stats[:, 3] = a.sum(axis=1)
    stats[:, 4] = 2 * a[:, 0] if n else -2.0
    stats[:, 5] = stats[:, 0]
    stats[:, 6] = stats[:, 1]
    loc = (np.stack([a.argmin(axis=1), a.argmax(axis=1)], axis=1) if n
           else np.full((a.shape[0], 2), -1))
    out = np.cumsum(a, axis=1) - a
    return stats, loc, out


def matrices():
    rng = np.random.default_rng(7)
    # small integers: sums are exact in any order; ties test MinLoc's lowest index
    yield rng.integers(-5, 6, (6, 11)).astype(np.float64)
    yield rng.integers(-5, 6, (3, 1)).astype(np.float64)
    yield rng.integers(-5, 6, (2, 75)).astype(np.float64)
    yield np.zeros((2, 0))


def check(space, a, team_size):
    stats = kkpy.View("stats", (a.shape[0], 7), space=space)
    loc = kkpy.View("loc", (a.shape[0], 2), dtype=np.int64, space=space)
    out = kkpy.View("out", a.shape, space=space)
    dev = kkpy.create_mirror_view_and_copy(space, a)
    kkpy.parallel_for("rows", kkpy.TeamPolicy(space, a.shape[0], team_size), row_stats,
                      dev, stats, loc, out)
    host = [np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, v))
            for v in (stats, loc, out)]
    want = reference(a)
    for got, ref in zip(host, want):
        np.testing.assert_array_equal(got, ref)


def test_nested_patterns_on_every_space(space):
    # A host team has one thread; a GPU team is a block: one thread, a few,
    # and more than a warp (the partial results then take two rounds).
    sizes = [1, 4, 33] if space.backend == "cuda" else [kkpy.AUTO]
    for team_size in sizes:
        for a in matrices():
            check(space, a, team_size)


def test_nested_patterns_in_python():
    """The same functions, called as Python (as under NUMBA_DISABLE_JIT)."""
    from kkpy.core._team import make_team_member

    a = next(matrices())
    stats, loc, out = np.zeros((a.shape[0], 7)), np.zeros((a.shape[0], 2), np.int64), np.zeros_like(a)
    for row in range(a.shape[0]):
        member = make_team_member(row, a.shape[0], 0, 1, np.empty(0, np.uint8))
        row_stats.py_func(member, a, stats, loc, out)
    for got, ref in zip((stats, loc, out), reference(a)):
        np.testing.assert_array_equal(got, ref)


def test_single_needs_a_scope():
    with pytest.raises(TypeError, match="PerTeam"):
        kkpy.single(3, max, 1, 2)


@kkpy.kernel
def cell(i, j, a):
    return a[i, j]


@kkpy.kernel
def elem1(i, x):
    return x[i]


@kkpy.kernel
def league_value(member, x):
    return x[member.league_rank()]


def test_loc_reducers_with_every_policy(space):
    a = (np.arange(30).reshape(5, 6) * 7 % 5).astype(np.float64)
    dev = kkpy.create_mirror_view_and_copy(space.memory_space, a)
    got = kkpy.parallel_reduce(kkpy.MDRangePolicy(space, (1, 2), (5, 6)), cell, dev,
                               reducer=kkpy.MaxLoc)
    i, j = np.unravel_index(np.argmax(a[1:, 2:]), (4, 4))
    assert got == (a[1 + i, 2 + j], (1 + i, 2 + j))
    x = np.array([3.0, 1.0, 2.0, 1.0])
    xd = kkpy.create_mirror_view_and_copy(space.memory_space, x)
    team = 2 if space.backend == "cuda" else kkpy.AUTO
    got = kkpy.parallel_reduce(kkpy.TeamPolicy(space, 4, team), league_value, xd,
                               reducer=kkpy.MinLoc)
    assert got == (1.0, 1)
    got = kkpy.parallel_reduce(kkpy.RangePolicy(space, 1, 4), elem1, xd, reducer=kkpy.MaxLoc)
    assert got == (2.0, 2)
