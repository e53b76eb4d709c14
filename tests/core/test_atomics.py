"""Atomics stay exact when every host thread hammers the same few elements.

References are NumPy's unbuffered ``ufunc.at`` (serial, so exact) or
counting arguments (every value handed out exactly once).
"""
import textwrap
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba import njit, prange
from numba.core.errors import TypingError

from kkpy.core._atomics import (
    atomic_add, atomic_compare_exchange, atomic_exchange, atomic_fetch_add,
    atomic_fetch_max, atomic_fetch_min, atomic_fetch_sub, atomic_load,
    atomic_max, atomic_min, atomic_store, atomic_sub,
)

DTYPES = [np.int32, np.int64, np.uint32, np.uint64, np.float32, np.float64]
FLOATS = [np.float32, np.float64]
REPEAT = 128  # copies of each hypothesis example, so threads collide


@njit(parallel=True)
def _update_all(acc, lo, hi, idx, terms, vals, old_lo, old_hi):
    """add/sub on acc rows 0/1; min/max on row 0, their fetch variants on row 1."""
    for i in prange(idx.shape[0]):
        atomic_add(acc, (0, idx[i]), terms[i])
        atomic_sub(acc, (1, idx[i]), terms[i])
        atomic_min(lo, (0, idx[i]), vals[i])
        atomic_max(hi, (0, idx[i]), vals[i])
        old_lo[i] = atomic_fetch_min(lo, (1, idx[i]), vals[i])
        old_hi[i] = atomic_fetch_max(hi, (1, idx[i]), vals[i])


@njit(parallel=True)
def _fetch_add_sub(up, down, olds_up, olds_down):
    for i in prange(olds_up.shape[0]):
        olds_up[i] = atomic_fetch_add(up, 0, 1)
        olds_down[i] = atomic_fetch_sub(down, 0, 1)


@njit(parallel=True)
def _locked_increments(lock, counter, n):
    for i in prange(n):
        while atomic_compare_exchange(lock, 0, 0, 1) != 0:
            pass
        # Plain, non-atomic read-modify-writes: only the lock protects them.
        counter[0] += 1
        counter[1] += i
        atomic_store(lock, 0, 0)


@njit(parallel=True)
def _cas_counter(counter, claimed):
    for i in prange(claimed.shape[0]):
        old = atomic_load(counter, 0)
        while True:
            seen = atomic_compare_exchange(counter, 0, old, old + 1)
            if seen == old:
                break
            old = seen
        claimed[i] = old


@njit(parallel=True)
def _exchange_all(slot, olds):
    for i in prange(olds.shape[0]):
        olds[i] = atomic_exchange(slot, 0, i + 1)


def _run_update_all(idx, terms, vals, init_lo, init_hi):
    dtype = vals.dtype
    acc = np.zeros((2, 4), dtype)
    acc[1] = 10**6
    lo, hi = np.full((2, 4), init_lo, dtype), np.full((2, 4), init_hi, dtype)
    old_lo, old_hi = np.empty_like(vals), np.empty_like(vals)
    _update_all(acc, lo, hi, idx, terms, vals, old_lo, old_hi)
    return acc, lo, hi, old_lo, old_hi


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=10)  # each example is REPEAT-fold already
@given(data=st.integers(1, 200).flatmap(lambda n: st.tuples(
    hnp.arrays(np.int64, n, elements=st.integers(0, 3)),
    hnp.arrays(np.int64, n, elements=st.integers(0, 100)),
    hnp.arrays(np.float64, n, elements=st.floats(-1e6, 1e6)))))
def test_updates_are_exact_under_contention(dtype, data):
    # Sums of small integers are exact in any order, even in float32;
    # min and max take any value.
    idx, terms, vals = data
    if np.dtype(dtype).kind == "u":
        vals = np.abs(vals)
    idx = np.tile(idx, REPEAT)
    terms = np.tile(terms, REPEAT).astype(dtype)
    vals = np.tile(vals, REPEAT).astype(dtype)
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else np.iinfo(dtype)
    acc, lo, hi, old_lo, old_hi = _run_update_all(idx, terms, vals, info.max,
                                                  info.min)

    ref_acc = np.zeros((2, 4), dtype)
    ref_acc[1] = 10**6
    ref_lo, ref_hi = np.full(4, info.max, dtype), np.full(4, info.min, dtype)
    np.add.at(ref_acc[0], idx, terms)
    np.subtract.at(ref_acc[1], idx, terms)
    np.minimum.at(ref_lo, idx, vals)
    np.maximum.at(ref_hi, idx, vals)
    np.testing.assert_array_equal(acc, ref_acc)
    for row in range(2):
        np.testing.assert_array_equal(lo[row], ref_lo)
        np.testing.assert_array_equal(hi[row], ref_hi)
    # Every value a fetch returned was stored there at some point...
    for old, init in ((old_lo, info.max), (old_hi, info.min)):
        assert np.isin(old, np.append(vals, init)).all()
    # ...and the stored value only ever moved one way.
    assert (old_lo >= lo[1, idx]).all() and (old_hi <= hi[1, idx]).all()


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_min_max_ignore_nan_values(dtype):
    vals = np.array([3.0, np.nan, -2.5, 7.0, np.nan] * 4000, dtype)
    idx = np.zeros(vals.shape[0], np.int64)
    _, lo, hi, _, _ = _run_update_all(idx, vals, vals, np.inf, -np.inf)
    assert (lo[:, 0] == np.nanmin(vals)).all()
    assert (hi[:, 0] == np.nanmax(vals)).all()


@pytest.mark.parametrize("func", [atomic_min, atomic_max,
                                  atomic_fetch_min, atomic_fetch_max])
def test_a_stored_nan_stays(func):
    @njit
    def update(a):
        func(a, 0, 1.0)

    a, b = np.array([np.nan]), np.array([np.nan])
    update(a)
    func(b, 0, 1.0)
    assert np.isnan(a[0]) and np.isnan(b[0])


@pytest.mark.parametrize("dtype", [np.int32, np.float64])
def test_fetch_add_and_sub_hand_out_each_value_once(dtype):
    n = 100_000
    up, down = np.zeros(1, dtype), np.full(1, n, dtype)
    olds_up, olds_down = np.empty(n, dtype), np.empty(n, dtype)
    _fetch_add_sub(up, down, olds_up, olds_down)
    assert up[0] == n and down[0] == 0
    np.testing.assert_array_equal(np.sort(olds_up), np.arange(n))
    np.testing.assert_array_equal(np.sort(olds_down), np.arange(1, n + 1))


def test_compare_exchange_spin_lock_gives_mutual_exclusion():
    n = 100_000
    lock, counter = np.zeros(1, np.int32), np.zeros(2, np.int64)
    _locked_increments(lock, counter, n)
    assert lock[0] == 0
    assert counter[0] == n and counter[1] == n * (n - 1) // 2


@pytest.mark.parametrize("dtype", [np.float32])
def test_compare_exchange_counter_claims_each_value_once(dtype):
    n = 50_000
    counter, claimed = np.zeros(1, dtype), np.empty(n, dtype)
    _cas_counter(counter, claimed)
    assert counter[0] == n
    np.testing.assert_array_equal(np.sort(claimed), np.arange(n))


def test_exchange_passes_every_value_on_exactly_once():
    n = 100_000
    slot, olds = np.zeros(1, np.int64), np.empty(n, np.int64)
    _exchange_all(slot, olds)
    seen = np.sort(np.append(olds, slot[0]))
    np.testing.assert_array_equal(seen, np.arange(n + 1))


def test_compare_exchange_compares_float_bit_patterns():
    @njit
    def cas(a, expected):
        return atomic_compare_exchange(a, 0, expected, 5.0)

    def interpreted(a, expected):
        return atomic_compare_exchange(a, 0, expected, 5.0)

    for call in (cas, interpreted):
        a = np.array([0.0])
        assert call(a, -0.0) == 0.0 and a[0] == 0.0  # no swap
        a = np.array([np.nan])
        call(a, np.nan)
        assert a[0] == 5.0  # the same NaN bits do match


@njit  # layouts, not contention, are under test here
def _add_nd(a, b, rows, cols):
    for k in range(rows.shape[0]):
        atomic_add(a, (rows[k], cols[k]), 1)
        atomic_fetch_add(b, (rows[k], -1 - cols[k]), 1.5)


@pytest.mark.parametrize("layout", ["C", "F", "transposed", "strided"])
def test_tuple_index_respects_layout(layout):
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 3, 30_000), rng.integers(0, 4, 30_000)
    base_a, base_b = np.zeros((3, 8), np.int64), np.zeros((3, 8))
    if layout == "F":
        base_a, base_b = np.asfortranarray(base_a), np.asfortranarray(base_b)
    if layout == "transposed":
        base_a, base_b = np.zeros((8, 3), np.int64).T, np.zeros((8, 3)).T
    a, b = (base_a[:, ::2], base_b[:, ::2]) if layout == "strided" else (
        base_a[:, :4], base_b[:, :4])
    _add_nd(a, b, rows, cols)
    ref = np.zeros((3, 4), np.int64)
    np.add.at(ref, (rows, cols), 1)
    np.testing.assert_array_equal(a, ref)
    np.testing.assert_array_equal(b, 1.5 * ref[:, ::-1])
    assert base_a.sum() == a.sum()  # nothing written outside the view


def test_load_and_store_round_trip():
    @njit
    def copy(src, dst):
        for i in range(src.shape[0]):
            atomic_store(dst, (i, 1), atomic_load(src, i) * 2)

    src = np.arange(1000, dtype=np.float32)
    dst = np.zeros((1000, 2), np.float32)
    copy(src, dst)
    np.testing.assert_array_equal(dst[:, 1], 2 * src)
    assert not dst[:, 0].any()


def test_load_accepts_read_only_arrays():
    @njit
    def load(a):
        return atomic_load(a, 1)

    a = np.arange(3)
    a.flags.writeable = False
    assert load(a) == 1 and atomic_load(a, 1) == 1


def _typing_error(func, *args):
    @njit
    def call(*a):
        return func(*a)

    with pytest.raises(TypingError) as err:
        call(*args)
    return str(err.value)


@pytest.mark.parametrize("args, why", [
    ((np.zeros(3, np.int16), 0, 1), "unsupported element type int16"),
    ((np.zeros(3, np.complex128), 0, 1), "unsupported element type complex128"),
    ((3.0, 0, 1), "first argument must be an array"),
    ((np.zeros((2, 2)), 0, 1), "1 index(es) given for a 2-D array"),
    ((np.zeros(2), 0.5, 1), "index must be an integer or a tuple"),
    ((np.zeros(2), 0, 1j), "value must be a real number"),
])
@pytest.mark.parametrize("func", [atomic_add, atomic_fetch_max, atomic_store])
def test_bad_types_give_a_typing_error_naming_the_function(func, args, why):
    message = _typing_error(func, *args)
    assert f"{func.__name__}: {why}" in message


def test_writing_to_a_read_only_array_is_a_typing_error():
    a = np.zeros(2)
    a.flags.writeable = False
    assert "atomic_sub: the array is read-only" in _typing_error(
        atomic_sub, a, 0, 1)


def test_interpreter_versions_follow_the_same_rules():
    a = np.array([5, 9], np.int32)
    atomic_add(a, 0, 2)
    atomic_sub(a, -1, 1.9)  # converted to int32 first, as in compiled code
    assert a.tolist() == [7, 8]
    assert atomic_fetch_add(a, (0,), 1) == 7 and a[0] == 8
    assert atomic_fetch_sub(a, 0, 3) == 8 and a[0] == 5
    assert atomic_fetch_min(a, 1, 3) == 8 and a[1] == 3
    assert atomic_fetch_max(a, 1, 1) == 3 and a[1] == 3
    assert atomic_exchange(a, 0, 4) == 5 and atomic_load(a, 0) == 4
    assert atomic_compare_exchange(a, 0, 3, 0) == 4 and a[0] == 4
    assert atomic_compare_exchange(a, 0, 4, 0) == 4 and a[0] == 0
    atomic_store(a, 1, -1)
    atomic_min(a, 1, -3)
    atomic_max(a, 0, 6)
    assert a.tolist() == [6, -3]
    assert isinstance(atomic_fetch_add(a, 0, 1), np.int32)


@pytest.mark.parametrize("call, error", [
    (lambda: atomic_add([1, 2], 0, 1), "atomic_add: expected a NumPy array"),
    (lambda: atomic_max(np.zeros(2, np.int8), 0, 1),
     "atomic_max: unsupported element type int8"),
    (lambda: atomic_load(np.zeros((2, 2)), 0),
     "atomic_load: index 0 does not select one element of a 2-D array"),
    (lambda: atomic_store(np.zeros(9, np.uint8)[1:].view(np.float64), 0, 1),
     "atomic_store: the array is not aligned"),
])
def test_interpreter_versions_reject_bad_arguments(call, error):
    with pytest.raises(TypeError, match=error):
        call()


def test_interpreter_versions_are_atomic_across_python_threads():
    counter = np.zeros(1, np.int64)

    def work():
        for _ in range(2000):
            atomic_add(counter, 0, 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter[0] == 8000


def test_kernels_run_as_plain_python_with_jit_disabled(run_python):
    script = textwrap.dedent("""
        import numpy as np
        from numba import njit, prange
        from kkpy.core._atomics import atomic_fetch_add, atomic_max

        @njit(parallel=True)
        def kernel(counter, olds, top):
            for i in prange(olds.shape[0]):
                olds[i] = atomic_fetch_add(counter, 0, 1)
                atomic_max(top, 0, i)

        counter, olds, top = np.zeros(1, np.int64), np.empty(50, np.int64), np.zeros(1)
        kernel(counter, olds, top)
        assert not hasattr(kernel, "signatures"), "jit was not disabled"
        assert counter[0] == 50 and top[0] == 49
        assert sorted(olds) == list(range(50))
        print("ok")
    """)
    assert run_python(script, NUMBA_DISABLE_JIT="1").stdout.strip() == "ok"
