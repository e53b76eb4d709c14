"""SpGEMM kernels: row work, symbolic (structure) and numeric (values) phases.

Every kernel works on a *chunk* of consecutive rows, ``bounds[c]`` to
``bounds[c + 1]``, so that its accumulator workspace is allocated once per
chunk, not once per row.  Each row of ``C = A @ B`` is computed by one
thread, adding ``A[i, k] * B[k, j]`` in the order of A's row and then B's
row: the bits of the result do not depend on the chunking or the number of
threads.

Kernels that fill a staging buffer (symbolic, fused) write chunk ``c``'s
rows one after another from ``region[c]``, a region sized by the rows'
upper bounds; ``_staged.py`` compacts the regions into the final arrays.
"""
from __future__ import annotations

import numba
import numpy as np

from kkpy.core.extending import build_kernel
from kkpy.core import kernel

# Indices are unsigned in inner loops (_ONE, _SIX, _LOW6): no negative-index checks.
from ._accumulators import (_LOW6, _ONE, _SIX, bitmap, dense_add, dense_clear, dense_emit,
                            dense_gather, dense_insert, hash_add, hash_emit, hash_insert,
                            known_add, known_clear, known_load, known_workspace, or_words,
                            scatter, scatter_distinct, sorted_add, words_emit, workspace)
from .._tuning import WIDE_COLS
from ._staging import publish
from ._prefetch import ahead


@numba.njit(cache=True)
def row_products(i, a_rm, a_ent, b_rm):
    """Number of products ``A[i, k] * B[k, j]`` row ``i`` of ``C`` needs."""
    s = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        k = np.uint64(a_ent[p])
        s += b_rm[k + _ONE] - b_rm[k]
    return s



@kernel
def row_bitmap(k, b_rm, b_ent, nw, bits):
    """Row ``k`` of ``B`` as a bitmap of ``nw`` words, ``bits[k * nw:(k + 1) * nw]``.

    Returns the number of repeated columns in the row (summed, zero means
    that every row of ``B`` lists distinct columns).
    """
    start = np.uint64(k) * np.uint64(nw)
    for w in range(nw):
        bits[start + np.uint64(w)] = 0
    repeats = 0
    for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + 1])):
        j = np.uint64(b_ent[q])
        w = start + (j >> _SIX)
        bit = _ONE << (j & _LOW6)
        repeats += (bits[w] & bit) != 0
        bits[w] |= bit
    return repeats


@numba.njit(cache=True)
def chunk_bound(lo, hi, work, m):
    """Largest possible row of ``C`` among rows ``lo:hi``: its products, at most ``m``."""
    bound = 0
    for i in range(lo, hi):
        w = min(work[i], m)
        if w > bound:
            bound = w
    return bound


@numba.njit(cache=True)
def any_long(lo, hi, work, short):
    """Whether a row among ``lo:hi`` has more than ``short`` products (needs an accumulator).

    Judged on the products themselves, not on :func:`chunk_bound`, which is
    capped at the width of ``B``: a row of many products into few columns
    still needs the accumulator's workspace.
    """
    for i in range(lo, hi):
        if work[i] > short:
            return True
    return False


# Dense and hash rows are separate functions: with both paths in one function
# LLVM compiled the dense one about 20x slower (numba 0.68).

@numba.njit(cache=True)
def structure_row_dense(i, a_rm, a_ent, b_rm, b_ent, b0, b1, b2, cols, off):
    """Write the sorted columns of row ``i`` of ``A @ B`` to ``cols[off:]``; return their count."""
    n = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        ahead(p, a_ent, b_rm, b_ent, b_ent)
        k = np.uint64(a_ent[p])
        for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + _ONE])):
            n = dense_insert(b0, b1, b2, np.uint64(b_ent[q]), n)
    return dense_emit(b0, b1, b2, b0, cols, cols, off, False)


@numba.njit(cache=True)
def structure_row_union(i, a_rm, a_ent, bits, b0, cols, off):
    """:func:`structure_row_dense` from the bitmaps of ``B``'s rows (see :func:`row_bitmap`)."""
    nw = np.uint64(b0.shape[0])
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        or_words(b0, bits, np.uint64(a_ent[p]) * nw)
    return words_emit(b0, b0, cols, cols, off, False)


@numba.njit(cache=True)
def structure_row_hash(i, a_rm, a_ent, b_rm, b_ent, keys, shift, slots, cols, off):
    """:func:`structure_row_dense` with a hash accumulator."""
    n = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        ahead(p, a_ent, b_rm, b_ent, b_ent)
        k = np.uint64(a_ent[p])
        for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + _ONE])):
            n = hash_insert(keys, shift, slots, np.uint64(b_ent[q]), n)
    hash_emit(keys, keys, slots, cols, cols, off, n, False)
    return n


@numba.njit(cache=True, inline="always")
def structure_row_sorted(i, a_rm, a_ent, b_rm, b_ent, cols, off):
    """:func:`structure_row_dense` for a short row, kept sorted in place (:func:`sorted_add`)."""
    n = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        k = np.uint64(a_ent[p])
        for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + _ONE])):
            n = sorted_add(cols, cols, off, n, np.int64(b_ent[q]), 0, False)
    return n


@numba.njit(cache=True, inline="always")
def product_row_sorted(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, cols, vals, off):
    """:func:`product_row_dense` for a short row, kept sorted in place (:func:`sorted_add`)."""
    n = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        k = np.uint64(a_ent[p])
        a = a_val[p]
        for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + _ONE])):
            n = sorted_add(cols, vals, off, n, np.int64(b_ent[q]), a * b_val[q], True)
    return n


@numba.njit(cache=True)
def structure_row(i, dense, union, a_rm, a_ent, b_rm, b_ent, bits, b0, b1, b2, keys, shift,
                  slots, cols, off):
    """Row ``i``'s sorted columns by the accumulator of the :func:`workspace` given."""
    if dense and union:
        return structure_row_union(i, a_rm, a_ent, bits, b0, cols, off)
    if dense:
        return structure_row_dense(i, a_rm, a_ent, b_rm, b_ent, b0, b1, b2, cols, off)
    return structure_row_hash(i, a_rm, a_ent, b_rm, b_ent, keys, shift, slots, cols, off)


@numba.njit(cache=True)
def row_columns(i, short, dense, union, a_rm, a_ent, b_rm, b_ent, bits, b0, b1, b2, keys,
                shift, slots, cols, off):
    """:func:`structure_row`, or :func:`structure_row_sorted` for a ``short`` row."""
    if short:
        return structure_row_sorted(i, a_rm, a_ent, b_rm, b_ent, cols, off)
    return structure_row(i, dense, union, a_rm, a_ent, b_rm, b_ent, bits, b0, b1, b2, keys,
                         shift, slots, cols, off)


@numba.njit(cache=True)
def row_lengths(rows, bound, m, dense, bits, short, a_rm, a_ent, b_rm, b_ent, lengths):
    """``lengths[t]``: the number of entries of row ``rows[t]`` of ``C``, row by row.

    ``bound``: the largest upper bound of those rows' lengths; rows of at
    most ``short`` products are kept sorted (see :func:`sorted_add`).
    """
    bound = max(bound, 1)
    scratch = np.empty(bound, np.int64)
    big = False
    for t in range(rows.shape[0]):
        big = big or row_products(rows[t], a_rm, a_ent, b_rm) > short
    b0, b1, b2, acc, keys, hv, slots, shift = workspace(dense and big, m, bound if big else 1,
                                                        scratch, False)
    union = bits.shape[0] > 0
    for t in range(rows.shape[0]):
        i = rows[t]
        lengths[t] = row_columns(i, row_products(i, a_rm, a_ent, b_rm) <= short, dense, union,
                                 a_rm, a_ent, b_rm, b_ent, bits, b0, b1, b2, keys, shift, slots,
                                 scratch, 0)


@numba.njit(cache=True)
def accumulate_row_dense(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, b0, b1, b2, acc):
    """Add row ``i`` of ``A @ B`` into a dense accumulator; return :func:`dense_add`'s count."""
    n = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        ahead(p, a_ent, b_rm, b_ent, b_val)
        k = np.uint64(a_ent[p])
        a = a_val[p]
        for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + _ONE])):
            n = dense_add(b0, b1, b2, acc, np.uint64(b_ent[q]), a * b_val[q], n)
    return n


@numba.njit(cache=True)
def product_row_dense(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, b0, b1, b2, acc, cols, vals,
                      off):
    """Write row ``i`` of ``A @ B`` (sorted columns, values) from ``off``; return its length."""
    accumulate_row_dense(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, b0, b1, b2, acc)
    return dense_emit(b0, b1, b2, acc, cols, vals, off, True)


@numba.njit(cache=True)
def product_row_union(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, bits, b0, acc, cols, vals,
                      off):
    """:func:`product_row_dense` with the row's columns from the bitmaps of ``B``'s rows."""
    nw = np.uint64(b0.shape[0])
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        ahead(p, a_ent, b_rm, b_ent, b_val)
        k = np.uint64(a_ent[p])
        or_words(b0, bits, k * nw)
        scatter_distinct(acc, b_ent, b_val, np.uint64(b_rm[k]), np.uint64(b_rm[k + _ONE]),
                         a_val[p])
    return words_emit(b0, acc, cols, vals, off, True)


@numba.njit(cache=True)
def product_row_hash(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, keys, hv, shift, slots, cols,
                     vals, off):
    """:func:`product_row_dense` with a hash accumulator."""
    n = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        ahead(p, a_ent, b_rm, b_ent, b_val)
        k = np.uint64(a_ent[p])
        a = a_val[p]
        for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + _ONE])):
            n = hash_add(keys, hv, shift, slots, np.uint64(b_ent[q]), a * b_val[q], n)
    hash_emit(keys, hv, slots, cols, vals, off, n, True)
    return n


@kernel
def symbolic_chunk(c, bounds, region, flops, m, dense, bits, short, a_rm, a_ent, b_rm, b_ent,
                   st_ent, rowcnt, chunk_nnz, dest, done, state):
    """Sorted columns of the rows of chunk ``c`` into its staging region.

    ``bits`` holds the bitmaps of ``B``'s rows for the dense accumulator
    (:func:`row_bitmap`), or nothing; rows of at most ``short`` products
    are kept sorted as they grow (:func:`sorted_add`), whatever the
    accumulator (a chunk of only such rows allocates none).
    """
    lo = bounds[c]
    hi = bounds[c + 1]
    bound = chunk_bound(lo, hi, flops, m)
    big = any_long(lo, hi, flops, short)  # else every row is short: no accumulator
    b0, b1, b2, acc, keys, hv, slots, shift = workspace(dense and big, m, bound if big else 1,
                                                        st_ent, False)
    union = bits.shape[0] > 0
    pos = region[c]
    for i in range(lo, hi):
        n = row_columns(i, flops[i] <= short, dense, union, a_rm, a_ent, b_rm, b_ent, bits, b0,
                        b1, b2, keys, shift, slots, st_ent, pos)
        rowcnt[i] = n
        pos += n
    chunk_nnz[c] = pos - region[c]
    publish(c, region, chunk_nnz, dest, done, state, st_ent, st_ent, False)


@numba.njit(cache=True)
def numeric_rows_dense(lo, hi, m, distinct, short, a_rm, a_ent, a_val, b_rm, b_ent, b_val, c_rm,
                       c_ent, c_val):
    """Values of rows ``lo:hi`` of ``C``, whose structure is known, with a dense accumulator.

    ``distinct``: no row of ``B`` repeats a column, so products are added
    four at a time (:func:`scatter_distinct`).  Rows of at most ``short``
    products are skipped (:func:`numeric_rows_sorted` did them).
    """
    # Stays zero between rows: each row's gather clears what it touched.
    acc = np.zeros(m, c_val.dtype)
    for i in range(lo, hi):
        if short > 0 and row_products(i, a_rm, a_ent, b_rm) <= short:
            continue
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            ahead(p, a_ent, b_rm, b_ent, b_val)
            k = np.uint64(a_ent[p])
            q0, q1 = np.uint64(b_rm[k]), np.uint64(b_rm[k + _ONE])
            if distinct:
                scatter_distinct(acc, b_ent, b_val, q0, q1, a_val[p])
            else:
                scatter(acc, b_ent, b_val, q0, q1, a_val[p])
        dense_gather(acc, c_ent, c_val, c_rm[i], c_rm[i + 1])


@numba.njit(cache=True)
def numeric_rows_marked(lo, hi, m, short, a_rm, a_ent, a_val, b_rm, b_ent, b_val, c_rm, c_ent,
                        c_val):
    """:func:`numeric_rows_dense` through :func:`dense_add`, bitmap and all, for wide ``B``.

    The structure is known, yet marking the columns pays on wide ``B``: the
    bare ``acc[j] += v`` loop ran W @ W (65536 neurons) at 0.28 s on 2
    threads as often as at 0.15 s; this one stays at 0.14 s.  On narrow
    ``B`` it was twice as slow instead (measured with the branch-free
    bitmap insertion of the time).
    """
    acc = np.zeros(m, c_val.dtype)
    b0, b1, b2 = bitmap(m)
    for i in range(lo, hi):
        if short > 0 and row_products(i, a_rm, a_ent, b_rm) <= short:
            continue
        accumulate_row_dense(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, b0, b1, b2, acc)
        dense_gather(acc, c_ent, c_val, c_rm[i], c_rm[i + 1])
        dense_clear(b0, b1, b2, c_ent, c_rm[i], c_rm[i + 1])


@numba.njit(cache=True)
def numeric_rows_hash(lo, hi, short, a_rm, a_ent, a_val, b_rm, b_ent, b_val, c_rm, c_ent, c_val):
    """:func:`numeric_rows_dense` with a hash table of each row's columns."""
    keys, where, slots, shift = known_workspace(c_rm, lo, hi)
    for i in range(lo, hi):
        if short > 0 and row_products(i, a_rm, a_ent, b_rm) <= short:
            continue
        known_load(keys, shift, where, slots, c_ent, c_val, c_rm[i], c_rm[i + 1])
        for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
            ahead(p, a_ent, b_rm, b_ent, b_val)
            k = np.uint64(a_ent[p])
            a = a_val[p]
            for q in range(np.uint64(b_rm[k]), np.uint64(b_rm[k + _ONE])):
                known_add(keys, shift, where, c_val, np.uint64(b_ent[q]), a * b_val[q])
        known_clear(keys, slots, c_rm[i + 1] - c_rm[i])


@numba.njit(cache=True)
def numeric_rows_sorted(lo, hi, short, a_rm, a_ent, a_val, b_rm, b_ent, b_val, c_rm, c_ent,
                        c_val):
    """Values of the short rows (at most ``short`` products) among ``lo:hi``; True if all were.

    Each is computed as in the one-pass product (:func:`product_row_sorted`,
    into a scratch row: its columns come out as ``C``'s) and its values
    copied to ``C``.  Rows with more products are left to the chunk's
    accumulator.
    """
    cols = np.empty(max(short, 1), c_ent.dtype)
    vals = np.empty(max(short, 1), c_val.dtype)
    every = True
    for i in range(lo, hi):
        if row_products(i, a_rm, a_ent, b_rm) > short:
            every = False
            continue
        n = product_row_sorted(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, cols, vals, 0)
        c0 = c_rm[i]
        for t in range(n):
            c_val[c0 + t] = vals[t]
    return every


@kernel
def numeric_chunk(c, bounds, m, dense, distinct, short, a_rm, a_ent, a_val, b_rm, b_ent, b_val,
                  c_rm, c_ent, c_val):
    """Values of the rows of chunk ``c`` into ``C``, whose structure is known.

    ``distinct``: the rows of ``B`` are known to list distinct columns (known
    only for narrow ``B``, whose rows had bitmaps).  Rows of at most
    ``short`` products go first (:func:`numeric_rows_sorted`); if any row
    had more, the chunk's accumulator computes the others.
    """
    if short > 0 and numeric_rows_sorted(bounds[c], bounds[c + 1], short, a_rm, a_ent, a_val,
                                         b_rm, b_ent, b_val, c_rm, c_ent, c_val):
        return
    if dense and m > WIDE_COLS:  # wide B: mark columns (more than one level-1 word)
        numeric_rows_marked(bounds[c], bounds[c + 1], m, short, a_rm, a_ent, a_val, b_rm, b_ent,
                            b_val, c_rm, c_ent, c_val)
    elif dense:
        numeric_rows_dense(bounds[c], bounds[c + 1], m, distinct, short, a_rm, a_ent, a_val, b_rm,
                           b_ent, b_val, c_rm, c_ent, c_val)
    else:
        numeric_rows_hash(bounds[c], bounds[c + 1], short, a_rm, a_ent, a_val, b_rm, b_ent, b_val,
                          c_rm, c_ent, c_val)


# The fused kernel is specialised for each epilogue (``_ep``), so the
# epilogue is inlined in the row loop and still cached on disk.
_FUSED = """
def spgemm_fused(c, bounds, region, flops, m, dense, bits, short, apply, drop, a_rm, a_ent,
                 a_val, b_rm, b_ent, b_val, st_ent, st_val, rowcnt, chunk_nnz, dest, done,
                 state{eargs}):
    lo = bounds[c]
    hi = bounds[c + 1]
    bound = _chunk_bound(lo, hi, flops, m)
    big = _any_long(lo, hi, flops, short)
    b0, b1, b2, acc, keys, hv, slots, shift = _workspace(dense and big, m, bound if big else 1,
                                                         st_val, True)
    union = bits.shape[0] > 0
    pos = region[c]
    for i in range(lo, hi):
        if flops[i] <= short:
            n = _row_sorted(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, st_ent, st_val, pos)
        elif dense and union:
            n = _row_union(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, bits, b0, acc, st_ent,
                           st_val, pos)
        elif dense:
            n = _row_dense(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, b0, b1, b2, acc, st_ent,
                           st_val, pos)
        else:
            n = _row_hash(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, keys, hv, shift, slots,
                          st_ent, st_val, pos)
        out = pos + n
        if apply:
            out = pos
            for t in range(pos, pos + n):
                j = st_ent[t]
                z = _ep(st_val[t], j{eargs})
                if drop and z == 0:
                    continue
                st_ent[out] = j
                st_val[out] = z
                out += 1
        rowcnt[i] = out - pos
        pos = out
    chunk_nnz[c] = pos - region[c]
    _publish(c, region, chunk_nnz, dest, done, state, st_ent, st_val, True)
"""


_fused: dict = {}


def fused_kernel(epilogue, n_eargs):
    """The fused SpGEMM chunk kernel with ``epilogue`` inlined (memoised per epilogue)."""
    key = (id(epilogue), n_eargs)
    hit = _fused.get(key)
    if hit is None or hit[0] is not epilogue:
        eargs = "".join(f", e{k}" for k in range(n_eargs))
        kern = build_kernel(_FUSED.format(eargs=eargs), "spgemm_fused",
                            {"_ep": epilogue, "_workspace": workspace, "_chunk_bound": chunk_bound,
                             "_any_long": any_long,
                             "_row_dense": product_row_dense, "_row_union": product_row_union,
                             "_row_hash": product_row_hash, "_row_sorted": product_row_sorted,
                             "_publish": publish})
        hit = _fused[key] = (epilogue, kern)  # holding the epilogue keeps its id unique
    return hit[1]
