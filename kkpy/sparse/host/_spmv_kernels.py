"""SpMV kernels of the host: ``y = beta*y + alpha*op(A)*x`` a block of rows per call.

Each kernel call handles a block of rows (see :mod:`._blocks`), and indices
are read as unsigned: numba then skips the negative-index wraparound test on
every ``x[entries[p]]``.  ``beta == 0`` overwrites ``y`` without reading it.
"""
from __future__ import annotations

import numba
import numpy as np

from kkpy.core import kernel


@kernel
def spmv_rows(c, bounds, alpha, row_map, entries, values, x, beta, y, bad, check):
    """Rows ``bounds[c]:bounds[c + 1]`` of ``y = beta*y + alpha*A*x`` (the host's kernel).

    With ``check`` (a structure nobody has checked), it checks as it reads:
    every offset must lie in ``[0, nnz]`` and never decrease, and every
    column index in ``[0, len(x))`` (unsigned compares catch negatives); at
    the first that does not, block ``c`` sets ``bad[c]`` and stops before
    using it.  One compare per entry, where a separate checking pass would
    read the index arrays again (it cost 40 % of an SpMV on 5e6 entries).
    """
    lo = np.uint64(bounds[c])
    hi = np.uint64(bounds[c + 1])
    nnz = np.uint64(entries.shape[0])
    ncols = np.uint64(x.shape[0])
    p = np.uint64(row_map[lo])
    if check and p > nnz:
        bad[c] = 1
        return
    for i in range(lo, hi):
        end = np.uint64(row_map[i + np.uint64(1)])
        if check and (end < p or end > nnz):
            bad[c] = 1
            return
        s = 0.0
        if check:
            while p < end:
                j = np.uint64(entries[p])
                if j >= ncols:
                    bad[c] = 1
                    return
                s += values[p] * x[j]
                p += np.uint64(1)
        else:
            while p < end:
                s += values[p] * x[np.uint64(entries[p])]
                p += np.uint64(1)
        if beta == 0:
            y[i] = alpha * s
        else:
            y[i] = beta * y[i] + alpha * s


@kernel
def spmv_rows_mv(c, bounds, alpha, row_map, entries, values, x, beta, y):
    """:func:`spmv_rows` for multivectors (one column per vector)."""
    for i in range(bounds[c], bounds[c + 1]):
        lo = np.uint64(row_map[i])
        hi = np.uint64(row_map[i + 1])
        for r in range(y.shape[1]):
            s = 0.0
            for p in range(lo, hi):
                s += values[p] * x[np.uint64(entries[p]), r]
            if beta == 0:
                y[i, r] = alpha * s
            else:
                y[i, r] = beta * y[i, r] + alpha * s


@numba.njit(cache=True)
def scatter_rows(lo_row, hi_row, alpha, row_map, entries, values, x, out, check):
    """Rows ``lo_row:hi_row`` of ``A`` scattered into ``out``; False at a bad offset or index.

    With ``check``, checks as it reads, stopping before it uses a bad
    value: each row's offsets must satisfy ``row_map[i] <= row_map[i + 1]
    <= nnz`` (so the offsets never decrease) and each column index lie in
    ``[0, len(out))``.  Without, trusts them (and runs about 10 % faster).
    """
    nnz = np.uint64(entries.shape[0])
    ncols = np.uint64(out.shape[0])
    for i in range(lo_row, hi_row):
        lo = np.uint64(row_map[i])
        hi = np.uint64(row_map[i + 1])
        if check and (hi < lo or hi > nnz):
            return False
        for r in range(out.shape[1]):
            xi = alpha * x[i, r]
            if xi == 0:
                continue
            if check:
                for p in range(lo, hi):
                    j = np.uint64(entries[p])
                    if j >= ncols:
                        return False
                    out[j, r] += values[p] * xi
            else:
                for p in range(lo, hi):
                    out[np.uint64(entries[p]), r] += values[p] * xi
    return True


@kernel
def spmv_transpose_block(c, bounds, alpha, row_map, entries, values, x, beta, y, parts, bad,
                         check):
    """Block ``c`` of rows of ``A`` scattered into its own copy of ``y``, without atomics.

    Block 0 scales ``y`` by ``beta`` (``beta == 0`` overwrites it, NaN
    included) and adds into it; block ``c > 0`` zeroes and adds into
    ``parts[c - 1]``, which :func:`add_parts` then sums into ``y`` in block
    order.  Each block so clears or scales one array of ``y``'s size: no pass
    of its own over ``y`` first.  With ``check``, a bad offset or index sets
    ``bad[c]`` (see :func:`scatter_rows`).
    """
    if c == 0:
        if beta == 0:
            y[:] = 0
        elif beta != 1:
            for i in range(y.shape[0]):
                for r in range(y.shape[1]):
                    y[i, r] *= beta
        ok = scatter_rows(bounds[0], bounds[1], alpha, row_map, entries, values, x, y, check)
    else:
        out = parts[c - 1]
        out[:] = 0
        ok = scatter_rows(bounds[c], bounds[c + 1], alpha, row_map, entries, values, x, out,
                          check)
    if not ok:
        bad[c] = 1


@kernel
def add_parts(b, cbounds, parts, y):
    """``y[j] += parts[0][j] + parts[1][j] + ...`` for the columns of block ``b``, in order."""
    for j in range(cbounds[b], cbounds[b + 1]):
        for r in range(y.shape[1]):
            s = y[j, r]
            for c in range(parts.shape[0]):
                s += parts[c, j, r]
            y[j, r] = s
