"""Results do not depend on the space or the thread count, to the bit.

Reductions and scans cut the range into a fixed number of chunks and join the
chunk results in order, whatever the number of threads; so even float sums
must agree bitwise.
"""
import numba
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import kkpy
from core_kernels import scaled_copy, value

needs_two = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                               reason="needs numba to allow 2 threads")


def _run_all(space, x_int, x_float):
    n = len(x_int)
    pol = kkpy.RangePolicy(space, 0, n)
    y = np.zeros(n, np.int64)
    kkpy.parallel_for("copy", pol, scaled_copy, x_int, y, 3)
    scan = np.zeros(n + 1)
    return {
        "for": y,
        "isum": kkpy.parallel_reduce("isum", pol, value, x_int),
        "fsum": kkpy.parallel_reduce("fsum", pol, value, x_float),
        "minloc": kkpy.parallel_reduce("minloc", pol, value, x_int, reducer=kkpy.MinLoc),
        "scan_total": kkpy.parallel_scan("scan", pol, value, x_float, out=scan),
        "scan": scan,
    }


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].tobytes() == b[key].tobytes(), key  # bitwise, not approximately
        else:
            assert np.asarray(a[key]).tobytes() == np.asarray(b[key]).tobytes(), key


@st.composite
def inputs(draw):
    n = draw(st.one_of(st.integers(0, 2), st.integers(0, 5000)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))  # faster than st.lists
    # Floats of mixed magnitudes, so that the order of additions shows in the bits.
    return rng.integers(-10**6, 10**6, n), rng.normal(0, 1, n) * 10.0 ** rng.integers(-6, 7, n)


@needs_two
@given(data=inputs())
@example(data=([], []))
@example(data=([1], [0.1]))
def test_one_and_two_threads_agree_bitwise(data):
    x_int, x_float = np.array(data[0], np.int64), np.array(data[1], np.float64)
    _same(_run_all(kkpy.Threads(1), x_int, x_float), _run_all(kkpy.Threads(2), x_int, x_float))


@given(data=inputs())
@example(data=([], []))
@example(data=([1], [0.1]))
def test_serial_equals_threads(data):
    x_int, x_float = np.array(data[0], np.int64), np.array(data[1], np.float64)
    _same(_run_all(kkpy.Serial(), x_int, x_float), _run_all(kkpy.Threads(), x_int, x_float))


def test_second_call_compiles_nothing():
    """Same policy kind, space and argument types: one compiled driver, reused."""
    pol_small = kkpy.RangePolicy(kkpy.Threads(), 0, 3)
    x, y = np.ones(50), np.zeros(50)
    kkpy.parallel_for("c", pol_small, scaled_copy, x, y, 2.0)
    drivers = {key: form[0] for key, form in scaled_copy.forms.items()
               if key[0] is True and key[1][0] == "for"}
    assert len(drivers) == 1
    drv = next(iter(drivers.values()))
    before = len(drv.overloads)
    # other bounds, other sizes, Views instead of arrays, another thread count
    v = kkpy.View("v", 7)
    kkpy.parallel_for("c", kkpy.RangePolicy(kkpy.Threads(1), 0, 7), scaled_copy, v, v, 0.5)
    kkpy.parallel_for("c", kkpy.RangePolicy(kkpy.Threads(), 10, 50), scaled_copy, x, y, 1.0)
    assert len(drv.overloads) == before
    assert len([k for k in scaled_copy.forms if k[0] is True and k[1][0] == "for"]) == 1
