"""Sorted, duplicate-free CRS from coordinates or any CRS (``from_coo``, ``sort_and_merge``)."""
from __future__ import annotations

import operator

import numpy as np

from .. import DefaultExecutionSpace, RangePolicy, parallel_for, parallel_scan
from . import _validate
from ._crs import CrsMatrix, value_dtype
from .impl import _common
from .impl import _sort_kernels as K

_INT32_MAX = np.iinfo(np.int32).max


def _check_key_range(ncols, n):
    if ncols * max(n, 1) >= 2 ** 63:
        raise ValueError(f"{n} entries with {ncols} columns are too many to sort with 64-bit keys")


def _merge(space, row_map, keys, L, vals, ncols, index_dtype, label):
    """Sort each row's keys and write the merged rows."""
    n = row_map.shape[0] - 1
    counts = np.empty(n, np.int64)
    rows = RangePolicy(space, 0, n)
    parallel_for("kkpy.sparse.sort_rows", rows, K.sort_row_count, row_map, keys, L, counts)
    out_map = np.empty(n + 1, index_dtype)
    parallel_scan("kkpy.sparse.merged_row_map", rows, _common.value_at, counts, out=out_map)
    nnz = int(out_map[-1])
    entries = np.empty(nnz, index_dtype)
    values = np.empty(nnz, vals.dtype)
    parallel_for("kkpy.sparse.merge_rows", rows, K.merge_row, row_map, keys, L, vals, out_map,
                 entries, values)
    return CrsMatrix(values, entries, out_map, ncols, label=label, check=False)


def sort_and_merge(A, space=None):
    """``A`` with rows sorted by column and duplicates summed (in their order in the row)."""
    A = _validate.matrix(A, "sort_and_merge", space=space)
    space = space or DefaultExecutionSpace()
    L = np.int64(A.nnz)
    _check_key_range(A.ncols, A.nnz)
    row_map = np.asarray(A.row_map)
    keys = np.empty(A.nnz, np.int64)
    parallel_for("kkpy.sparse.row_keys", RangePolicy(space, 0, A.nrows), K.row_keys, row_map,
                 np.asarray(A.entries), L, keys)
    return _merge(space, row_map, keys, L, np.asarray(A.values), A.ncols, A.index_dtype,
                  A.label)


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
    return a.astype(np.int64, copy=False)


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
    _check_key_range(ncols, n)
    # counts, row map, cursor (per row); keys, merged entries and values (per entry)
    _validate.fits(24 * (nrows + 1) + (16 + index_dtype.itemsize + vals.itemsize) * n,
                   f"from_coo of a {nrows} x {ncols} matrix with {n} entries")
    L = np.int64(n)
    counts = np.zeros(nrows, np.int64)
    entries = RangePolicy(space, 0, n)
    parallel_for("kkpy.sparse.coo_count", entries, K.count_rows, rows, counts)
    row_map = np.empty(nrows + 1, np.int64)
    parallel_scan("kkpy.sparse.coo_row_map", RangePolicy(space, 0, nrows), _common.value_at,
                  counts, out=row_map)
    cursor = row_map[:-1].copy()
    keys = np.empty(n, np.int64)
    parallel_for("kkpy.sparse.coo_scatter", entries, K.scatter_keys, rows, cols, L, cursor, keys)
    return _merge(space, row_map, keys, L, vals, ncols, index_dtype, label)
