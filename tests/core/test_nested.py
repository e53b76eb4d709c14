"""Nested patterns in team kernels: reduce and scan over TeamThreadRange /
ThreadVectorRange, single(PerTeam / PerThread) and team_broadcast.

One kernel exercises them all, per row of a matrix (one team per row), on
Serial and Threads (compiled: one thread per team) and on Cuda (the
simulator without a GPU: real teams of several threads, which combine their
partial results through the block).
"""
import numpy as np
import pytest

import kkpy
from kkpy.core._cuda_testing import module_setup

MODE, on_device, test_module_passes_under_the_simulator = module_setup(__file__)


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
        loc[row] = where


def reference(a):
    n = a.shape[1]
    stats = np.empty((a.shape[0], 6))
    stats[:, 0] = a.sum(axis=1)
    stats[:, 1] = a.max(axis=1) if n else -np.inf
    stats[:, 2] = a.min(axis=1) if n else np.inf
    stats[:, 3] = a.sum(axis=1)
    stats[:, 4] = 2 * a[:, 0] if n else -2.0
    stats[:, 5] = stats[:, 0]
    loc = a.argmin(axis=1) if n else np.full(a.shape[0], -1)
    out = np.cumsum(a, axis=1) - a
    return stats, loc, out


def matrices():
    rng = np.random.default_rng(7)
    # small integers: sums are exact in any order; ties test MinLoc's lowest index
    yield rng.integers(-5, 6, (6, 11)).astype(np.float64)
    yield rng.integers(-5, 6, (3, 1)).astype(np.float64)
    yield np.zeros((2, 0))


def check(space, a, team_size):
    stats = kkpy.View("stats", (a.shape[0], 6), space=space)
    loc = kkpy.View("loc", a.shape[0], dtype=np.int64, space=space)
    out = kkpy.View("out", a.shape, space=space)
    dev = kkpy.create_mirror_view_and_copy(space, a)
    kkpy.parallel_for("rows", kkpy.TeamPolicy(space, a.shape[0], team_size), row_stats,
                      dev, stats, loc, out)
    host = [np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, v))
            for v in (stats, loc, out)]
    want = reference(a)
    for got, ref in zip(host, want):
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("space", [kkpy.Serial(), kkpy.Threads()], ids=["Serial", "Threads"])
def test_nested_patterns_on_the_host(space):
    for a in matrices():
        check(space, a, kkpy.AUTO)


@on_device
@pytest.mark.skipif(MODE == "gpu", reason="compiled GPU forms of the nested patterns are not "
                    "written yet (docs/programming-model.rst)")
@pytest.mark.parametrize("team_size", [1, 4])
def test_nested_patterns_on_cuda_teams(team_size):
    for a in matrices():
        check(kkpy.Cuda(), a, team_size)


def test_nested_patterns_in_python():
    """The same functions, called as Python (as under NUMBA_DISABLE_JIT)."""
    from kkpy.core._team import make_team_member

    a = next(matrices())
    stats, loc, out = np.zeros((a.shape[0], 6)), np.zeros(a.shape[0], np.int64), np.zeros_like(a)
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
def league_value(member, x):
    return x[member.league_rank()]


@on_device
def test_loc_reducers_with_every_policy_on_cuda():
    cuda = kkpy.Cuda()
    a = (np.arange(30).reshape(5, 6) * 7 % 5).astype(np.float64)
    dev = kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, a)
    got = kkpy.parallel_reduce(kkpy.MDRangePolicy(cuda, (1, 2), (5, 6)), cell, dev,
                               reducer=kkpy.MaxLoc)
    i, j = np.unravel_index(np.argmax(a[1:, 2:]), (4, 4))
    assert got == (a[1 + i, 2 + j], (1 + i, 2 + j))
    x = np.array([3.0, 1.0, 2.0, 1.0])
    got = kkpy.parallel_reduce(kkpy.TeamPolicy(cuda, 4, 2), league_value,
                               kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, x),
                               reducer=kkpy.MinLoc)
    assert got == (1.0, 1)
