"""SpGEMM's path for low-flop products: count, scan, fill (see :mod:`.host._spgemm_twopass`)."""
from __future__ import annotations

import numpy as np

from .. import RangePolicy, parallel_for, parallel_reduce, parallel_scan
from ._accumulate import use_row_bitmaps
from ._crs import CrsMatrix, crs_arrays
from ._staged import glue_space, index_dtype_for
from .host import _pool
from .host import _spgemm_twopass as K
from .host._blocks import row_blocks, threads_of
from .impl import _common

__all__ = ["two_pass"]


def two_pass(space, A, B, flops, value_dtype, index_dtype, far=True):
    """``A @ B`` by a counting pass and a filling pass, one block of rows per thread.

    ``flops`` holds the products of each row of ``A @ B``; blocks are cut so
    that each thread gets about as many.  ``far``: prefetch the rows of
    ``B`` (see :func:`~kkpy.sparse._accumulate.far_rows`).
    """
    n, m = A.nrows, B.ncols
    work = np.empty(n + 1, np.int64)
    work[0] = 0
    np.cumsum(flops, out=work[1:])
    bounds = row_blocks(work, threads_of(space))
    blocks = RangePolicy(space, 0, bounds.shape[0] - 1)
    a_rm, a_ent, a_val = crs_arrays(A)
    b_rm, b_ent, b_val = crs_arrays(B)
    counts = _pool.empty(n, np.int64)
    rec = _records(space, B, int(work[-1]))
    if rec is None:
        parallel_for("kkpy.sparse.spgemm_count", blocks, K.count_rows, bounds, np.int64(m), far,
                     a_rm, a_ent, b_rm, b_ent, counts)
    else:
        nw = np.int64(rec.shape[0] // B.nrows - 1)
        parallel_for("kkpy.sparse.spgemm_count", blocks, K.count_rows_records, bounds, nw, a_rm,
                     a_ent, rec, counts)
    row_map = _pool.empty(n + 1, np.int64)
    parallel_scan("kkpy.sparse.spgemm_row_map", RangePolicy(space, 0, n), _common.value_at,
                  counts, out=row_map)
    nnz = int(row_map[-1])
    index = index_dtype_for(index_dtype, nnz, m)
    row_map = row_map.astype(index, copy=False)
    entries = _pool.empty(nnz, index)
    values = _pool.empty(nnz, value_dtype)
    if rec is None:
        parallel_for("kkpy.sparse.spgemm_fill", blocks, K.fill_rows, bounds, np.int64(m), far,
                     a_rm, a_ent, a_val, b_rm, b_ent, b_val, row_map, entries, values)
    else:
        parallel_for("kkpy.sparse.spgemm_fill", blocks, K.fill_rows_records, bounds, nw,
                     np.int64(m), a_rm, a_ent, a_val, rec, b_val, row_map, entries, values)
    return CrsMatrix(values, entries, row_map, m, label="C", check=False)


def _records(space, B, products):
    """``B``'s rows as records (see :mod:`.host._spgemm_twopass`), or None.

    None when ``B`` is not narrow enough for bitmaps (the rule of
    :func:`~kkpy.sparse.use_row_bitmaps`) or a row's columns are not
    strictly increasing.
    """
    if not use_row_bitmaps(B.ncols, B.nrows, B.nnz, products):
        return None
    nw = (B.ncols + 63) // 64
    rec = np.empty(B.nrows * (nw + 1), np.uint64)
    b_rm, b_ent, _ = crs_arrays(B)
    unsorted = parallel_reduce("kkpy.sparse.spgemm_row_records",
                               RangePolicy(glue_space(space, B.nnz), 0, B.nrows),
                               K.row_record, b_rm, b_ent, np.int64(nw), rec)
    return None if unsorted else rec
