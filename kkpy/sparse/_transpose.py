"""The transpose of a CRS matrix: count, scan, fill, in parallel and deterministic."""
from __future__ import annotations

import numpy as np

from .. import DefaultExecutionSpace, RangePolicy, parallel_for, parallel_scan
from . import _validate
from ._crs import CrsMatrix
from .impl import _common
from .impl import _transpose_kernels as K

__all__ = ["transpose"]


def transpose(A, space=None):
    """The transpose of ``A`` as a new CrsMatrix.

    Each row of the result lists the original rows in increasing order (so it
    is sorted), and entries that share a row and column keep their original
    order: the result is the same on any number of threads.

    Parameters
    ----------
    A : CrsMatrix or scipy.sparse matrix
    space : ExecutionSpace, optional
        Default: the default execution space.

    Returns
    -------
    CrsMatrix
        ``ncols x nrows``, same value and index dtypes as ``A``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import transpose
    >>> S = sp.random(5, 4, density=0.5, format="csr", random_state=1)
    >>> T = transpose(S)
    >>> T.shape, bool(np.array_equal(T.toarray(), S.toarray().T))
    ((4, 5), True)
    """
    A = _validate.matrix(A, "transpose", space=space)
    space = space or DefaultExecutionSpace()
    n, m = A.shape
    row_map, entries = np.asarray(A.row_map), np.asarray(A.entries)
    rows = RangePolicy(space, 0, n)
    counts = np.zeros(m, np.int64)
    parallel_for("kkpy.sparse.transpose_count", rows, K.count_columns, row_map, entries, counts)
    t_map = np.empty(m + 1, A.index_dtype)
    parallel_scan("kkpy.sparse.transpose_row_map", RangePolicy(space, 0, m), _common.value_at,
                  counts, out=t_map)
    cursor = t_map[:-1].astype(np.int64)
    perm = np.empty(A.nnz, np.int64)
    row_of = np.empty(A.nnz, A.index_dtype)
    parallel_for("kkpy.sparse.transpose_fill", rows, K.scatter_positions, row_map, entries,
                 cursor, perm, row_of)
    t_entries = np.empty(A.nnz, A.index_dtype)
    t_values = np.empty(A.nnz, A.dtype)
    parallel_for("kkpy.sparse.transpose_gather", RangePolicy(space, 0, m), K.gather_row, t_map,
                 perm, row_of, np.asarray(A.values), t_entries, t_values)
    return CrsMatrix(t_values, t_entries, t_map, n, label=f"{A.label}^T", check=False)
