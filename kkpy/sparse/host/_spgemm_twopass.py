"""SpGEMM in two passes over the rows, for low-flop products (stencils squared).

When each row of ``C`` comes from a few dozen products, the one-pass
kernels' staging (rows written to a buffer, then compacted into ``C``)
costs as much as the products.  Here, as in scipy's ``csr_matmat``, a
first pass counts each row's columns with a dense marker, a scan gives the
row map, and a second pass writes the rows straight into ``C``: a dense
accumulator whose columns a bitmap marks and gives back in order.

Each block of rows (one per thread) has its own marker and accumulator of
``ncols`` entries.  Products are summed in the order scipy sums them (A's
entries in row order, each times B's row in order), so values match
scipy's to the bit; the columns of each row come out sorted, and numeric
zeros stay as explicit entries (as :func:`~kkpy.sparse.spgemm` keeps them).

When ``B`` is narrow (``nw`` words of bits a row; the rule of
:func:`~kkpy.sparse.use_row_bitmaps`) and its rows' columns strictly
increase, row ``k`` of ``B`` becomes a *record*,
``rec[k * (nw + 1):(k + 1) * (nw + 1)]``: its columns as ``nw`` bitmap
words, then where its values start; the values lie in the order of the
set bits.  A product then reads two places of ``B`` (the record, the
values) where the marker kernels read four (row map, entries, values,
marker), each a likely cache miss; a row of ``C`` is the OR of its
records' words, so its columns come out in order with no sort.  The
tall-skinny product (64 columns), one thread, loaded VM: count 139 -> 98
ms, fill 239 -> 154 ms, for 16 ms of records.
"""
from __future__ import annotations

import numba
import numpy as np

from kkpy.core import kernel

from .._tuning import PREFETCH_DISTANCE
from ._accumulators import (_LOW6, _SIX, _cttz, bitmap, dense_add, dense_emit, or_words,
                            words_count, words_emit)
from ._prefetch import ahead, prefetch


@kernel
def count_rows(c, bounds, m, far, a_rm, a_ent, b_rm, b_ent, counts):
    """Distinct columns of each row ``bounds[c]:bounds[c + 1]`` of ``A @ B``.

    With ``far`` (the rows of ``B`` that a row of ``A`` names lie too far
    apart to stay in cache, see :func:`~kkpy.sparse._accumulate.far_rows`),
    both passes prefetch them a few entries of ``A`` ahead, as the one-pass
    kernels do: without, each product waited on two or three cache misses
    in turn (the fill alone, one thread, tall-skinny 271 -> 94 ms).  Where
    they are neighbours the prefetch is pure cost (Poisson2D squared, one
    thread, medians of 9: count 12.5 -> 10.5 ms, fill 36.0 -> 33.9 ms
    without it).
    """
    lo = bounds[c]
    hi = bounds[c + 1]
    mark = np.full(m, -1, np.int64)
    for i in range(lo, hi):
        n = 0
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            if far:
                ahead(p, a_ent, b_rm, b_ent, b_ent)
            k = np.uint64(a_ent[p])
            for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + np.uint64(1)])):
                j = np.uint64(b_ent[q])
                if mark[j] != i:
                    mark[j] = i
                    n += 1
        counts[i] = n


@kernel
def fill_rows(c, bounds, m, far, a_rm, a_ent, a_val, b_rm, b_ent, b_val, c_rm, c_ent, c_val):
    """Rows ``bounds[c]:bounds[c + 1]`` of ``C = A @ B`` into ``C``'s arrays (row map known).

    The accumulator's columns are marked in the one-pass kernels' three-level
    bitmap, which gives them back in order: no sort.  Against collecting
    them in first-seen order and sorting each row (insertion sort), the fill
    alone, one thread, loaded dev-2c, medians of 7: Poisson2D squared 50.9
    -> 43.0 ms, a random 400000 x 400000 matrix with 5 entries a row squared
    423 -> 284 ms.
    """
    b0, b1, b2 = bitmap(m)
    acc = np.zeros(m, c_val.dtype)
    for i in range(bounds[c], bounds[c + 1]):
        n = 0
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            if far:
                ahead(p, a_ent, b_rm, b_ent, b_val)
            k = np.uint64(a_ent[p])
            av = a_val[p]
            for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + np.uint64(1)])):
                n = dense_add(b0, b1, b2, acc, np.uint64(b_ent[q]), av * b_val[q], n)
        dense_emit(b0, b1, b2, acc, c_ent, c_val, c_rm[i], True)


# -- narrow B: its rows as records (see the module's docstring) ---------------

_D = np.uint64(PREFETCH_DISTANCE)
_D2 = np.uint64(2 * PREFETCH_DISTANCE)


@kernel
def row_record(k, b_rm, b_ent, nw, rec):
    """Write row ``k`` of ``B``'s record; 1 if its columns are not strictly increasing, else 0.

    A row with repeated or unsorted columns cannot be a record (its values
    would not be in bit order): the caller then takes the marker kernels.
    """
    base = np.uint64(k) * np.uint64(nw + 1)
    for t in range(np.uint64(nw)):
        rec[base + t] = 0
    lo = b_rm[k]
    rec[base + np.uint64(nw)] = lo
    bad = 0
    prev = -1
    for q in range(lo, b_rm[k + 1]):
        j = b_ent[q]
        bad |= j <= prev
        prev = j
        u = np.uint64(j)
        rec[base + (u >> _SIX)] |= np.uint64(1) << (u & _LOW6)
    return bad


@numba.njit(cache=True)
def _record_ahead(p, a_ent, rec, stride, b_val):
    """Prefetch the record of ``A``'s entry ``p + 2D`` and the values of entry ``p + D``."""
    last = np.uint64(a_ent.shape[0] - 1)
    prefetch(rec, np.uint64(a_ent[min(p + _D2, last)]) * stride)
    at = np.uint64(a_ent[min(p + _D, last)]) * stride + stride - np.uint64(1)
    prefetch(b_val, rec[at])


@kernel
def count_rows_records(c, bounds, nw, a_rm, a_ent, rec, counts):
    """:func:`count_rows` from ``B``'s records: the set bits of the OR of their words."""
    stride = np.uint64(nw + 1)
    last = np.uint64(a_ent.shape[0] - 1)
    b0 = np.zeros(nw, np.uint64)
    for i in range(bounds[c], bounds[c + 1]):
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            prefetch(rec, np.uint64(a_ent[min(p + _D, last)]) * stride)
            or_words(b0, rec, np.uint64(a_ent[p]) * stride)
        counts[i] = words_count(b0)


@kernel
def fill_rows_records(c, bounds, nw, m, a_rm, a_ent, a_val, rec, b_val, c_rm, c_ent, c_val):
    """:func:`fill_rows` from ``B``'s records (row map of ``C`` known)."""
    stride = np.uint64(nw + 1)
    b0 = np.zeros(nw, np.uint64)
    acc = np.zeros(m, c_val.dtype)
    for i in range(bounds[c], bounds[c + 1]):
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            _record_ahead(p, a_ent, rec, stride, b_val)
            base = np.uint64(a_ent[p]) * stride
            av = a_val[p]
            q = rec[base + stride - np.uint64(1)]
            for t in range(np.uint64(nw)):
                x = rec[base + t]
                b0[t] |= x
                while x:
                    acc[(t << _SIX) | _cttz(x)] += av * b_val[q]
                    x &= x - np.uint64(1)
                    q += np.uint64(1)
        words_emit(b0, acc, c_ent, c_val, c_rm[i], True)
