"""Sorted, duplicate-free CRS from coordinates or any CRS (``from_coo``, ``sort_and_merge``)."""
from __future__ import annotations

import operator

import numpy as np

from .. import DefaultExecutionSpace, RangePolicy, parallel_for, parallel_scan
from . import _tuning, _validate
from ._crs import CrsMatrix, crs_arrays, implements, value_dtype
from ._transpose import bucket, nblocks
from .host import _pool
from .host import _sort_kernels as K
from .host import _transpose_kernels as T
from .host._blocks import even_blocks, row_blocks, threads_of
from .impl import _common

_INT32_MAX = np.iinfo(np.int32).max


def _sort_merge(space, row_map, src_ent, src_val, ncols, label, unchecked=None):
    """Sort each row of ``src`` and sum duplicates, into new arrays.

    ``unchecked``, a matrix whose structure ``src`` is and nobody has
    checked, has the first pass check it as it reads it (a separate pass
    over its indices would cost a tenth of the sort), and raise its fault.
    """
    n = row_map.shape[0] - 1
    bounds = row_blocks(row_map, threads_of(space) * _tuning.BLOCKS_PER_THREAD)
    blocks = RangePolicy(space, 0, bounds.shape[0] - 1)
    short = np.uint64(_tuning.SORT_RANK_MAX)
    counts = _pool.empty(n, np.int64)
    bad = np.zeros(bounds.shape[0] - 1, np.uint8)
    # long rows are sorted here, apart from the input; untouched pages cost nothing
    ent = _pool.empty(src_ent.shape[0], src_ent.dtype)
    val = _pool.empty(src_val.shape[0], src_val.dtype)
    parallel_for("kkpy.sparse.sort_count", blocks, K.count_rows, bounds, row_map, src_ent,
                 src_val, ent, val, short, np.uint64(ncols), unchecked is not None, counts, bad)
    if unchecked is not None:
        _validate.checked_by_kernel(unchecked, "sort_and_merge", "A", bad)
    out_map = _pool.empty(n + 1, row_map.dtype)
    parallel_scan("kkpy.sparse.merged_row_map", RangePolicy(space, 0, n), _common.value_at,
                  counts, out=out_map)
    nnz = int(out_map[-1])
    out_ent = _pool.empty(nnz, src_ent.dtype)
    out_val = _pool.empty(nnz, src_val.dtype)
    parallel_for("kkpy.sparse.sort_write", blocks, K.write_rows, bounds, row_map, src_ent,
                 src_val, ent, val, short, out_map, out_ent, out_val)
    return CrsMatrix(out_val, out_ent, out_map, ncols, label=label, check=False)


@implements("sort_and_merge")
def sort_and_merge(A, space=None):
    """``A`` with rows sorted by column and duplicates summed (in their order in the row)."""
    A = _validate.matrix(A, "sort_and_merge", space=space, deep=False)  # checked as read
    space = space or DefaultExecutionSpace()
    row_map, entries, values = crs_arrays(A)
    return _sort_merge(space, row_map, entries, values, A.ncols, A.label,
                       None if A._trusted else A)


def _shape(shape):
    try:
        nrows, ncols = (operator.index(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be two integers, got {shape!r}") from None
    if nrows < 0 or ncols < 0:
        raise ValueError(f"shape must be non-negative, got {shape!r}")
    return nrows, ncols


def _coords(a, name, n, limit):
    a = np.asarray(a)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"from_coo: {name} must be 1-D of length {n}, got shape {a.shape}")
    if a.dtype.kind not in "iu" and not (n == 0 and a.dtype.kind == "f"):
        raise TypeError(f"from_coo: {name} must hold integers, got dtype {a.dtype}")
    if n and (a.min() < 0 or a.max() >= limit):
        raise ValueError(f"from_coo: {name} must lie in [0, {limit}), got "
                         f"[{a.min()}, {a.max()}]")
    return a if a.dtype in (np.int32, np.int64) else a.astype(np.int64)


@implements("from_coo")
def from_coo(rows, cols, vals, shape, space=None, index_dtype=None, label=None):
    """Sorted CRS from coordinate triples, duplicates summed in input order."""
    space = space or DefaultExecutionSpace()
    nrows, ncols = _shape(shape)
    vals = np.asarray(vals)
    if vals.ndim != 1:
        raise ValueError(f"from_coo: vals must be 1-D, got shape {vals.shape}")
    n = vals.shape[0]
    rows = _coords(rows, "rows", n, nrows)
    cols = _coords(cols, "cols", n, ncols)
    vals = vals.astype(value_dtype(vals.dtype), copy=False)
    if index_dtype is None:
        index_dtype = np.int32 if max(nrows, ncols, n) <= _INT32_MAX else np.int64
    index_dtype = np.dtype(index_dtype)
    if index_dtype not in (np.int32, np.int64):
        raise TypeError(f"index_dtype must be int32 or int64, got {index_dtype}")
    # counts, row map, cursor (per row); keys, merged entries and values (per entry)
    _validate.fits(24 * (nrows + 1) + (16 + index_dtype.itemsize + vals.itemsize) * n,
                   f"from_coo of a {nrows} x {ncols} matrix with {n} entries")
    ebounds = even_blocks(n, nblocks(space, n, nrows))
    row_map, cnt = bucket(space, ebounds, rows, nrows, index_dtype)
    ent = _pool.empty(n, index_dtype)
    val = _pool.empty(n, vals.dtype)
    parallel_for("kkpy.sparse.coo_fill", RangePolicy(space, 0, cnt.shape[0]), T.scatter_coo,
                 ebounds, rows, cols, vals, cnt, ent, val)
    return _sort_merge(space, row_map, ent, val, ncols, label)
