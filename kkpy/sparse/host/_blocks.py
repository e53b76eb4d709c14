"""Row blocks: contiguous runs of rows of about equal work, one kernel call each.

A kernel call per row costs a call and the reloads of every argument;
memory-bound kernels (SpMV, transpose, sorting short rows) then run well
below scipy's loop on one core.  Giving each call a block of rows lets the
compiler keep the arrays in registers and stream through the row map, as
Kokkos Kernels does with its row-block (team) policy for SpMV.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _balanced(row_map, nblocks, out):
    # weight of rows [0, i) is row_map[i] + i: entries plus one per row, so that
    # empty rows count too; it increases strictly with i, so bisect for each cut.
    n = row_map.shape[0] - 1
    total = np.int64(row_map[n]) + n
    out[0] = 0
    lo = 0
    for b in range(1, nblocks):
        target = (total * b) // nblocks
        hi = n
        while lo < hi:
            mid = (lo + hi) // 2
            if np.int64(row_map[mid]) + mid < target:
                lo = mid + 1
            else:
                hi = mid
        out[b] = lo
    out[nblocks] = n


def row_blocks(row_map, nblocks):
    """Bounds of ``nblocks`` runs of rows with about equal entries + rows each.

    Returns an int64 array ``bounds`` of ``nblocks + 1`` (fewer blocks when
    there are fewer rows): block ``c`` is rows ``bounds[c]:bounds[c + 1]``.
    """
    n = row_map.shape[0] - 1
    nblocks = max(1, min(int(nblocks), n))
    out = np.empty(nblocks + 1, np.int64)
    _balanced(row_map, nblocks, out)
    return out


def even_blocks(n, nblocks):
    """Bounds of ``nblocks`` (at most ``n``, at least 1) runs of ``0..n`` of equal length."""
    nblocks = max(1, min(int(nblocks), n))
    return (np.arange(nblocks + 1, dtype=np.int64) * n) // nblocks


def threads_of(space):
    """Threads a host space runs on (1 for ``Serial``)."""
    return space.concurrency() if space.parallel else 1
