"""The drop-in (``matmul``, ``matvec``) against scipy: kind, dtype and explicit zeros of results.

scipy is the reference for everything: the class of the result, its dtype
(``np.result_type``, integers wrapping) and its stored entries (products
drop exact zeros).  Values are small integers, so every result is exact in
every dtype and must match scipy's bit for bit, stored entries included.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from crs_strategies import crs
from kkpy.sparse import CrsMatrix, matmul, matvec


def canonical(S):
    """``S`` as a sorted scipy CSR array with summed duplicates (its stored zeros kept)."""
    C = sp.csr_array(S.to_scipy() if isinstance(S, CrsMatrix) else S, copy=True)
    C.sum_duplicates()
    return C


def assert_same(got, want, check_type=True):
    """Same class (unless told), dtype, stored positions and values as scipy's ``want``."""
    if check_type:
        assert type(got) is type(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    g, w = canonical(got), canonical(want)
    assert np.array_equal(g.indptr, w.indptr) and np.array_equal(g.indices, w.indices)
    assert np.array_equal(g.data, w.data)


def random_csr(shape, dtype, seed, density=0.4, low=-3, high=4):
    rng = np.random.default_rng(seed)
    S = sp.random_array(shape, density=density, rng=rng, format="csr",
                        data_sampler=lambda size: rng.integers(low, high, size))
    if np.dtype(dtype).kind == "c":
        return (S + 1j * S[:, ::-1]).astype(dtype).tocsr()
    return S.astype(dtype)


# Pairs scipy supports, one per rule: same-kind, wrap-around, bool logic, promotion
# across kinds (int64 with uint64 is float64), and complex with real.
DTYPE_PAIRS = [(np.int32, np.int32), (np.int8, np.int8), (np.bool_, np.bool_),
               (np.int64, np.uint64), (np.uint64, np.uint64), (np.float32, np.float32),
               (np.float32, np.int64), (np.complex64, np.float32), (np.complex128, np.int32)]


def value_range(dtype):
    """Small values, but int8 ones whose products wrap around, and none below 0 if unsigned."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return 0, 2
    if dtype.itemsize == 1:
        return (0 if dtype.kind == "u" else -100), 100
    return (0 if dtype.kind == "u" else -3), 4


@pytest.mark.parametrize("da, db", DTYPE_PAIRS)
def test_dtype_rules_follow_scipy_on_every_product(da, db):
    A = random_csr((7, 6), da, 1, 0.4, *value_range(da))
    B = random_csr((6, 5), db, 2, 0.4, *value_range(db))
    assert_same(matmul(A, B), A @ B)
    for x in (np.arange(6).astype(db), np.arange(12).reshape(6, 2).astype(db)):
        y = matmul(A, x)
        assert y.dtype == (A @ x).dtype and np.array_equal(y, A @ x)
        assert np.array_equal(matvec(A, x), A @ x)
    x = np.arange(14).reshape(2, 7).astype(db)
    y = matmul(x, A)
    assert y.dtype == (x @ A).dtype and np.array_equal(y, x @ A)


@pytest.mark.parametrize("dtype", [np.longdouble, np.clongdouble])
def test_extended_precision_is_refused_not_rounded(dtype):
    A = sp.csr_array(np.eye(2, dtype=dtype))
    with pytest.raises(TypeError, match="extended precision"):
        matmul(A, A)
    with pytest.raises(TypeError, match="extended precision"):
        matmul(sp.eye_array(2), np.ones(2, dtype))
    with pytest.raises(TypeError, match="extended precision"):
        CrsMatrix.from_scipy(A)


formats = st.sampled_from([sp.csr_array, sp.csr_matrix, sp.coo_array, sp.csc_matrix,
                           sp.csc_array, CrsMatrix])


def holding(fmt, A):
    """The CrsMatrix ``A`` as the user would hold it: class ``fmt``."""
    return A if fmt is CrsMatrix else fmt(A.to_scipy())


def reference(fmt, A):
    return holding(sp.csr_array if fmt is CrsMatrix else fmt, A)


@given(data=st.data(), m=st.integers(0, 6), k=st.integers(0, 6), n=st.integers(0, 6))
def test_sparse_products_give_what_scipy_gives(data, m, k, n):
    fa, fb = data.draw(formats), data.draw(formats)
    A = data.draw(crs(m, k, kind="int", dtype=np.float64))
    B = data.draw(crs(k, n, kind="int", dtype=np.float64))
    got = matmul(holding(fa, A), holding(fb, B))
    want = reference(fa, A) @ reference(fb, B)
    if fa is CrsMatrix:
        assert isinstance(got, CrsMatrix)
        assert_same(got, want, check_type=False)
    else:
        assert_same(got, want)
    assert got.nnz == want.nnz and np.all(canonical(got).data != 0)  # no stored zeros


@given(data=st.data(), m=st.integers(0, 6), k=st.integers(0, 6))
def test_dense_operands_on_either_side(data, m, k):
    fa = data.draw(formats)
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    A = data.draw(crs(m, k, kind="int", dtype=dtype))
    S, R = holding(fa, A), reference(fa, A)
    if hasattr(R, "tocsr"):
        # scipy's COO gives a scalar 0.0, not a vector, when the inner dimension is 0;
        # its CSR (and kkpy) give the vector of zeros the shapes call for.
        R = R.tocsr()
    for shape in [(k,), (k, 3), (k, 1)]:
        x = np.arange(np.prod(shape)).reshape(shape) % 5 - 2.0
        assert np.array_equal(matmul(S, x), R @ x)
        assert (matmul(S, x)).dtype == (R @ x).dtype
    for shape in [(m,), (2, m)]:
        x = np.arange(np.prod(shape)).reshape(shape) % 5 - 2.0
        assert np.array_equal(matmul(x, S), x @ R)
    X = np.asmatrix(np.ones((k, 2)))
    assert isinstance(matmul(S, X), np.matrix) and np.array_equal(matmul(S, X), R @ X)


def test_pydata_sparse_arrays_are_taken_and_given_back():
    sparse = pytest.importorskip("sparse")
    if not hasattr(sparse, "COO"):  # the name found was this folder, tests/sparse
        pytest.skip("pydata/sparse is not installed (pip install sparse)")
    S = random_csr((6, 6), np.float64, 3)
    for cls in (sparse.COO, sparse.GCXS):
        P = cls.from_scipy_sparse(S)
        C = matmul(P, P)
        assert type(C) is cls and np.array_equal(C.todense(), (S @ S).toarray())
        assert np.array_equal(matmul(P, np.ones(6)), S @ np.ones(6))
        assert np.array_equal(matmul(np.ones(6), P), np.ones(6) @ S)
        assert isinstance(matmul(S, P), sp.csr_array)


def test_explicit_zeros_the_same_rule_on_every_path():
    # One stored zero, and a product that cancels: scipy stores neither.
    S = sp.csr_array((np.array([1.0, 0.0, 1.0, -1.0]), np.array([0, 1, 0, 1]),
                      np.array([0, 2, 4])), shape=(2, 2))
    K = CrsMatrix.from_scipy(S)
    want = S @ S
    for got in (matmul(S, S), matmul(K, K), K @ K, S @ K, K @ S, matmul(K, S)):
        assert got.nnz == want.nnz and np.array_equal(got.toarray(), want.toarray())
    assert (K - K).nnz == (S - S).nnz == 0 and (K + K).nnz == (S + S).nnz
    # One-to-one maps keep every stored entry, zeros included, as scipy does.
    assert (K * 2).nnz == (S * 2).nnz == 4 and (-K).nnz == (-S).nnz == 4
    assert (K / 2).nnz == (S / 2).nnz and K.T.nnz == S.T.nnz


def test_integer_products_wrap_as_scipys_and_drop_the_zeros_they_make():
    # 16 * 16 = 256 wraps to 0 in int8 (and in uint8): scipy stores no entry there.
    for dtype in (np.int8, np.uint8):
        S = sp.csr_array(np.array([[16, 3], [0, 16]], dtype))
        assert_same(matmul(S, S), S @ S)
        assert matmul(S, S).nnz == (S @ S).nnz == 1
    big = sp.csr_array(np.array([[2 ** 62, 3]], np.int64))
    col = sp.csr_array(np.array([[4], [1]], np.int64))
    assert_same(matmul(big, col), big @ col)  # exact in int64, where float64 would round


def test_bad_operands_raise_one_clear_error():
    S = sp.eye_array(3, format="csr")
    with pytest.raises(TypeError, match="a or b must be sparse"):
        matmul(np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="a's columns must match b's rows"):
        matmul(S, np.ones(4))
    with pytest.raises(ValueError, match="a's columns must match b's rows"):
        matmul(S, sp.eye_array(4))
    with pytest.raises(ValueError, match="scalar operands are not allowed"):
        matmul(S, 2.0)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        matmul(S, np.ones((3, 1, 1)))
    with pytest.raises(TypeError, match="cannot use an operand"):
        matmul(S, object())
    with pytest.raises(TypeError, match="x must be dense"):
        matvec(S, S)
    with pytest.raises(TypeError, match="a must be sparse"):
        matvec(np.ones((3, 3)), np.ones(3))
