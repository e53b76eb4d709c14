"""Hypothesis strategies and scipy references shared by the kkpy.sparse property tests.

Matrices are small (so hypothesis can shrink them to a readable case) and
built the way users hand them in: rows grouped but columns in arbitrary
order, repeated columns, explicit zeros, empty rows and columns, 0-sized
shapes, both index dtypes and both value dtypes.

Values come in two kinds.  ``"int"`` values are small integers, so every
sum and product is exact in float32 and results must match scipy bit for
bit; ``"float"`` values are arbitrary float32 numbers, checked against a
float64 reference within a rounding-error bound.
"""
import contextlib
from unittest import mock

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kkpy.sparse import CrsMatrix

VALUE_DTYPES = (np.float32, np.float64)
INDEX_DTYPES = (np.int32, np.int64)


def value_elements(kind):
    if kind == "int":
        return st.integers(-3, 3).map(float)
    # width=32: the same numbers in float32 and float64, so the reference
    # sees exactly the inputs kkpy sees.
    return st.floats(-4, 4, width=32)


@st.composite
def coo(draw, nrows=None, ncols=None, max_dim=9, max_nnz=30, kind="float"):
    """``(rows, cols, vals, shape)``: random triples, repeats allowed, in random order."""
    nrows = draw(st.integers(0, max_dim)) if nrows is None else nrows
    ncols = draw(st.integers(0, max_dim)) if ncols is None else ncols
    n = draw(st.integers(0, max_nnz)) if nrows and ncols else 0
    rows = draw(hnp.arrays(np.int64, n, elements=st.integers(0, max(nrows - 1, 0))))
    cols = draw(hnp.arrays(np.int64, n, elements=st.integers(0, max(ncols - 1, 0))))
    vals = draw(hnp.arrays(np.float64, n, elements=value_elements(kind)))
    return rows, cols, vals, (nrows, ncols)


@st.composite
def crs(draw, nrows=None, ncols=None, kind="float", dtype=None, index_dtype=None, **kw):
    """A CrsMatrix with unsorted rows, repeated columns and explicit zeros."""
    rows, cols, vals, shape = draw(coo(nrows, ncols, kind=kind, **kw))
    dtype = draw(st.sampled_from(VALUE_DTYPES)) if dtype is None else dtype
    index_dtype = draw(st.sampled_from(INDEX_DTYPES)) if index_dtype is None else index_dtype
    return crs_from_triples(rows, cols, vals, shape, dtype, index_dtype)


def crs_from_triples(rows, cols, vals, shape, dtype=np.float64, index_dtype=np.int64):
    """Group the triples by row, keeping their order within each row (no sorting, no merging)."""
    order = np.argsort(rows, kind="stable")
    row_map = np.zeros(shape[0] + 1, index_dtype)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=row_map[1:])
    return CrsMatrix(np.asarray(vals, dtype)[order], cols[order].astype(index_dtype), row_map,
                     shape[1])


def new_values(draw, A, kind="float"):
    """``A``'s structure (the very same arrays) with freshly drawn values."""
    vals = draw(hnp.arrays(A.dtype, A.nnz, elements=value_elements(kind)))
    return CrsMatrix(vals, A.entries, A.row_map, A.ncols, check=False)


def ref(A):
    """``A`` as a float64 scipy CSR array of its own (duplicates still separate)."""
    return sp.csr_array((np.asarray(A.values, np.float64), np.array(A.entries),
                         np.array(A.row_map)), shape=A.shape)


def magnitude(A):
    """``|A|`` as scipy CSR (for rounding-error bounds)."""
    M = ref(A)
    M.data = np.abs(M.data)
    return M


def pattern(A):
    """The stored positions of ``A`` (explicit zeros included) as a canonical 0/1 CSR array."""
    P = sp.csr_array((np.ones(A.nnz), np.array(A.entries), np.array(A.row_map)), shape=A.shape)
    P.sum_duplicates()
    P.data[:] = 1
    return P


def positive_pattern_product(P, Q):
    """The structure SpGEMM computes: ``P @ Q`` of 0/1 patterns never cancels."""
    Z = sp.csr_array(P @ Q)
    Z.sort_indices()
    Z.data[:] = 1
    return Z


def assert_canonical(C):
    """Columns strictly increasing within every row (sorted, no repeats)."""
    rm, ent = np.asarray(C.row_map), np.asarray(C.entries)
    assert rm[0] == 0 and rm[-1] == C.nnz and np.all(np.diff(rm) >= 0)
    d = np.diff(ent.astype(np.int64))
    # Differences that straddle a row boundary may be anything.
    inside = np.ones(d.shape, bool)
    inside[rm[1:-1][(rm[1:-1] > 0) & (rm[1:-1] < C.nnz)] - 1] = False
    assert np.all(d[inside] > 0), "columns not strictly increasing within a row"


def assert_structure(C, P):
    """``C`` stores exactly the positions of the 0/1 CSR array ``P`` (canonical)."""
    assert C.shape == P.shape
    assert_canonical(C)
    assert np.array_equal(np.asarray(C.row_map), P.indptr), "row_map differs"
    assert np.array_equal(np.asarray(C.entries), P.indices), "entries differ"


def bits(C):
    """Everything stored in ``C``, values as raw bits (so -0.0 and 0.0 differ)."""
    v = np.asarray(C.values)
    return (C.shape, C.dtype, np.asarray(C.row_map).tolist(), np.asarray(C.entries).tolist(),
            v.view(np.dtype(f"u{v.itemsize}")).tolist())


needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                       reason="numba has a single thread")


def eps(*dtypes):
    return max(np.finfo(np.result_type(d)).eps for d in dtypes)


def assert_close(got, want, scale, terms, dtype, exact=False):
    """``|got - want| <= (terms + 2) * (eps * scale + tiny)`` elementwise (dense arrays).

    ``eps`` is that of ``dtype``, or of the least precise of a tuple of dtypes.
    ``scale`` is the same expression as ``want`` computed on magnitudes, so
    the bound is the standard one for sums of ``terms`` rounded products
    (``tiny``, the smallest normal number, covers underflow).  With
    ``exact`` the bound is zero.
    """
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    dtypes = dtype if isinstance(dtype, tuple) else (dtype,)
    # float32's smallest normal also covers a float32 operand of a float64 result.
    tiny = np.finfo(np.float32).smallest_normal
    bound = 0.0 if exact else (terms + 2) * (eps(*dtypes) * np.asarray(scale, np.float64) + tiny)
    err = np.abs(got - want)
    bad = ~(err <= bound)
    assert not bad.any(), (f"{bad.sum()} entries off, worst at {np.argwhere(bad)[0]}: "
                           f"got {got[bad][0]!r}, want {want[bad][0]!r}")


@contextlib.contextmanager
def tiny_chunks():
    """Plan rows in chunks of one row's work and stage them in many passes.

    At the tests' sizes every product would otherwise be a single chunk in a
    single pass, in a reused buffer; this sends small inputs down the
    multi-chunk, multi-pass staging code that large products take, in fresh
    buffers of both page sizes (huge for chunks expected to write 64 bytes).
    SpAdd's merge path counts shared columns by merging, as for long rows.
    """
    from kkpy.sparse import _tuning

    with mock.patch.object(_tuning, "MIN_CHUNK_WORK", 1), \
            mock.patch.object(_tuning, "STAGING_ENTRIES", 1), \
            mock.patch.object(_tuning, "POOL_ENTRIES", 0), \
            mock.patch.object(_tuning, "HUGE_PAGE_BYTES", 64), \
            mock.patch.object(_tuning, "SPADD_PAIRS_LIMIT", 0):
        yield


def planning(tiny):
    return tiny_chunks() if tiny else contextlib.nullcontext()


# -- the chain: a scipy loop, and random chains (for the host and GPU chain tests) --

def chain_reference(A, mats, f, args):
    """``drop_zeros(f(Y @ W))`` through ``mats`` in float64 scipy, ``f`` on the nonzeros only.

    ``args`` are ``f``'s arguments after the values and columns: one tuple for
    every product, or a list of one tuple per product.  Also returns each
    product's (nonempty rows, nnz), what ``spgemm_chain``'s callback reports.
    """
    Y, stats = sp.csr_array(A, dtype=np.float64), []
    for k, W in enumerate(mats):
        Z = (Y @ sp.csr_array(W, dtype=np.float64)).tocoo()
        z = Z.data.copy()
        nz = z != 0
        z[nz] = f(z[nz], Z.col[nz], *(args[k] if isinstance(args, list) else args))
        Y = sp.csr_array((z, (Z.row, Z.col)), shape=Z.shape)
        Y.eliminate_zeros()
        stats.append((int(np.count_nonzero(np.diff(Y.indptr))), Y.nnz))
    return Y, stats


def random_chain(rng, sizes, density, dtype):
    """Uneven rows, signed weights."""
    return [sp.random(a, b, density=density, format="csr", random_state=rng,
                      data_rvs=lambda n: rng.normal(0.2, 0.7, n)).astype(dtype)
            for a, b in zip(sizes[:-1], sizes[1:])]
