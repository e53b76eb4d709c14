"""The result pool (kkpy.sparse.host._pool): memory is reused only once nothing uses it."""
from unittest import mock

import numpy as np
import scipy.sparse as sp

from kkpy.sparse import _tuning, spgemm, transpose
from kkpy.sparse.host import _pool

BIG = 1 << 18   # float64 items: 2 MiB, pooled


def test_a_block_in_use_through_a_view_is_not_handed_out_again():
    a = _pool.empty(BIG, np.float64)
    a[:] = 1.0
    view = a[10:20]
    del a
    b = _pool.empty(BIG, np.float64)         # the first block is still held by the view
    b[:] = 2.0
    assert np.all(view == 1.0)
    assert not np.shares_memory(view, b)
    del view
    c = _pool.empty(BIG, np.float64)         # now it may come back
    assert c.shape == (BIG,) and c.flags.writeable


def test_results_stay_correct_when_their_memory_is_reused():
    A = sp.random(3000, 3000, density=0.01, format="csr", random_state=0)
    want = (A @ A).toarray()
    for _ in range(3):                       # each product reuses the last one's memory
        C = spgemm(A, A)
        T = transpose(C)
        assert np.array_equal(C.toarray(), want)
        assert np.array_equal(T.toarray(), want.T)
        del C, T
    kept = spgemm(A, A)
    other = spgemm(2 * A, A)                  # a live result is never overwritten
    assert np.array_equal(kept.toarray(), want)
    assert np.array_equal(other.toarray(), 2 * want)


def test_the_pool_keeps_at_most_its_limit_and_release_frees_it():
    _pool.release_memory()
    with mock.patch.object(_tuning, "_pool_limit", [3 * BIG * 8]):
        arrays = [_pool.empty(BIG, np.float64) for _ in range(6)]
        del arrays
        assert 0 < _pool.kept_bytes() <= 3 * BIG * 8
        assert _pool.release_memory() > 0
        assert _pool.kept_bytes() == 0


def test_a_limit_of_zero_turns_the_pool_off():
    with mock.patch.object(_tuning, "_pool_limit", [0]):
        a = _pool.empty(BIG, np.float64)
        assert a.base is None                 # a plain numpy array
        del a
        assert _pool.kept_bytes() == 0


def test_a_bad_limit_in_the_environment_is_one_clear_error(monkeypatch):
    import pytest

    for bad in ("abc", "-5", "1.5G"):
        monkeypatch.setenv("KKPY_SPARSE_POOL_BYTES", bad)
        with mock.patch.object(_tuning, "_pool_limit", []):
            with pytest.raises(ValueError, match="KKPY_SPARSE_POOL_BYTES"):
                _pool.empty(BIG, np.float64)
    monkeypatch.setenv("KKPY_SPARSE_POOL_BYTES", "0")
    with mock.patch.object(_tuning, "_pool_limit", []):
        assert _pool.empty(BIG, np.float64).base is None
