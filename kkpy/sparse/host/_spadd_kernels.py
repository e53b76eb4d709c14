"""SpAdd kernels: ``C = alpha*A + beta*B`` row by row, with the SpGEMM accumulators.

Rows of ``A`` and ``B`` need not be sorted and may repeat columns: both are
poured into one accumulator, ``A``'s entries first, then ``B``'s.
"""
from __future__ import annotations

import numba
import numpy as np

from kkpy.core import kernel

from ._accumulators import (dense_emit, dense_gather, dense_insert, hash_emit, hash_insert,
                            known_add, known_clear, known_load, known_workspace, workspace)
from ._staging import publish
from ._spgemm_kernels import chunk_bound


@kernel
def row_work(i, a_rm, b_rm, work):
    """Entries of rows ``i`` of ``A`` and ``B`` together: the upper bound of row ``i`` of ``C``."""
    work[i] = (a_rm[i + 1] - a_rm[i]) + (b_rm[i + 1] - b_rm[i])


@numba.njit(cache=True)
def structure_row_dense(i, a_rm, a_ent, b_rm, b_ent, b0, b1, b2, cols, off):
    """Write the sorted columns of row ``i`` of ``A + B`` to ``cols[off:]``; return their count."""
    n = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        n = dense_insert(b0, b1, b2, np.uint64(a_ent[p]), n)
    for p in range(np.uint64(b_rm[i]), np.uint64(b_rm[i + 1])):
        n = dense_insert(b0, b1, b2, np.uint64(b_ent[p]), n)
    return dense_emit(b0, b1, b2, b0, cols, cols, off, False)


@numba.njit(cache=True)
def structure_row_hash(i, a_rm, a_ent, b_rm, b_ent, keys, shift, slots, cols, off):
    """:func:`structure_row_dense` with a hash accumulator."""
    n = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        n = hash_insert(keys, shift, slots, np.uint64(a_ent[p]), n)
    for p in range(np.uint64(b_rm[i]), np.uint64(b_rm[i + 1])):
        n = hash_insert(keys, shift, slots, np.uint64(b_ent[p]), n)
    hash_emit(keys, keys, slots, cols, cols, off, n, False)
    return n


@kernel
def symbolic_chunk(c, bounds, region, work, m, dense, a_rm, a_ent, b_rm, b_ent,
                   st_ent, rowcnt, chunk_nnz, dest, done, state):
    """Sorted columns of the rows of chunk ``c`` of ``A + B`` into its staging region."""
    lo = bounds[c]
    hi = bounds[c + 1]
    bound = chunk_bound(lo, hi, work, m)
    b0, b1, b2, acc, keys, hv, slots, shift = workspace(dense, m, bound, st_ent, False)
    pos = region[c]
    for i in range(lo, hi):
        if dense:
            n = structure_row_dense(i, a_rm, a_ent, b_rm, b_ent, b0, b1, b2, st_ent, pos)
        else:
            n = structure_row_hash(i, a_rm, a_ent, b_rm, b_ent, keys, shift, slots, st_ent, pos)
        rowcnt[i] = n
        pos += n
    chunk_nnz[c] = pos - region[c]
    publish(c, region, chunk_nnz, dest, done, state, st_ent, st_ent, False)


@numba.njit(cache=True)
def numeric_rows_dense(lo, hi, m, alpha, a_rm, a_ent, a_val, beta, b_rm, b_ent, b_val,
                       c_rm, c_ent, c_val):
    """Values of rows ``lo:hi`` of ``alpha*A + beta*B`` into ``C`` (structure known), densely."""
    acc = np.zeros(m, c_val.dtype)
    for i in range(lo, hi):
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            acc[np.uint64(a_ent[p])] += alpha * a_val[p]
        for p in range(np.uint64(b_rm[i]), np.uint64(b_rm[i + 1])):
            acc[np.uint64(b_ent[p])] += beta * b_val[p]
        dense_gather(acc, c_ent, c_val, c_rm[i], c_rm[i + 1])


@numba.njit(cache=True)
def numeric_rows_hash(lo, hi, alpha, a_rm, a_ent, a_val, beta, b_rm, b_ent, b_val,
                      c_rm, c_ent, c_val):
    """:func:`numeric_rows_dense` with a hash table of each row's columns."""
    keys, where, slots, shift = known_workspace(c_rm, lo, hi)
    for i in range(lo, hi):
        known_load(keys, shift, where, slots, c_ent, c_val, c_rm[i], c_rm[i + 1])
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            known_add(keys, shift, where, c_val, np.uint64(a_ent[p]), alpha * a_val[p])
        for p in range(np.uint64(b_rm[i]), np.uint64(b_rm[i + 1])):
            known_add(keys, shift, where, c_val, np.uint64(b_ent[p]), beta * b_val[p])
        known_clear(keys, slots, c_rm[i + 1] - c_rm[i])


@kernel
def numeric_chunk(c, bounds, m, dense, alpha, a_rm, a_ent, a_val, beta, b_rm, b_ent, b_val,
                  c_rm, c_ent, c_val):
    """Values of the rows of chunk ``c`` of ``alpha*A + beta*B`` into ``C`` (structure known)."""
    if dense:
        numeric_rows_dense(bounds[c], bounds[c + 1], m, alpha, a_rm, a_ent, a_val, beta, b_rm,
                           b_ent, b_val, c_rm, c_ent, c_val)
    else:
        numeric_rows_hash(bounds[c], bounds[c + 1], alpha, a_rm, a_ent, a_val, beta, b_rm,
                          b_ent, b_val, c_rm, c_ent, c_val)


# -- both operands sorted, without repeated columns: merge the rows ------------


@numba.njit(cache=True, inline="always")
def strictly_increasing(entries, p, end, ncols):
    """Whether ``entries[p:end]`` strictly increases within ``[0, ncols)``.

    Inlined: called through LLVM, a helper taking arrays pays their
    reference counts on every call (see ``_accumulators.sorted_add``).
    Without a branch per entry, so that random columns cost no mispredictions.
    """
    if p == end:
        return True
    bad = np.int64(entries[p]) < 0 or np.int64(entries[end - np.uint64(1)]) >= ncols
    for k in range(p + np.uint64(1), end):
        bad |= entries[k - np.uint64(1)] >= entries[k]
    return not bad


@kernel
def merge_count(c, bounds, a_rm, a_ent, b_rm, b_ent, ncols, pairs, counts, fallback):
    """Columns of each row ``bounds[c]:bounds[c + 1]`` of ``A + B``, merging sorted rows.

    It checks what it reads, so that a structure nobody has checked needs
    no separate pass over its indices: offsets within ``[0, nnz]`` that never
    decrease, and columns that strictly increase within ``[0, ncols)`` in
    each row.  At the first row that fails (a bad structure, or merely
    unsorted rows) block ``c`` sets ``fallback[c]`` and stops; the caller
    then takes the accumulator path, which validates in full.

    The count is the two rows' lengths less the columns they share.  Rows
    whose lengths multiply to at most ``pairs`` compare every pair of
    columns (independent compares the compiler vectorises); longer ones
    merge without a data-dependent branch, each step advancing one or both
    rows by the comparison's result.  A plain merge's branches mispredict
    half the time on random columns.  See ``SPADD_PAIRS_LIMIT`` in
    ``kkpy/sparse/_tuning.py`` for the measurements.
    """
    a_nnz = np.uint64(a_ent.shape[0])
    b_nnz = np.uint64(b_ent.shape[0])
    for i in range(bounds[c], bounds[c + 1]):
        p = np.uint64(a_rm[i])
        pe = np.uint64(a_rm[i + 1])
        q = np.uint64(b_rm[i])
        qe = np.uint64(b_rm[i + 1])
        if p > pe or pe > a_nnz or q > qe or qe > b_nnz:  # unsigned: negatives are huge
            fallback[c] = 1
            return
        if not (strictly_increasing(a_ent, p, pe, ncols)
                and strictly_increasing(b_ent, q, qe, ncols)):
            fallback[c] = 1
            return
        n = (pe - p) + (qe - q)
        if (pe - p) * (qe - q) <= pairs:
            for k in range(p, pe):
                j = a_ent[k]
                shared = np.uint64(0)
                for r in range(q, qe):
                    shared += np.uint64(b_ent[r] == j)
                n -= shared
        else:
            while p < pe and q < qe:
                ja = a_ent[p]
                jb = b_ent[q]
                p += np.uint64(ja <= jb)
                q += np.uint64(jb <= ja)
                n -= np.uint64(ja == jb)
        counts[i] = n


@kernel
def merge_fill(c, bounds, alpha, a_rm, a_ent, a_val, beta, b_rm, b_ent, b_val,
               c_rm, c_ent, c_val):
    """Rows ``bounds[c]:bounds[c + 1]`` of ``alpha*A + beta*B`` by merging sorted rows.

    Without a data-dependent branch (selects, not jumps), as
    :func:`merge_count` merges long rows: 42 -> 29 ms for 1e7 random
    entries on one core of the 2-core dev machine.  Each value is
    ``alpha*a``, ``beta*b`` or ``alpha*a + beta*b``, as with branches, so
    the bits are the same.
    """
    for i in range(bounds[c], bounds[c + 1]):
        p = np.uint64(a_rm[i])
        pe = np.uint64(a_rm[i + 1])
        q = np.uint64(b_rm[i])
        qe = np.uint64(b_rm[i + 1])
        o = np.uint64(c_rm[i])
        while p < pe and q < qe:
            ja = a_ent[p]
            jb = b_ent[q]
            ta = ja <= jb
            tb = jb <= ja
            va = alpha * a_val[p]
            vb = beta * b_val[q]
            c_ent[o] = ja if ta else jb
            c_val[o] = (va + vb) if (ta and tb) else (va if ta else vb)
            p += np.uint64(ta)
            q += np.uint64(tb)
            o += np.uint64(1)
        while p < pe:
            c_ent[o] = a_ent[p]
            c_val[o] = alpha * a_val[p]
            p += np.uint64(1)
            o += np.uint64(1)
        while q < qe:
            c_ent[o] = b_ent[q]
            c_val[o] = beta * b_val[q]
            q += np.uint64(1)
            o += np.uint64(1)
