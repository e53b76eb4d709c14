"""parallel_reduce: every reducer equals numpy, over ranges, MDRanges and leagues."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import kkpy
from core_kernels import absmax, is_positive, md_value2, md_value3, team_value, value

DTYPES = [np.int32, np.int64, np.float32, np.float64]
# Threads is the parallel path; Serial runs the same templates without prange
# and test_determinism.py checks that it agrees.  One space keeps compiling
# (cold cache on CI) to a few dozen drivers.
SPACE = kkpy.Threads()


@st.composite
def ranges(draw):
    """A contribution array and a range [begin, end) inside it; sizes include 0 and 1.

    Values come from a seeded generator (hypothesis is slow to draw long
    lists); they are small and often repeated, so products stay representable
    and MinLoc/MaxLoc see ties.
    """
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    n = draw(st.one_of(st.integers(0, 2), st.integers(0, 1200)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.kind == "i":
        x = rng.integers(-3, 4, n).astype(dtype)
    else:
        x = (rng.integers(-8, 9, n) / 2 + rng.uniform(0, 0.01, n) * rng.integers(0, 2, n))
        x = x.astype(dtype)
    begin = draw(st.integers(0, n))
    end = draw(st.integers(begin, n))
    return x, begin, end


def _reduce(x, b, e, reducer, kern=value):
    return kkpy.parallel_reduce("r", kkpy.RangePolicy(SPACE, b, e), kern, x, reducer=reducer)


def _sum_bound(x):
    """Rounding error allowed for summing ``x`` in its own precision, in any order."""
    eps = np.finfo(x.dtype).eps if x.dtype.kind == "f" else 0
    return len(x) * eps * float(np.sum(np.abs(x.astype(np.float64))))


@given(case=ranges())
@example(case=(np.array([], np.float64), 0, 0))
@example(case=(np.array([2.5]), 0, 1))
@example(case=(np.array([7], np.int32), 0, 1))
def test_sum_and_prod(case):
    x, b, e = case
    part = x[b:e]
    got = _reduce(x, b, e, kkpy.Sum)
    assert abs(got - float(np.sum(part, dtype=np.float64))) <= _sum_bound(part)
    if x.dtype.kind == "i":
        assert type(got) is int and got == int(np.sum(part))  # exact, in 64 bits like numpy
    if x.dtype.kind == "i":
        assert _reduce(x, b, e, kkpy.Prod) == int(np.prod(part))  # wraps like numpy
    else:
        # Factors near 1, few enough that no order of multiplication overflows.
        e = min(e, b + 60)
        y = (1 + x / 16).astype(x.dtype)
        ref = float(np.prod(y[b:e].astype(np.float64)))
        tol = 4 * (e - b) * float(np.finfo(x.dtype).eps)
        assert _reduce(y, b, e, kkpy.Prod) == pytest.approx(ref, rel=tol, abs=1e-30)


@given(case=ranges())
@example(case=(np.array([], np.int32), 0, 0))
@example(case=(np.array([-1.0]), 0, 1))
def test_min_max_and_locations(case):
    x, b, e = case
    part = x[b:e]
    lo, hi = _reduce(x, b, e, kkpy.Min), _reduce(x, b, e, kkpy.Max)
    lo_loc = _reduce(x, b, e, kkpy.MinLoc)
    hi_loc = _reduce(x, b, e, kkpy.MaxLoc)
    if len(part) == 0:  # the identities, as Kokkos defines them
        big = np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).max
        small = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        assert (lo, hi) == (big, small)
        assert lo_loc == (big, -1) and hi_loc == (small, -1)
        return
    assert lo == part.min() and hi == part.max()
    # Ties go to the lowest index, like np.argmin; indices are absolute.
    assert lo_loc == (part.min(), b + int(np.argmin(part)))
    assert hi_loc == (part.max(), b + int(np.argmax(part)))


@given(case=ranges())
@example(case=(np.array([], np.float64), 0, 0))
@example(case=(np.array([0], np.int64), 0, 1))
def test_logical_and_or(case):
    x, b, e = case
    part = x[b:e]
    assert _reduce(x, b, e, kkpy.LAnd) is bool(np.all(part != 0))
    assert _reduce(x, b, e, kkpy.LOr) is bool(np.any(part != 0))
    # A kernel returning a bool works too.
    assert _reduce(x, b, e, kkpy.LOr, is_positive) is bool(np.any(part > 0))


@given(case=ranges())
@example(case=(np.array([], np.float32), 0, 0))
def test_user_reducer(case):
    x, b, e = case
    got = _reduce(x, b, e, kkpy.Reducer(0, absmax))
    ref = np.max(np.abs(x[b:e]), initial=0)
    assert got == ref


@given(st.integers(0, 5), st.integers(0, 5), st.integers(0, 40), st.integers(0, 40),
       st.sampled_from([np.int32, np.float64]))
def test_mdrange_reduce(b0, b1, n0, n1, dtype):
    a = np.arange((b0 + n0) * (b1 + n1), dtype=dtype).reshape(b0 + n0, b1 + n1) % 7 - 3
    pol = kkpy.MDRangePolicy(SPACE, (b0, b1), (b0 + n0, b1 + n1))
    assert kkpy.parallel_reduce("md", pol, md_value2, a) == np.sum(a[b0:, b1:])
    assert kkpy.parallel_reduce("md", pol, md_value2, a, reducer=kkpy.Max) == \
        (a[b0:, b1:].max() if a[b0:, b1:].size else kkpy.Max.identity(a.dtype))
    c = np.arange(24.0).reshape(2, 3, 4)
    pol3 = kkpy.MDRangePolicy(SPACE, (0, 0, 0), c.shape)
    assert kkpy.parallel_reduce("md3", pol3, md_value3, c) == c.sum()


@given(league=st.integers(0, 50))
@example(league=0)
@example(league=1)
def test_team_reduce(league):
    # Host teams have one thread (larger teams are refused: tests/robustness/test_team.py).
    x = np.arange(league, dtype=np.float64) - 3.5
    got = kkpy.parallel_reduce("team", kkpy.TeamPolicy(SPACE, league, 1), team_value, x)
    ref = float(np.sum(x))
    assert got == pytest.approx(ref)


def test_reducer_must_be_a_reducer():
    with pytest.raises(TypeError, match="reducer"):
        kkpy.parallel_reduce("r", 3, value, np.ones(3), reducer=np.sum)


@given(b0=st.integers(0, 3), b1=st.integers(0, 3), n0=st.integers(0, 9), n1=st.integers(0, 9),
       league=st.integers(0, 20))
def test_loc_reducers_with_every_policy(b0, b1, n0, n1, league):
    # Few distinct values: ties are common, and go to the first in row-major order.
    a = (np.arange((b0 + n0) * (b1 + n1)).reshape(b0 + n0, b1 + n1) * 7 % 5).astype(np.float64)
    box = a[b0:, b1:]
    pol = kkpy.MDRangePolicy(SPACE, (b0, b1), (b0 + n0, b1 + n1))
    for r, pick, fill in ((kkpy.MinLoc, np.argmin, np.inf), (kkpy.MaxLoc, np.argmax, -np.inf)):
        got = kkpy.parallel_reduce("loc", pol, md_value2, a, reducer=r)
        if box.size:
            i, j = np.unravel_index(pick(box), box.shape)
            assert got == (box[i, j], (b0 + i, b1 + j))
        else:
            assert got == (fill, (-1, -1))
    x = np.arange(league, dtype=np.float64) * 3 % 4
    got = kkpy.parallel_reduce("team", kkpy.TeamPolicy(SPACE, league), team_value, x,
                               reducer=kkpy.MinLoc)
    assert got == ((x.min(), int(np.argmin(x))) if league else (np.inf, -1))




def test_reducers_as_kokkos_passes_them():
    x = np.array([3.0, -1.0, 5.0, -1.0])
    pol = kkpy.RangePolicy(SPACE, 0, 4)
    best, where = kkpy.View("best", 1), np.zeros((), np.int64)
    assert kkpy.parallel_reduce("max", pol, value, x, kkpy.Max) == 5.0
    assert kkpy.parallel_reduce("min", pol, value, x, kkpy.MinLoc(best, where)) == (-1.0, 1)
    assert best.tolist() == [-1.0] and where == 1
    total = np.zeros(1)
    kkpy.parallel_reduce(pol, value, x, kkpy.Sum(total))
    assert total[0] == x.sum()
    with pytest.raises(TypeError, match="the reducer goes last"):
        kkpy.parallel_reduce("r", pol, kkpy.Sum(total), value, x)
    with pytest.raises(TypeError, match="two reducers"):
        kkpy.parallel_reduce("r", pol, value, x, kkpy.Max, reducer=kkpy.Min)
    with pytest.raises(ValueError, match="one element"):
        kkpy.Max(np.zeros(3))
