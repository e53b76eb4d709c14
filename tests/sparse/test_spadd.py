"""SpAdd against scipy: ``alpha*A + beta*B`` in one call and in two phases with a handle."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import kkpy
from crs_strategies import (assert_close, assert_structure, bits, crs, magnitude,
                            needs_two_threads, new_values, pattern, planning, ref)
from kkpy.sparse import CrsMatrix, SpAddHandle, spadd, spadd_numeric, spadd_symbolic

ALGORITHMS = ("auto", "dense", "hash")
# Exact in float32, so kkpy's scalars (converted to the result dtype) equal the reference's.
scalars = st.one_of(st.integers(-3, 3).map(float), st.floats(-2, 2, width=32))


@st.composite
def operands(draw, kind=None):
    """``(A, B, kind)`` of the same shape (possibly 0-sized)."""
    kind = draw(st.sampled_from(["int", "float"])) if kind is None else kind
    n, m = draw(st.integers(0, 9)), draw(st.integers(0, 9))
    return draw(crs(n, m, kind=kind)), draw(crs(n, m, kind=kind)), kind


def assert_sum(C, alpha, A, beta, B, kind):
    """``C == alpha*A + beta*B`` on the union of both structures (cancellations kept), sorted."""
    assert C.dtype == np.result_type(A.dtype, B.dtype)
    assert C.index_dtype == np.result_type(A.index_dtype, B.index_dtype)
    union = sp.csr_array(pattern(A) + pattern(B))
    union.data[:] = 1
    assert_structure(C, union)
    exact = kind == "int" and float(alpha).is_integer() and float(beta).is_integer()
    assert_close(C.toarray(), (alpha * ref(A) + beta * ref(B)).toarray(),
                 (abs(alpha) * magnitude(A) + abs(beta) * magnitude(B)).toarray(),
                 A.nnz + B.nnz, C.dtype, exact)


@given(ops=operands(), alpha=scalars, beta=scalars, algorithm=st.sampled_from(ALGORITHMS),
       tiny=st.booleans(), scipy_in=st.booleans())
def test_spadd_matches_scipy(ops, alpha, beta, algorithm, tiny, scipy_in):
    A, B, kind = ops
    with planning(tiny):
        C = spadd(alpha, A.to_scipy() if scipy_in else A, beta, B, algorithm=algorithm)
    assert_sum(C, alpha, A, beta, B, kind)


@given(ops=operands(), data=st.data(), algorithm=st.sampled_from(ALGORITHMS),
       tiny=st.booleans())
def test_two_phases_and_reuse_with_new_values_and_scalars(ops, data, algorithm, tiny):
    A, B, kind = ops
    with planning(tiny):
        h = SpAddHandle(algorithm)
        C = spadd_symbolic(h, A, B)
        assert h.nnz == C.nnz and h.accumulator in ("dense", "hash")
        for _ in range(2):                          # numeric again: new values and scalars
            alpha, beta = data.draw(scalars), data.draw(scalars)
            assert spadd_numeric(h, alpha, A, beta, B, C) is C
            assert bits(C) == bits(spadd(alpha, A, beta, B, algorithm=h.accumulator))
            assert_sum(C, alpha, A, beta, B, kind)
            A, B = new_values(data.draw, A, kind), new_values(data.draw, B, kind)


def grown(M):
    """``M`` with one more entry, at the end of its last row."""
    rm = np.asarray(M.row_map)
    return CrsMatrix(np.append(M.values, 1.0), np.append(M.entries, 0),
                     np.append(rm[:-1], rm[-1] + 1), M.ncols)


@given(ops=operands(kind="int"))
def test_numeric_refuses_a_different_structure(ops):
    A, B, _ = ops
    h = SpAddHandle()
    C = spadd_symbolic(h, A, B)
    if A.nrows and A.ncols:
        with pytest.raises(ValueError, match="structure of A"):
            spadd_numeric(h, 1.0, grown(A), 1.0, B, C)
        with pytest.raises(ValueError, match="structure of B"):
            spadd_numeric(h, 1.0, A, 1.0, grown(B), C)
    if B.nnz and B.ncols > 1:
        moved = np.array(B.entries)
        moved[0] = (moved[0] + 1) % B.ncols
        with pytest.raises(ValueError, match="structure of B"):
            spadd_numeric(h, 1.0, A, 1.0, CrsMatrix(B.values, moved, B.row_map, B.ncols), C)
    with pytest.raises(ValueError, match="not the matrix"):
        spadd_numeric(h, 1.0, A, 1.0, B, C.copy())
    spadd_numeric(h, 2.0, A, -1.0, B, C)
    assert_sum(C, 2.0, A, -1.0, B, "int")


def test_bad_arguments_raise():
    A = CrsMatrix.from_coo([0], [1], [1.0], (2, 2))
    with pytest.raises(ValueError, match="spadd_symbolic"):
        spadd_numeric(SpAddHandle(), 1.0, A, 1.0, A, A)
    with pytest.raises(ValueError, match="same shape"):
        spadd(1.0, A, 1.0, CrsMatrix.from_coo([], [], [], (2, 3)))
    h = SpAddHandle()
    C = spadd_symbolic(h, A, A)
    with pytest.raises(TypeError, match="alpha"):
        spadd_numeric(h, 1j, A, 1.0, A, C)
    with pytest.raises(ValueError, match="algorithm"):
        spadd(1.0, A, 1.0, A, algorithm="sorted")


@given(ops=operands(), alpha=scalars, beta=scalars, tiny=st.booleans())
def test_dense_and_hash_accumulators_agree_bitwise(ops, alpha, beta, tiny):
    A, B, _ = ops
    with planning(tiny):
        assert bits(spadd(alpha, A, beta, B, algorithm="dense")) == \
            bits(spadd(alpha, A, beta, B, algorithm="hash"))


@needs_two_threads
@given(ops=operands(kind="float"), alpha=scalars, beta=scalars,
       algorithm=st.sampled_from(ALGORITHMS))
def test_one_and_two_threads_give_the_same_bits(ops, alpha, beta, algorithm):
    A, B, _ = ops
    with planning(True):                            # many chunks, shared among threads
        assert bits(spadd(alpha, A, beta, B, algorithm=algorithm, space=kkpy.Threads(1))) == \
            bits(spadd(alpha, A, beta, B, algorithm=algorithm, space=kkpy.Threads(2)))
