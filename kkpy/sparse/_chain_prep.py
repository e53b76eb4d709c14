"""One matrix of a chain prepared for :func:`~kkpy.sparse.spgemm_chain`'s products.

Shared by :class:`~kkpy.sparse._chain.PreparedChain` (every matrix at once)
and :class:`~kkpy.sparse.ChainStream` (one at a time, in a worker thread).
"""
from __future__ import annotations

import numpy as np

from . import _validate
from ._crs import crs_arrays

__all__ = ["columns", "csr_parts", "prepare_matrix"]


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
    # scipy's one-thread transpose, not kkpy's (see columns): a ChainStream
    # prepares in a worker thread while the products run, and there kkpy's
    # threaded transpose (a second team of threads on the same cores, and
    # more Python between its launches) slowed the chain down. dev-2c, 2
    # threads, kkpy-dnn sweep with 1000 images, alternating: 1024 x 480
    # 0.33-0.37 s with scipy's, 0.54-0.56 threaded, 0.41-0.46 on Serial;
    # 16384 x 480 3.2-3.4 s against 4.1-4.4 threaded; 65536 x 120 5.8-6.2 s
    # against 6.3-7.2 threaded.
    t = m.T.tocsr()
    t.sum_duplicates()
    return shape, m, (t.indptr.astype(np.int64), t.indices.astype(np.int32),
                      t.data.astype(dtype, copy=False))


def columns(m, dtype):
    """The columns of checked CrsMatrix ``m``, with ``dtype`` values, as a canonical CrsMatrix.

    Its transpose by kkpy's threaded counting sort, which lists each
    column's rows in increasing order; entries naming one place twice, if
    there are any, are then summed, in ``dtype`` as the products would sum
    them, as :func:`prepare_matrix` sums them.  For the GPU chain, which
    prepares its matrices with nothing else running: scipy's one-thread
    ``tocsc`` took 48 of the 120 ms a 65536-neuron challenge layer spent
    on its way to the GPU.

    Examples
    --------
    >>> from kkpy.sparse import CrsMatrix
    >>> A = CrsMatrix([1.0, 2.0, 4.0], [2, 2, 2], [0, 2, 3], 3)   # column 2 twice in row 0
    >>> T = columns(A, np.float32)
    >>> T.toarray().tolist(), T.dtype
    ([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]], dtype('float32'))
    """
    from .. import DefaultHostExecutionSpace
    from ._crs import CrsMatrix
    from ._transpose import transpose

    host = DefaultHostExecutionSpace()
    if m.dtype != dtype:
        row_map, entries, values = crs_arrays(m)
        m = CrsMatrix(values.astype(dtype), entries, row_map, m.ncols, check=False)
    t = transpose(m, space=host)
    if not t._canonical():       # sorted rows: only a repeated index can break it
        t = t.sort_and_merge(space=host)
    return t
