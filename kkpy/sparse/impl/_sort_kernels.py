"""Kernels that sort each CRS row by column and sum duplicates, stably.

Rows are sorted stably, so entries with equal columns keep their order (the
input order for ``from_coo``, which groups entries by row with a stable
counting sort first) and duplicates are summed in that order: the result
is the same bits on any number of threads.  Short rows (the usual case)
take an insertion sort that also copies them from the input; longer ones a
merge sort.
"""
from __future__ import annotations

import numba
import numpy as np

from kkpy.core import kernel

from .._tuning import SORT_INSERTION_MAX


@numba.njit(cache=True)
def _sort_row(lo, hi, src_ent, src_val, ent, val):
    """``ent[lo:hi], val[lo:hi]`` = ``src_ent[lo:hi], src_val[lo:hi]`` stably sorted by column.

    ``src`` may be ``ent``/``val`` themselves (sorting in place).  Rows up
    to ``SORT_INSERTION_MAX`` long are insertion-sorted (in place, no
    allocation); longer ones take ``argsort(kind="mergesort")``.  Either is
    stable.
    """
    if hi - lo <= SORT_INSERTION_MAX:
        for k in range(lo, hi):
            e = src_ent[k]
            v = src_val[k]
            q = k
            while q > lo and ent[q - 1] > e:
                ent[q] = ent[q - 1]
                val[q] = val[q - 1]
                q -= 1
            ent[q] = e
            val[q] = v
        return
    order = np.argsort(src_ent[lo:hi], kind="mergesort")
    e = src_ent[lo:hi][order]
    v = src_val[lo:hi][order]
    ent[lo:hi] = e
    val[lo:hi] = v


@kernel
def sort_rows(c, bounds, row_map, src_ent, src_val, ent, val, counts):
    """Sort rows ``bounds[c]:bounds[c + 1]`` into ``ent``/``val``; count each one's columns."""
    for i in range(bounds[c], bounds[c + 1]):
        lo = np.int64(row_map[i])
        hi = np.int64(row_map[i + 1])
        _sort_row(lo, hi, src_ent, src_val, ent, val)
        u = 0
        for p in range(lo, hi):
            if p == lo or ent[p] != ent[p - 1]:
                u += 1
        counts[i] = u


@kernel
def merge_rows(c, bounds, row_map, ent, val, out_map, out_ent, out_val):
    """Write sorted rows ``bounds[c]:bounds[c + 1]`` with duplicates summed, in their order."""
    for i in range(bounds[c], bounds[c + 1]):
        o = np.int64(out_map[i]) - 1
        lo = np.int64(row_map[i])
        for p in range(lo, np.int64(row_map[i + 1])):
            if p == lo or ent[p] != ent[p - 1]:
                o += 1
                out_ent[o] = ent[p]
                out_val[o] = val[p]
            else:
                out_val[o] += val[p]
