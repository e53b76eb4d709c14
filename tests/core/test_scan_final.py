"""Kokkos's scan functor ``f(i, update, final, *args)`` on every space.

The functor writes its own output when ``final`` is true; the reference is
numpy's exclusive cumulative sum.  On Cuda each thread runs the functor over
its piece twice (``final`` false for its sum, then true from its prefix);
without a GPU one test reruns this module under numba's CUDA simulator.
"""
import numpy as np
import pytest

import kkpy
from kkpy.core._cuda_testing import make_space, simulator_rerun, space_params

test_cuda_space_under_the_simulator = simulator_rerun(__file__)


@pytest.fixture(scope="module", params=space_params())
def space(request):
    return make_space(request.param)


def on(space, a):
    return kkpy.create_mirror_view_and_copy(space.memory_space, a)


def host(v):
    return np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, v))


@kkpy.kernel
def kokkos_offsets(i, update, final, counts, out):
    if final:
        out[i] = update
    return update + counts[i]


@kkpy.kernel
def running_mean(i, update, final, x, out):
    # a float update, and an output that is not the prefix itself
    if final:
        out[i] = (update + x[i]) / (i + 1)
    return update + x[i]


@pytest.mark.parametrize("n", [0, 1, 7, 1500])
def test_scan_with_kokkos_final_flag(space, n):
    counts = np.arange(n) % 5
    out = on(space, np.full(n + 1, -1, np.int64))
    total = kkpy.parallel_scan("offsets", kkpy.RangePolicy(space, 0, n), kokkos_offsets,
                               on(space, counts), out)
    assert total == counts.sum()
    got = host(out)
    np.testing.assert_array_equal(got[:n], np.cumsum(counts) - counts)
    assert got[n] == -1  # the functor writes only what it was given
    with pytest.raises(ValueError, match="writes its own output"):
        kkpy.parallel_scan("o", kkpy.RangePolicy(space, 0, n), kokkos_offsets, on(space, counts),
                           out, out=out)


def test_scan_final_flag_with_a_float_update_and_an_offset_range(space):
    x = np.arange(40) % 3 * 0.5  # halves: sums exact in any order
    out = on(space, np.zeros(40))
    total = kkpy.parallel_scan(kkpy.RangePolicy(space, 5, 40), running_mean, on(space, x), out)
    assert total == x[5:].sum()
    want = np.cumsum(x[5:]) / np.arange(6, 41)
    np.testing.assert_array_equal(host(out)[5:], want)
    assert not host(out)[:5].any()
