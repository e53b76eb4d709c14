"""CrsMatrix in scipy's world: operators with scipy and numpy, scipy's attributes, scipy.sparse.linalg."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given
from hypothesis import strategies as st

from crs_strategies import crs, magnitude
from kkpy.sparse import CrsMatrix
from test_dropin import assert_same


@given(data=st.data(), m=st.integers(0, 6), n=st.integers(0, 6))
def test_sums_and_scalar_maps_match_scipy(data, m, n):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    A = data.draw(crs(m, n, kind="int", dtype=dtype))
    B = data.draw(crs(m, n, kind="int", dtype=dtype))
    SA, SB = A.to_scipy(), B.to_scipy()
    for got, want in [(A + B, SA + SB), (A - B, SA - SB), (A + SB, SA + SB), (A - SB, SA - SB)]:
        assert isinstance(got, CrsMatrix)
        assert_same(got, want, check_type=False)
    for got, want in [(SB + A, SB + SA), (SB - A, SB - SA)]:  # scipy on the left keeps its kind
        assert_same(got, want)
    s = data.draw(st.sampled_from([2, -1.5, np.float32(0.5), 0]))
    for got, want in [(A * s, SA * s), (s * A, s * SA), (-A, -SA)]:
        assert isinstance(got, CrsMatrix)
        assert_same(got, want, check_type=False)
    if s != 0:  # 1 / s is not exact: the same stored entries, values within rounding
        got, want = A / s, SA / s
        assert got.dtype == want.dtype
        # scipy sums repeated entries before it divides, kkpy after: both are
        # within rounding of the sum of the entries' magnitudes, not of the
        # (possibly cancelled) result.
        scale = magnitude(A).toarray() / abs(s)
        assert np.all(np.abs(got.toarray() - want.toarray()) <= 1e-6 * scale)


@given(data=st.data(), m=st.integers(0, 5), k=st.integers(0, 5), n=st.integers(0, 5))
def test_matmul_operator_both_ways(data, m, k, n):
    A = data.draw(crs(m, k, kind="int", dtype=np.float64))
    B = data.draw(crs(k, n, kind="int", dtype=np.float64))
    SA, SB = A.to_scipy(), B.to_scipy()
    assert isinstance(A @ B, CrsMatrix) and isinstance(A @ SB, CrsMatrix)
    assert_same(A @ B, SA @ SB, check_type=False)
    assert_same(A @ SB, SA @ SB, check_type=False)
    for cls in (sp.csr_array, sp.csr_matrix):   # scipy on the left: scipy's kind comes back
        assert_same(cls(SA) @ B, cls(SA) @ SB)
    x, X = np.arange(k) - 1.0, np.arange(2.0 * m).reshape(2, m)
    assert np.array_equal(A @ x, SA @ x) and np.array_equal(A.dot(x), SA @ x)
    assert np.array_equal(X @ A, X @ SA)
    assert np.array_equal(np.ones(m) @ A, np.ones(m) @ SA)
    assert np.array_equal(np.asmatrix(np.ones((2, m))) @ A, np.asmatrix(np.ones((2, m))) @ SA)
    assert isinstance(np.asmatrix(np.ones((2, m))) @ A, np.matrix)


def test_scipys_attributes_are_read_only_views():
    S = sp.csr_array(np.array([[0.0, 1.5], [2.0, 0.0]]))
    A = CrsMatrix.from_scipy(S)
    assert (A.shape, A.ndim, A.nnz, A.dtype, A.format) == ((2, 2), 2, 2, np.float64, "csr")
    for name, kokkos in (("indptr", "row_map"), ("indices", "entries"), ("data", "values")):
        view = getattr(A, name)
        assert type(view) is np.ndarray and np.shares_memory(view, getattr(A, kokkos))
        assert np.array_equal(view, getattr(S, name))
        with pytest.raises(ValueError, match="read-only"):
            view[0] = 1
    assert getattr(A, "values").flags.writeable  # the Kokkos spelling stays as it was
    T = A.tocsr()
    assert isinstance(T, sp.csr_array) and np.shares_memory(T.data, A.values)


def test_operators_refuse_what_they_do_not_define():
    A = CrsMatrix.from_scipy(sp.eye_array(2, format="csr"))
    for bad in (lambda: A * A, lambda: A + 1, lambda: A + np.ones((2, 2)), lambda: A @ "x",
                lambda: A @ 2, lambda: sp.csr_matrix(A.to_scipy()) * A, lambda: 1 / A):
        with pytest.raises(TypeError):
            bad()
    with pytest.raises(ValueError, match="inconsistent shapes"):
        A + sp.eye_array(3)


def poisson(n):
    return sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1],
                          format="csr")


def test_scipy_linalg_solvers_take_a_crs_matrix():
    S = poisson(40)
    A = CrsMatrix.from_scipy(S)
    b = np.sin(np.arange(40.0))
    x, info = spla.cg(A, b, rtol=1e-12)
    assert info == 0 and np.allclose(S @ x, b, atol=1e-8)
    N = S + sp.diags_array([0.5 * np.ones(39)], offsets=[1], format="csr")  # not symmetric
    x, info = spla.gmres(CrsMatrix.from_scipy(N), b, rtol=1e-12, restart=40)
    assert info == 0 and np.allclose(N @ x, b, atol=1e-8)
    x = spla.lsqr(CrsMatrix.from_scipy(N), b, atol=1e-12, btol=1e-12)[0]  # uses rmatvec
    assert np.allclose(N @ x, b, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_aslinearoperator_applies_the_matrix_and_its_adjoint(dtype):
    rng = np.random.default_rng(0)
    D = rng.integers(-3, 4, (5, 4)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        D = D + 1j * rng.integers(-3, 4, (5, 4))
    A = CrsMatrix.from_scipy(sp.csr_array(D))
    L = spla.aslinearoperator(A)
    assert L.shape == (5, 4) and L.dtype == dtype
    x, y = np.arange(4.0) + 1j * (dtype == np.complex128), np.arange(5.0)
    X, Y = np.ones((4, 3)), np.arange(10.0).reshape(5, 2)
    assert np.allclose(L.matvec(x), D @ x) and np.allclose(L.rmatvec(y), D.conj().T @ y)
    assert np.allclose(L.matmat(X), D @ X) and np.allclose(L.rmatmat(Y), D.conj().T @ Y)
    assert np.allclose((L.H @ y), D.conj().T @ y) and np.allclose(A.H.toarray(), D.conj().T)
