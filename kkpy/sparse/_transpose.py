"""The transpose of a CRS matrix: a stable parallel counting sort of the entries by column."""
from __future__ import annotations

import numpy as np

from .. import DefaultExecutionSpace, RangePolicy, parallel_for, parallel_scan
from . import _tuning, _validate
from ._crs import CrsMatrix, crs_arrays, implements
from .host import _pool
from .host import _transpose_kernels as K
from .host._blocks import even_blocks, row_blocks, threads_of

__all__ = ["transpose"]


@implements("transpose")
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
    row_map, entries, values = crs_arrays(A)
    nb = nblocks(space, A.nnz, m)
    # One counter per column and block, and the new row_map: a wide matrix
    # asks for them even when it holds few entries.
    _validate.fits((nb + 1) * (m + 1) * A.index_dtype.itemsize
                   + A.nnz * (A.index_dtype.itemsize + A.dtype.itemsize),
                   f"transpose of a {n} x {m} matrix")
    bounds = row_blocks(row_map, nb)
    t_map, cnt = bucket(space, row_map[bounds].astype(np.int64), entries, m, A.index_dtype)
    t_entries = _pool.empty(A.nnz, A.index_dtype)
    t_values = _pool.empty(A.nnz, A.dtype)
    parallel_for("kkpy.sparse.transpose_fill", RangePolicy(space, 0, bounds.shape[0] - 1),
                 K.scatter_transpose, bounds, row_map, entries, values, cnt, t_entries, t_values)
    return CrsMatrix(t_values, t_entries, t_map, n, label=f"{A.label}^T", check=False)


def nblocks(space, nnz, nkeys):
    """Blocks of a counting sort: one per thread, but no more than entries per key.

    Each block counts into its own ``nkeys`` counters, read and written three
    times; with more blocks than ``nnz / nkeys`` the counters would cost
    more memory traffic than the entries themselves.
    """
    threads = threads_of(space)
    return max(1, min(threads, nnz // max(nkeys, 1)))


def bucket(space, ebounds, keys, nkeys, index_dtype):
    """Plan a stable counting sort of entries by ``keys`` (see :mod:`.host._transpose_kernels`).

    Entries ``ebounds[c]:ebounds[c + 1]`` form block ``c``.  Returns
    ``(out_map, cnt)``: ``out_map`` (``nkeys + 1``, ``index_dtype``) where
    each key's entries start in the output, and ``cnt[c, j]`` where block
    ``c``'s first entry of key ``j`` goes (advanced by the scatter kernel).
    """
    nb = ebounds.shape[0] - 1
    cnt = _pool.empty((nb, nkeys), index_dtype)
    parallel_for("kkpy.sparse.bucket_count", RangePolicy(space, 0, nb), K.count_keys, ebounds,
                 keys, cnt)
    out_map = _pool.empty(nkeys + 1, index_dtype)
    parallel_scan("kkpy.sparse.bucket_map", RangePolicy(space, 0, nkeys), K.key_total, cnt,
                  out=out_map)
    threads = threads_of(space)
    kb = even_blocks(nkeys, threads * _tuning.BLOCKS_PER_THREAD)
    parallel_for("kkpy.sparse.bucket_starts", RangePolicy(space, 0, kb.shape[0] - 1),
                 K.block_starts, kb, out_map, cnt)
    return out_map, cnt
