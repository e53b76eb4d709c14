"""One matrix of a chain prepared for :func:`~kkpy.sparse.spgemm_chain`'s products.

Shared by :class:`~kkpy.sparse._chain.PreparedChain` (every matrix at once)
and :class:`~kkpy.sparse.ChainStream` (one at a time, in a worker thread).
"""
from __future__ import annotations

import numpy as np

from . import _validate
from ._crs import crs_arrays

__all__ = ["csr_parts", "prepare_matrix"]


def csr_parts(x, name="A"):
    """(row_map, entries, values, shape) of a CrsMatrix or any scipy.sparse matrix, checked."""
    x = _validate.matrix(x, "spgemm_chain", name)
    return (*crs_arrays(x), tuple(x.shape))


def prepare_matrix(m, n, dtype, previous=None):
    """Matrix ``n`` of a chain as ``(shape, csr, transposed)``: a scipy CSR array of
    ``dtype`` values, and its transpose's ``(indptr, indices, data)`` with merged
    duplicates (the chain reads columns).  ``previous`` is the shape of matrix
    ``n - 1``, whose columns must match this one's rows."""
    import scipy.sparse as sp

    row_map, entries, values, shape = csr_parts(m, f"matrix {n}")
    if previous is not None and previous[1] != shape[0]:
        raise ValueError(f"spgemm_chain: matrix {n} has {shape[0]} rows but the "
                         f"previous one has {previous[1]} columns")
    m = sp.csr_array((values.astype(dtype, copy=False), entries, row_map), shape=shape)
    t = m.T.tocsr()
    t.sum_duplicates()
    return shape, m, (t.indptr.astype(np.int64), t.indices.astype(np.int32),
                      t.data.astype(dtype, copy=False))
