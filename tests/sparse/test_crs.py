"""CrsMatrix against scipy: construction, from_coo, sort_and_merge, conversions, transpose."""
import contextlib
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from csr_equal import same
from crs_strategies import (INDEX_DTYPES, VALUE_DTYPES, assert_canonical, assert_structure, coo,
                            crs, crs_from_triples, pattern)
from kkpy.sparse import CrsMatrix, as_crs, transpose


def row_sort(rank_max):
    """Rows up to ``rank_max`` long sorted by rank, longer ones by merge sort (None: as tuned)."""
    from kkpy.sparse import _tuning

    if rank_max is None:
        return contextlib.nullcontext()
    return mock.patch.object(_tuning, "SORT_RANK_MAX", rank_max)


def shares(a, b):
    """``a`` and ``b`` share memory (vacuously true for empty arrays, which have none)."""
    return np.asarray(a).size == 0 or np.shares_memory(a, b)


def summed_in_order(rows, cols, vals, shape, dtype):
    """Dense ``shape`` array of the triples, repeats added one after another in input order."""
    out = np.zeros(shape, dtype)
    np.add.at(out, (rows, cols), np.asarray(vals, dtype))  # unbuffered: sequential, in order
    return out


def assert_merged(C, rows, cols, vals, shape, dtype):
    """``C`` is the canonical CSR of the triples: structure from scipy, sums bit for bit."""
    P = sp.coo_array((np.ones(len(rows)), (rows, cols)), shape=shape).tocsr()
    P.sum_duplicates()
    assert_structure(C, P)
    want = summed_in_order(rows, cols, vals, shape, dtype)
    assert np.array_equal(np.asarray(C.values), want[P.nonzero()])


@pytest.mark.parametrize("rank_max", [None, 1])
@given(t=coo(kind="float"), dtype=st.sampled_from(VALUE_DTYPES),
       index_dtype=st.sampled_from(INDEX_DTYPES + (None,)))
def test_from_coo_sums_duplicates_in_input_order_and_sorts(rank_max, t, dtype, index_dtype):
    rows, cols, vals, shape = t
    vals = vals.astype(dtype)
    with row_sort(rank_max):
        C = CrsMatrix.from_coo(rows, cols, vals, shape, index_dtype=index_dtype)
    assert C.dtype == dtype
    assert C.index_dtype == (np.int32 if index_dtype is None else index_dtype)
    assert_merged(C, rows, cols, vals, shape, dtype)


@given(t=coo(kind="int"))
def test_from_coo_keeps_explicit_zeros_and_matches_scipy(t):
    rows, cols, vals, shape = t
    C = CrsMatrix.from_coo(rows, cols, vals, shape)
    S = sp.coo_array((vals, (rows, cols)), shape=shape).tocsr()
    assert same(C.to_scipy(), S)            # scipy keeps summed and explicit zeros too


def test_from_coo_stores_integer_values_as_int64():
    C = CrsMatrix.from_coo([0, 0], [1, 1], np.array([2, 3], np.int16), (1, 2))
    assert C.dtype == np.int64 and C.values.tolist() == [5]


@pytest.mark.parametrize("rank_max", [None, 1])
@given(A=crs(kind="float"))
def test_sort_and_merge_matches_from_coo_of_the_same_entries(rank_max, A):
    rm = np.asarray(A.row_map)
    rows = np.repeat(np.arange(A.nrows), np.diff(rm))
    cols, vals = np.asarray(A.entries), np.asarray(A.values)
    with row_sort(rank_max):
        M = A.sort_and_merge()
    assert M.dtype == A.dtype and M.index_dtype == A.index_dtype and M.shape == A.shape
    assert_merged(M, rows, cols, vals, A.shape, A.dtype)
    # the input is left alone
    assert np.array_equal(np.asarray(A.row_map), rm) and np.array_equal(A.entries, cols)


@given(A=crs(kind="float"))
def test_to_scipy_shares_memory_and_round_trips(A):
    S = A.to_scipy()
    assert S.shape == A.shape and S.dtype == A.dtype
    # Shared (indices read-only) when the rows are canonical; else copied, since
    # scipy sums repeated entries in place.
    canonical = sp.csr_array((np.array(A.values), np.array(A.entries), np.array(A.row_map)),
                             shape=A.shape).has_canonical_format
    for got, want in ((S.data, A.values), (S.indices, A.entries), (S.indptr, A.row_map)):
        assert shares(got, want) == canonical and np.array_equal(got, want)
    assert not (canonical and (S.indices.flags.writeable or S.indptr.flags.writeable))
    before = [np.array(a) for a in (A.values, A.entries, A.row_map)]
    abs(S)  # scipy canonicalises S in place: A must not change
    for now, then in zip((A.values, A.entries, A.row_map), before):
        assert np.array_equal(now, then, equal_nan=True)
    B = CrsMatrix.from_scipy(A.to_scipy())
    assert np.array_equal(B.toarray(), A.toarray())


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok", "bsr"])
@pytest.mark.parametrize("kind", ["array", "matrix"])
@settings(max_examples=8)                   # twelve variants of one simple property
@given(t=coo(kind="int"))
def test_as_crs_accepts_every_scipy_format(fmt, kind, t):
    rows, cols, vals, shape = t
    S = sp.coo_array((vals, (rows, cols)), shape=shape).asformat(fmt)
    if kind == "matrix":
        S = sp.coo_matrix(S).asformat(fmt)
    A = as_crs(S)
    assert isinstance(A, CrsMatrix) and A.shape == shape
    assert np.array_equal(A.toarray(), S.toarray())
    if fmt == "csr":                        # zero-copy, as documented
        assert shares(A.values, S.data) and shares(A.entries, S.indices)


def test_as_crs_returns_a_crs_matrix_itself_and_refuses_dense_arrays():
    A = CrsMatrix.from_coo([0], [0], [1.0], (1, 1))
    assert as_crs(A) is A
    with pytest.raises(TypeError, match="scipy.sparse"):
        as_crs(np.eye(2))
    with pytest.raises(TypeError):
        CrsMatrix.from_scipy(np.eye(2))


@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.bool_, np.int8, np.complex64])
def test_from_scipy_value_dtypes(dtype):
    S = sp.csr_array(np.array([[0, 1], [1, 1]], dtype))
    A = CrsMatrix.from_scipy(S)
    assert A.dtype == (np.int64 if np.dtype(dtype).kind in "biu" else dtype)
    assert np.array_equal(A.toarray(), S.toarray().astype(A.dtype))


@pytest.mark.parametrize("dtype", [np.longdouble, np.clongdouble, np.uint64])
def test_values_that_do_not_fit_are_refused_not_rounded(dtype):
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        CrsMatrix(np.ones(1, dtype), [0], [0, 1], 1)


@given(A=crs(kind="float"))
def test_transpose_matches_scipy(A):
    T = transpose(A)
    assert T.shape == A.shape[::-1] and T.dtype == A.dtype and T.index_dtype == A.index_dtype
    # rows of the transpose are sorted; repeated entries stay, in their original order
    rm = np.asarray(T.row_map)
    for i in range(T.nrows):
        assert np.all(np.diff(np.asarray(T.entries)[rm[i]:rm[i + 1]]) >= 0)
    assert np.array_equal(pattern(T).toarray(), pattern(A).toarray().T)
    assert np.array_equal(T.toarray(), A.toarray().T)
    # Transposing twice sorts each row stably: a property exact to the bit.
    TT = A.T.T
    arm, aent, aval = np.asarray(A.row_map), np.asarray(A.entries), np.asarray(A.values)
    order = np.concatenate([arm[i] + np.argsort(aent[arm[i]:arm[i + 1]], kind="stable")
                            for i in range(A.nrows)] + [np.zeros(0, np.int64)]).astype(np.int64)
    assert np.array_equal(np.asarray(TT.row_map), arm)
    assert np.array_equal(np.asarray(TT.entries), aent[order])
    assert np.array_equal(np.asarray(TT.values), aval[order])


@given(A=crs(kind="float"))
def test_transpose_of_canonical_matrix_is_scipys_bit_for_bit(A):
    A = A.sort_and_merge()
    T = transpose(A.to_scipy())             # scipy input goes through as_crs
    assert_canonical(T)
    assert same(T.to_scipy(), A.to_scipy().T)


@pytest.mark.parametrize("shape", [(0, 0), (0, 4), (4, 0)])
def test_zero_sized_matrices(shape):
    A = CrsMatrix.from_coo([], [], [], shape)
    assert A.shape == shape and A.nnz == 0 and A.toarray().shape == shape
    assert transpose(A).shape == shape[::-1]
    assert A.sort_and_merge().shape == shape
    assert CrsMatrix.from_scipy(sp.csr_array(shape)).shape == shape


@pytest.mark.parametrize("args, kwargs, error, message", [
    (([0], [0], [1.0, 2.0], (1, 1)), {}, ValueError, "rows must be 1-D of length 2"),
    (([0.0], [0], [1.0], (1, 1)), {}, TypeError, "rows must hold integers"),
    (([1], [0], [1.0], (1, 1)), {}, ValueError, r"rows must lie in \[0, 1\)"),
    (([0], [-1], [1.0], (1, 1)), {}, ValueError, r"cols must lie in \[0, 1\)"),
    (([0], [0], [[1.0]], (1, 1)), {}, ValueError, "vals must be 1-D"),
    (([0], [0], [1.0], (1, -1)), {}, ValueError, "non-negative"),
    (([0], [0], [1.0], (1,)), {}, ValueError, "two integers"),
    (([0], [0], [1.0], (1, 1)), {"index_dtype": np.int16}, TypeError, "int32 or int64"),
    (([0], [0], ["a"], (1, 1)), {}, TypeError, "must be numbers"),
])
def test_from_coo_refuses_bad_triples(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        CrsMatrix.from_coo(*args, **kwargs)


def test_kokkos_constructor_order_and_accessors():
    A = CrsMatrix("M", 2, 3, 2, [1.0, 2.0], [0, 1, 2], [2, 0])
    assert (A.numRows(), A.numCols(), A.nnz, A.label) == (2, 3, 2, "M")
    assert np.array_equal(A.toarray(), [[0, 0, 1], [2, 0, 0]])


@pytest.mark.parametrize("args, message", [
    (([1.0], [0], [1, 1], 2), "start at 0"),
    (([1.0], [0], [0, 2], 2), "ends at"),
    (([1.0, 1.0], [0, 1], [0, 2, 1, 2], 2), "non-decreasing"),
    (([1.0], [5], [0, 1], 2), r"lie in \[0, 2\)"),
    (([1.0], [-1], [0, 1], 2), r"lie in \[0, 2\)"),
    (([1.0], [0], [0, 1], -1), "non-negative"),
])
def test_constructor_refuses_broken_structures(args, message):
    with pytest.raises(ValueError, match=message):
        CrsMatrix(*args)


def test_construction_shares_supported_arrays_and_widens_mixed_index_dtypes():
    vals, ent, rm = np.ones(2, np.float32), np.array([0, 1], np.int32), np.array([0, 2], np.int32)
    A = CrsMatrix(vals, ent, rm, 2)
    assert np.shares_memory(A.values, vals) and np.shares_memory(A.entries, ent)
    B = CrsMatrix(vals, ent, rm.astype(np.int64), 2)
    assert B.index_dtype == np.int64 and B.row_map.dtype == np.int64
    assert not np.shares_memory(CrsMatrix(vals, ent, rm, 2, copy=True).values, vals)


@given(t=coo(kind="int"), index_dtype=st.sampled_from(INDEX_DTYPES))
def test_astype_and_copy_keep_the_matrix(t, index_dtype):
    A = crs_from_triples(*t, np.float64, index_dtype)
    B = A.astype(np.float32)
    assert B.dtype == np.float32 and shares(B.entries, A.entries)
    assert np.array_equal(B.toarray(), A.toarray())
    C = A.copy()
    assert not np.shares_memory(C.values, A.values) and same(C.to_scipy(), A.to_scipy())
