"""SpGEMM in two passes over the rows, for low-flop products (stencils squared).

When each row of ``C`` comes from a few dozen products, the one-pass
kernels' staging (rows written to a buffer, then compacted into ``C``)
costs as much as the products.  Here, as in scipy's ``csr_matmat``, a
first pass counts each row's columns with a dense marker, a scan gives the
row map, and a second pass writes the rows straight into ``C``: a dense
accumulator, the columns collected in first-seen order, then sorted.

Each block of rows (one per thread) has its own marker and accumulator of
``ncols`` entries.  Products are summed in the order scipy sums them (A's
entries in row order, each times B's row in order), so values match
scipy's to the bit; the columns of each row come out sorted, and numeric
zeros stay as explicit entries (as :func:`~kkpy.sparse.spgemm` keeps them).
"""
from __future__ import annotations

import numba
import numpy as np

from kkpy.core import kernel

from .._tuning import SORT_INSERTION_MAX
from ._prefetch import ahead


@kernel
def count_rows(c, bounds, m, a_rm, a_ent, b_rm, b_ent, counts):
    """Distinct columns of each row ``bounds[c]:bounds[c + 1]`` of ``A @ B``.

    Both passes prefetch the rows of ``B`` a few entries of ``A`` ahead, as
    the one-pass kernels do: without, each product of a product whose rows
    of ``B`` are scattered waited on two or three cache misses in turn
    (the fill alone, one thread, tall-skinny 271 -> 94 ms; Poisson2D
    squared, whose rows of B are neighbours, 47 -> 48 ms).
    """
    lo = bounds[c]
    hi = bounds[c + 1]
    mark = np.full(m, -1, np.int64)
    for i in range(lo, hi):
        n = 0
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            ahead(p, a_ent, b_rm, b_ent, b_ent)
            k = a_ent[p]
            for q in range(b_rm[k], b_rm[k + 1]):
                j = b_ent[q]
                if mark[j] != i:
                    mark[j] = i
                    n += 1
        counts[i] = n


@numba.njit(cache=True)
def _sort_short(a, lo, hi):
    for t in range(lo + 1, hi):
        v = a[t]
        s = t - 1
        while s >= lo and a[s] > v:
            a[s + 1] = a[s]
            s -= 1
        a[s + 1] = v


@kernel
def fill_rows(c, bounds, m, a_rm, a_ent, a_val, b_rm, b_ent, b_val, c_rm, c_ent, c_val):
    """Rows ``bounds[c]:bounds[c + 1]`` of ``C = A @ B`` into ``C``'s arrays (row map known)."""
    lo = bounds[c]
    hi = bounds[c + 1]
    mark = np.full(m, -1, np.int64)
    acc = np.zeros(m, c_val.dtype)
    for i in range(lo, hi):
        start = c_rm[i]
        n = start
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            ahead(p, a_ent, b_rm, b_ent, b_val)
            k = a_ent[p]
            av = a_val[p]
            for q in range(b_rm[k], b_rm[k + 1]):
                j = b_ent[q]
                if mark[j] != i:
                    mark[j] = i
                    c_ent[n] = j
                    n += 1
                acc[j] += av * b_val[q]
        # By insertion: columns arrive nearly in order in banded products.  A
        # sort by rank (compare every pair) took Poisson2D squared's fill from
        # 48 to 131 ms, and tall-skinny's from 94 to 110.  Longer rows by np.sort.
        if n - start <= SORT_INSERTION_MAX:
            _sort_short(c_ent, start, n)
        else:
            c_ent[start:n] = np.sort(c_ent[start:n])
        for t in range(start, n):
            j = c_ent[t]
            c_val[t] = acc[j]
            acc[j] = 0
