"""Row-block kernels on matrices large enough for several blocks: thread counts change no bit."""
import numpy as np
import scipy.sparse as sp

import kkpy
from crs_strategies import bits, needs_two_threads
from kkpy.sparse import CrsMatrix, spadd, spmv, transpose


def triples(seed=0, n=300, m=200, nnz=4000):
    """Random triples with repeats, and two rows longer than the rank-sort limit."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.integers(0, n, nnz), np.full(80, 7), np.full(70, n - 1)])
    cols = rng.integers(0, m, rows.size)
    return rows, cols, rng.standard_normal(rows.size), (n, m)


def scipy_sum(rows, cols, vals, shape):
    S = sp.coo_array((vals, (rows, cols)), shape=shape).tocsr()
    S.sum_duplicates()
    return S


@needs_two_threads
def test_counting_sorts_give_the_same_bits_on_one_and_two_threads():
    rows, cols, vals, shape = triples()
    one, two = kkpy.Threads(1), kkpy.Threads(2)
    C1 = CrsMatrix.from_coo(rows, cols, vals, shape, space=one)
    assert bits(C1) == bits(CrsMatrix.from_coo(rows, cols, vals, shape, space=two))
    S = scipy_sum(rows, cols, vals, shape)
    assert np.array_equal(np.asarray(C1.row_map), S.indptr)
    assert np.array_equal(np.asarray(C1.entries), S.indices)
    assert np.allclose(np.asarray(C1.values), S.data, rtol=1e-12, atol=1e-12)
    U = CrsMatrix(vals[np.argsort(rows, kind="stable")], cols[np.argsort(rows, kind="stable")],
                  np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))]),
                  shape[1])
    assert bits(U.sort_and_merge(space=one)) == bits(U.sort_and_merge(space=two)) == bits(C1)
    T1 = transpose(U, space=one)
    assert bits(T1) == bits(transpose(U, space=two))
    assert np.array_equal(T1.toarray(), U.toarray().T)


@needs_two_threads
def test_spmv_transpose_repeats_its_bits_on_two_threads():
    rows, cols, vals, shape = triples(1)
    S = scipy_sum(rows, cols, vals, shape)
    x = np.random.default_rng(2).standard_normal(shape[0])
    ys = []
    for _ in range(3):
        y = np.full(shape[1], np.nan)
        spmv(1.0, S, x, 0.0, y, mode="T", space=kkpy.Threads(2))
        ys.append(y)
    assert np.array_equal(ys[0], ys[1]) and np.array_equal(ys[0], ys[2])
    assert np.allclose(ys[0], S.T @ x, rtol=1e-12, atol=1e-12)


def test_spadd_merge_of_sorted_operands_matches_the_accumulator():
    A = scipy_sum(*triples(3))
    B = scipy_sum(*triples(4))
    C = spadd(2.0, A, -1.0, B)
    D = spadd(2.0, A, -1.0, B, algorithm="dense")
    assert np.array_equal(np.asarray(C.row_map), np.asarray(D.row_map))
    assert np.array_equal(np.asarray(C.entries), np.asarray(D.entries))
    assert np.array_equal(np.asarray(C.values), np.asarray(D.values))
