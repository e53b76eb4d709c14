"""parallel_scan: prefix sums equal np.cumsum."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import kkpy
from core_kernels import md_value2, value


@st.composite
def scans(draw):
    dtype = draw(st.sampled_from([np.int64, np.float64]))
    n = draw(st.one_of(st.integers(0, 2), st.integers(0, 3000)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))  # faster than st.lists
    x = rng.integers(-1000, 1001, n) if dtype is np.int64 else rng.uniform(-1, 1, n)
    begin = draw(st.integers(0, n))
    return x, begin, draw(st.booleans()), draw(st.booleans())


@given(case=scans())
@example(case=(np.array([], np.int64), 0, False, True))
@example(case=(np.array([5], np.int64), 0, False, True))
@example(case=(np.array([5.0]), 0, True, False))
def test_scan_equals_cumsum(case):
    x, begin, inclusive, room_for_total = case
    part = x[begin:]
    n = len(part)
    out = np.full(n + room_for_total, -7, x.dtype)  # poison: every slot must be written
    pol = kkpy.RangePolicy(kkpy.Threads(), begin, len(x))
    total = kkpy.parallel_scan("scan", pol, value, x, out=out, inclusive=inclusive)
    csum = np.cumsum(part)
    ref = csum if inclusive else np.concatenate([[0], csum[:-1]]) if n else csum
    if x.dtype.kind == "i":
        assert np.array_equal(out[:n], ref) and total == (csum[-1] if n else 0)
    else:
        tol = 1e-12 * max(1, n)
        np.testing.assert_allclose(out[:n], ref, rtol=0, atol=tol)
        assert total == pytest.approx(csum[-1] if n else 0.0, abs=tol)
    if room_for_total:
        # out of length n + 1: an exclusive scan ends with the total (a CRS row map).
        assert out[n] == (total if not inclusive else -7)


def test_scan_without_out_returns_total():
    x = np.arange(10, dtype=np.int64)
    assert kkpy.parallel_scan("total", kkpy.RangePolicy(kkpy.Threads(), 3, 10), value, x) == 42


def test_scan_errors_name_the_label():
    x = np.ones(4)
    with pytest.raises(ValueError, match="parallel_scan 'short'.*at least 4"):
        kkpy.parallel_scan("short", 4, value, x, out=np.zeros(3))
    with pytest.raises(ValueError, match="parallel_scan 'md'.*RangePolicy"):
        kkpy.parallel_scan("md", kkpy.MDRangePolicy((0, 0), (2, 2)), md_value2, np.ones((2, 2)))
