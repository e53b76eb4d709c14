"""SpMV against scipy: ``y = beta*y + alpha*op(A)*x`` in place, vectors and multivectors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kkpy
from crs_strategies import VALUE_DTYPES, assert_close, crs, magnitude, ref, value_elements
from kkpy.sparse import CrsMatrix, spmv

# 0 and 1 are the BLAS special cases; the rest are exact in float32.
scalars = st.one_of(st.sampled_from([0.0, 1.0, -1.0]), st.floats(-2, 2, width=32))


@st.composite
def spmv_case(draw, mode=None):
    """``(A, x, y, mode, kind)``: vectors (1-D) or multivectors (2-D) that fit ``op(A)``."""
    kind = draw(st.sampled_from(["int", "float"]))
    A = draw(crs(kind=kind))
    mode = draw(st.sampled_from("NT")) if mode is None else mode
    nin, nout = (A.ncols, A.nrows) if mode == "N" else (A.nrows, A.ncols)
    width = draw(st.sampled_from([(), (1,), (3,)]))
    # x and y share a dtype (A's may differ): each combination is one more compilation.
    dtype = draw(st.sampled_from(VALUE_DTYPES))
    x = draw(hnp.arrays(dtype, (nin,) + width, elements=value_elements(kind)))
    y = draw(hnp.arrays(dtype, (nout,) + width, elements=value_elements(kind)))
    return A, x, y, mode, kind


def op(M, mode):
    return M if mode == "N" else M.T


@given(case=spmv_case(), alpha=scalars, beta=scalars, scipy_in=st.booleans())
def test_spmv_updates_y_in_place_like_scipy(case, alpha, beta, scipy_in):
    A, x, y, mode, kind = case
    y0 = y.copy()
    assert spmv(alpha, A.to_scipy() if scipy_in else A, x, beta, y, mode=mode) is None
    want = alpha * (op(ref(A), mode) @ x.astype(np.float64)) + beta * y0
    scale = abs(alpha) * (op(magnitude(A), mode) @ np.abs(x.astype(np.float64))) \
        + abs(beta) * np.abs(y0.astype(np.float64))
    # Integer values are exact unless alpha or beta carry fraction bits into float32 sums.
    exact = kind == "int" and float(alpha).is_integer() and float(beta).is_integer()
    assert_close(y, want, scale, A.nnz + 1, (A.dtype, x.dtype, y.dtype), exact)


@given(case=spmv_case(), alpha=scalars)
def test_beta_zero_overwrites_y_without_reading_it(case, alpha):
    A, x, y, mode, _ = case
    y[...] = np.nan
    spmv(alpha, A, x, 0.0, y, mode=mode)
    want = alpha * (op(ref(A), mode) @ x.astype(np.float64))
    scale = abs(alpha) * (op(magnitude(A), mode) @ np.abs(x.astype(np.float64)))
    assert not np.isnan(y).any()
    assert_close(y, want, scale, A.nnz + 1, (A.dtype, x.dtype, y.dtype))


@given(case=spmv_case(mode="N"))
def test_matmul_with_a_dense_operand_is_spmv(case):
    A, x, _, _, _ = case
    y = A @ x
    assert y.dtype == np.result_type(A.dtype, x.dtype) and y.shape == (A.nrows,) + x.shape[1:]
    want = ref(A) @ x.astype(np.float64)
    scale = magnitude(A) @ np.abs(x.astype(np.float64))
    assert_close(y, want, scale, A.nnz + 1, y.dtype)


def test_y_may_be_a_view():
    A = CrsMatrix.from_coo([0, 1, 1], [1, 0, 1], [2.0, 3.0, 4.0], (2, 2))
    y = kkpy.View.from_array("y", np.ones(2))
    spmv(2.0, A, np.array([1.0, -1.0]), 0.5, y)
    assert np.array_equal(np.asarray(y), [2 * -2.0 + 0.5, 2 * -1.0 + 0.5])


def test_transpose_mode_on_one_thread_repeats_its_bits():
    """Mode "T" adds blocks of rows into private copies of y: no atomics, the same bits."""
    import scipy.sparse as sp

    A = sp.random(50, 40, density=0.2, format="csr", random_state=3)
    x = np.random.default_rng(0).standard_normal(50)
    y1, y2 = np.zeros(40), np.zeros(40)
    spmv(1.0, A, x, 0.0, y1, mode="T", space=kkpy.Threads(1))
    spmv(1.0, A, x, 0.0, y2, mode="T", space=kkpy.Threads(1))
    assert np.array_equal(y1, y2)
    assert_close(y1, A.T @ x, abs(A.T) @ abs(x), A.nnz, np.float64)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"mode": "H"}, ValueError, "mode"),
    ({"x": np.ones(3)}, ValueError, "needs x of 2"),
    ({"y": np.ones(3)}, ValueError, "y of 2"),
    ({"x": np.ones((2, 2))}, ValueError, "same number of columns"),
    ({"y": np.ones(2, np.int64), "alpha": 1, "beta": 0}, TypeError,
     "y's dtype int64 cannot hold products of A's float64"),
    ({"y": np.ones(2, np.int64)}, TypeError, "alpha must be a scalar that y's dtype int64 holds"),
    ({"y": np.ones(2, np.int32)}, TypeError, "y must be an ndarray or View of float32"),
    ({"y": [0.0, 0.0]}, TypeError, "y must be an ndarray"),
    ({"alpha": 1j}, TypeError, "alpha must be a scalar that y's dtype float64 holds"),
    ({"beta": "1"}, TypeError, "beta must be a scalar"),
    ({"A": CrsMatrix.from_coo([0], [1], [1j], (2, 2))}, TypeError, "cannot hold products"),
])
def test_bad_arguments_raise(kwargs, error, message):
    args = {"alpha": 1.0, "A": CrsMatrix.from_coo([0], [1], [1.0], (2, 2)), "x": np.ones(2),
            "beta": 0.0, "y": np.zeros(2)}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        spmv(**args)
