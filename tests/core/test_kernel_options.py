"""Kernel options: a set of fastmath flags and the SLP vectoriser keep results exact."""
import numba
import numpy as np
import pytest

import kkpy
from core_kernels import eight_sums, eight_sums_slp


@pytest.mark.parametrize("space", [kkpy.Serial(), kkpy.Threads()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slp_vectorized_sums_match_numpy(space, dtype):
    rng = np.random.default_rng(1)
    # small integers times powers of two: every partial sum is exact, so a
    # fused multiply-add may not change a bit and the sums equal numpy's
    x = rng.integers(-8, 8, (50, 8)).astype(dtype)
    w = (2.0 ** rng.integers(-3, 3, 50)).astype(dtype)
    plain, slp = (np.full((3, 8), np.nan, dtype) for _ in range(2))
    kkpy.parallel_for("sums", kkpy.RangePolicy(space, 0, 3), eight_sums, x, w, plain)
    kkpy.parallel_for("sums_slp", kkpy.RangePolicy(space, 0, 3), eight_sums_slp, x, w, slp)
    expect = np.broadcast_to(w @ x, (3, 8))
    assert np.array_equal(plain, expect)
    assert np.array_equal(slp, expect)


def test_slp_vectorize_is_raised_only_while_compiling():
    before = numba.core.config.SLP_VECTORIZE
    out = np.zeros((1, 8))
    eight_sums_slp(0, np.ones((2, 8)), np.ones(2), out)
    assert numba.core.config.SLP_VECTORIZE == before
    assert np.array_equal(out, np.full((1, 8), 2.0))


def test_fastmath_flag_sets_are_normalised():
    k = kkpy.kernel(lambda i, x: x[i], fastmath={"nsz", "contract"})
    assert k.fastmath == ("contract", "nsz")
    assert kkpy.kernel(lambda i, x: x[i], fastmath=True).fastmath is True
