"""Row accumulators shared by SpGEMM and SpAdd: dense and hash.

An accumulator gathers the contributions ``(j, v)`` to one row of a result,
merging those with the same column ``j``, and writes the row out with its
columns sorted.  Both kinds live in a workspace that a kernel allocates once
per chunk of rows and reuses row after row:

* **dense** -- values in an array of length ``ncols`` indexed by column, and
  the set of columns present as a three-level bitmap (a bit per column, a
  bit per nonzero word of that, and so on).  Emitting a row walks the set
  bits in order: the row comes out sorted without a sort, in time
  proportional to its length, and the walk leaves bitmap and values clear
  for the next row.  The bitmap takes ``ncols / 8`` bytes: only the values
  make a wide dense accumulator costly.
* **sorted** -- for short rows (stencils squared: 25 products, 13
  entries): the row itself, kept sorted and merged as each product
  arrives (an insertion, scanning from the end), written straight into its
  place in the output.  A row of a few dozen entries is a few cache lines:
  no table, no marker, no sort at the end.
* **hash** -- an open-addressing table (linear probing, Fibonacci hashing)
  of a power-of-two size at least twice the row's upper bound, so probes
  stay short and the table stays in L1/L2 however wide the matrix is; the
  slots a row fills are listed in arrival order and sorted by column (radix
  sort) when the row is emitted.

Every accumulated value starts from ``0`` and adds contributions in arrival
order, in both kinds: for the same arrival order they give the same bits.

Rows are written to ``cols[off:off + n]`` and ``vals[off:off + n]`` (the
output buffers themselves).
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._tuning import HASH_SLOTS_PER_ENTRY, SORT_INSERTION_MAX

_FIB = np.uint64(11400714819323198485)  # 2**64 / golden ratio: spreads strided columns
_ONE = np.uint64(1)
_TWO = np.uint64(2)
_THREE = np.uint64(3)
_FOUR = np.uint64(4)
_SIX = np.uint64(6)
_LOW6 = np.uint64(63)


@intrinsic
def _cttz(typingctx, x):
    """Trailing zero bits of a nonzero uint64 (one instruction; numba has no builtin)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, sig, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.uint64(types.uint64), codegen


@intrinsic
def _ctpop(typingctx, x):
    """Set bits of a uint64 (one instruction; numba has no builtin)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, sig, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@numba.njit(cache=True)
def words_count(b0):
    """Set bits of the one-level bitmap ``b0``, which it leaves clear."""
    n = 0
    for w in range(b0.shape[0]):
        n += _ctpop(b0[w])
        b0[w] = 0
    return n


@numba.njit(cache=True)
def table_shape(bound):
    """``(size, shift)`` of a hash table for rows of at most ``bound`` entries."""
    bits = 1
    while (1 << bits) < HASH_SLOTS_PER_ENTRY * bound:
        bits += 1
    return 1 << bits, np.uint64(64 - bits)


@numba.njit(cache=True)
def hash_slot(j, shift):
    """Home slot of column ``j``: the top bits of ``j * 2**64/phi``."""
    return (np.uint64(j) * _FIB) >> shift


@numba.njit(cache=True)
def bitmap(m):
    """An empty three-level bitmap ``(b0, b1, b2)`` for ``m`` columns."""
    n0 = (m + 63) >> 6
    n1 = (n0 + 63) >> 6
    n2 = (n1 + 63) >> 6
    return np.zeros(n0, np.uint64), np.zeros(n1, np.uint64), np.zeros(max(n2, 1), np.uint64)


# Column indices arrive as uint64: numba indexes with unsigned integers
# without the negative-index checks, which made the inner loops 2x faster.

@numba.njit(cache=True)
def set_upper(b1, b2, w):
    """Mark word ``w`` of level 0 as nonzero in level 1, and its level-1 word in level 2."""
    w1 = w >> _SIX
    b1[w1] = b1[w1] | (_ONE << (w & _LOW6))
    w2 = w1 >> _SIX
    b2[w2] = b2[w2] | (_ONE << (w1 & _LOW6))


# The bitmap is also the marker of the columns a row has touched: a column
# is new when its bit is clear.  The insert functions have one shape on
# purpose: numba keeps (atomic) reference counting of array arguments in
# helpers whose arrays are used after an early return, which made insertion
# ~50x slower in other arrangements.

@numba.njit(cache=True)
def dense_insert(b0, b1, b2, j, n):
    """Add column ``j`` to the row's set; return the new count ``n``.

    A column already present costs a load and a branch, no store.  (A
    branch-free variant, storing every time, measured 1.3-1.4x slower on
    W @ W and Y @ W with narrow ``B`` once compiled from scratch; it had
    looked faster beside a stale cached kernel.)
    """
    w = j >> _SIX
    bit = _ONE << (j & _LOW6)
    old = b0[w]
    if (old & bit) == 0:
        b0[w] = old | bit
        set_upper(b1, b2, w)
        return n + 1
    return n


@numba.njit(cache=True)
def dense_add(b0, b1, b2, acc, j, v, n):
    """Add ``v`` to entry ``j`` (``acc`` is zero where the row has no entry); return ``n``."""
    acc[j] += v
    return dense_insert(b0, b1, b2, j, n)


@numba.njit(cache=True)
def emit_word(x, base, acc, cols, vals, t, with_values):
    """Write the columns ``base + k`` for the set bits ``k`` of ``x`` from ``t``; return the end.

    Takes their values from ``acc`` (``with_values``) and leaves it zero there.
    """
    while x:
        j = base | _cttz(x)
        x &= x - _ONE
        cols[t] = j
        if with_values:
            vals[t] = acc[j]
            acc[j] = 0
        t += _ONE
    return t


@numba.njit(cache=True)
def dense_emit(b0, b1, b2, acc, cols, vals, off, with_values):
    """Write the set's columns in increasing order (and their values) from ``off``.

    Clears the bitmap and the values it reads, ready for the next row.
    """
    t = np.uint64(off)
    for w2 in range(b2.shape[0]):
        x2 = b2[w2]
        b2[w2] = 0
        while x2:
            w1 = (np.uint64(w2) << _SIX) | _cttz(x2)
            x2 &= x2 - _ONE
            x1 = b1[w1]
            b1[w1] = 0
            while x1:
                w = (w1 << _SIX) | _cttz(x1)
                x1 &= x1 - _ONE
                x0 = b0[w]
                b0[w] = 0
                t = emit_word(x0, w << _SIX, acc, cols, vals, t, with_values)
    return np.int64(t - np.uint64(off))


# -- the union of B's row bitmaps (narrow B) ---------------------------------
# When B is narrow and its rows are not too sparse, each of its rows is kept
# as a bitmap of ``nw`` words: a row of the result gets its columns by OR-ing
# the bitmaps of the rows it adds (a few vector operations per row of B),
# not by testing and inserting every product's column, and its values by
# the bare ``acc[j] += v`` of a known structure.  Kokkos Kernels' SpGEMM
# compresses B's rows into bit masks for the same reason.

@numba.njit(cache=True)
def scatter(acc, b_ent, b_val, q0, q1, a):
    """``acc[b_ent[q]] += a * b_val[q]`` for ``q`` in ``q0:q1``, one at a time."""
    for q in range(q0, q1):
        acc[np.uint64(b_ent[q])] += a * b_val[q]


@numba.njit(cache=True)
def scatter_distinct(acc, b_ent, b_val, q0, q1, a):
    """``acc[b_ent[q]] += a * b_val[q]`` for ``q`` in ``q0:q1``, whose columns are distinct.

    Four entries at a time, all loads before the stores: the processor need
    not wait for one store's address before the next load, which made the
    numeric loop of W @ W (1024 neurons) 1.4-1.5x faster.  The columns of a
    group must differ, or an update would be lost; the rows of ``B`` are
    known to have no repeated column where this is called.  Each entry
    still gets its terms in the same order: the bits are those of the
    one-by-one loop.
    """
    q = q0
    while q + _FOUR <= q1:
        j0 = np.uint64(b_ent[q])
        j1 = np.uint64(b_ent[q + _ONE])
        j2 = np.uint64(b_ent[q + _TWO])
        j3 = np.uint64(b_ent[q + _THREE])
        v0 = acc[j0] + a * b_val[q]
        v1 = acc[j1] + a * b_val[q + _ONE]
        v2 = acc[j2] + a * b_val[q + _TWO]
        v3 = acc[j3] + a * b_val[q + _THREE]
        acc[j0] = v0
        acc[j1] = v1
        acc[j2] = v2
        acc[j3] = v3
        q += _FOUR
    scatter(acc, b_ent, b_val, q, q1, a)


@numba.njit(cache=True)
def or_words(b0, bits, start):
    """``b0 |= bits[start:start + len(b0)]``: add a row of B's columns to the row's set."""
    # An unsigned counter: ``start + w`` stays an integer and the loop vectorises.
    for w in range(np.uint64(b0.shape[0])):
        b0[w] |= bits[start + w]


@numba.njit(cache=True)
def words_emit(b0, acc, cols, vals, off, with_values):
    """:func:`dense_emit` for a one-level bitmap ``b0`` (narrow B): scan its words in order."""
    t = np.uint64(off)
    for w in range(b0.shape[0]):
        x = b0[w]
        if x:
            b0[w] = 0
            t = emit_word(x, np.uint64(w) << _SIX, acc, cols, vals, t, with_values)
    return np.int64(t - np.uint64(off))


# -- short rows: kept sorted as they grow ---------------------------------------

# Inlined by numba itself: called through LLVM, each insertion paid reference
# counting of its arrays (the Poisson2D-squared row loop ran 4x slower).
@numba.njit(cache=True, inline="always")
def sorted_add(cols, vals, off, n, j, v, with_values):
    """Add ``v`` to column ``j`` of the sorted row ``cols[off:off + n]``; return the new ``n``.

    A new column is inserted in order (the larger ones shift right by one);
    a present one only gets ``v`` added, so values add up in arrival order
    from ``0``, as in the other accumulators (the same bits).  One return,
    at the end: see the note above :func:`dense_insert`.
    """
    end = off + n
    u = end
    while u > off and cols[u - 1] > j:
        u -= 1
    if u > off and cols[u - 1] == j:
        if with_values:
            vals[u - 1] += v
    else:
        t = end
        while t > u:
            cols[t] = cols[t - 1]
            if with_values:
                vals[t] = vals[t - 1]
            t -= 1
        cols[u] = j
        if with_values:
            vals[u] = 0
            vals[u] += v
        n += 1
    return n


@numba.njit(cache=True)
def hash_insert(keys, shift, slots, j, n):
    """Add column ``j`` to the row's set; return the new count ``n``."""
    mask = np.uint64(keys.shape[0] - 1)
    key = np.int64(j)
    h = hash_slot(j, shift)
    while True:
        k = keys[h]
        if k == key:
            return n
        if k < 0:
            keys[h] = key
            slots[n] = h
            return n + 1
        h = (h + _ONE) & mask


@numba.njit(cache=True)
def hash_add(keys, hv, shift, slots, j, v, n):
    """Add ``v`` to entry ``j``; return the new count ``n``."""
    mask = np.uint64(keys.shape[0] - 1)
    key = np.int64(j)
    h = hash_slot(j, shift)
    while True:
        k = keys[h]
        if k == key:
            hv[h] += v
            return n
        if k < 0:
            keys[h] = key
            hv[h] = 0
            hv[h] += v
            slots[n] = h
            return n + 1
        h = (h + _ONE) & mask


@numba.njit(cache=True)
def hash_put(keys, shift, j):
    """Slot of column ``j``, inserting it if absent."""
    mask = np.uint64(keys.shape[0] - 1)
    key = np.int64(j)
    h = hash_slot(j, shift)
    while keys[h] >= 0 and keys[h] != key:
        h = (h + _ONE) & mask
    keys[h] = key
    return h


@numba.njit(cache=True)
def hash_find(keys, shift, j):
    """Slot holding column ``j``, or ``len(keys)`` if it is not in the table."""
    mask = np.uint64(keys.shape[0] - 1)
    key = np.int64(j)
    h = hash_slot(j, shift)
    while True:
        k = keys[h]
        if k == key:
            return h
        if k < 0:
            return np.uint64(keys.shape[0])
        h = (h + _ONE) & mask


@numba.njit(cache=True)
def sort_slots(keys, slots, n):
    """Order ``slots[:n]`` by their keys (distinct non-negative columns).

    An LSD radix sort, a byte per pass, skipping bytes that are the same
    for every key; ``slots`` holds ``2 * bound + 256`` entries, the second
    ``bound`` and the last 256 being its scratch.  Several times faster than
    numba's ``ndarray.sort`` on rows of hundreds of columns.
    """
    if n <= SORT_INSERTION_MAX:  # by insertion; longer rows by radix
        for t in range(1, n):
            s = slots[t]
            k = keys[s]
            u = t - 1
            while u >= 0 and keys[slots[u]] > k:
                slots[u + 1] = slots[u]
                u -= 1
            slots[u + 1] = s
        return
    bound = (slots.shape[0] - 256) >> 1
    count = 2 * bound
    top = 0
    for t in range(n):
        top = max(top, keys[slots[t]])
    src = 0
    dst = bound
    shift = 0
    while (top >> shift) > 0:
        for d in range(256):
            slots[count + d] = 0
        for t in range(n):
            d = (keys[slots[src + t]] >> shift) & 255
            slots[count + d] += 1
        if slots[count + ((keys[slots[src]] >> shift) & 255)] != n:
            total = 0
            for d in range(256):
                c = slots[count + d]
                slots[count + d] = total
                total += c
            for t in range(n):
                s = slots[src + t]
                d = count + ((keys[s] >> shift) & 255)
                slots[dst + slots[d]] = s
                slots[d] += 1
            src, dst = dst, src
        shift += 8
    if src != 0:
        for t in range(n):
            slots[t] = slots[src + t]


@numba.njit(cache=True)
def hash_emit(keys, hv, slots, cols, vals, off, n, with_values):
    """Write the row sorted by column (and its values) from ``off``, and empty the table."""
    sort_slots(keys, slots, n)
    for t in range(n):
        s = np.uint64(slots[t])
        cols[off + t] = keys[s]
        if with_values:
            vals[off + t] = hv[s]
        keys[s] = -1


@numba.njit(cache=True)
def workspace(dense, m, bound, vals, with_values):
    """Chunk workspace ``(b0, b1, b2, acc, keys, hv, slots, shift)`` for rows of at most ``bound``.

    Only the arrays of the chosen kind get their full size (values only
    ``with_values``, of ``vals``' type); the others are placeholders, so one
    kernel serves both kinds.
    """
    b0, b1, b2 = bitmap(m if dense else 1)
    if dense:
        acc = np.zeros(m if with_values else 1, vals.dtype)
        keys = np.empty(1, np.int64)
        hv = np.empty(1, vals.dtype)
        slots = np.empty(1, np.int64)
        shift = np.uint64(0)
    else:
        size, shift = table_shape(bound)
        acc = np.empty(1, vals.dtype)
        keys = np.full(size, -1, np.int64)
        hv = np.empty(size if with_values else 1, vals.dtype)
        slots = np.empty(2 * bound + 256, np.int64)  # and scratch for sort_slots
    return b0, b1, b2, acc, keys, hv, slots, shift


# -- rows whose structure is known (numeric phases) ------------------------------
# The table maps each column of the result row to its position in the result,
# so contributions are added straight into the result's values.

@numba.njit(cache=True)
def known_workspace(c_rm, lo, hi):
    """Hash workspace ``(keys, where, slots, shift)`` for result rows ``lo:hi``."""
    bound = 0
    for i in range(lo, hi):
        bound = max(bound, c_rm[i + 1] - c_rm[i])
    size, shift = table_shape(bound)
    return (np.full(size, -1, np.int64), np.empty(size, np.int64),
            np.empty(max(bound, 1), np.uint64), shift)


@numba.njit(cache=True)
def known_load(keys, shift, where, slots, c_ent, c_val, c0, c1):
    """Enter the columns of result row ``c0:c1`` in the table and zero its values."""
    for t in range(c0, c1):
        h = hash_put(keys, shift, c_ent[t])
        where[h] = t
        slots[t - c0] = h
        c_val[t] = 0


@numba.njit(cache=True)
def known_add(keys, shift, where, c_val, j, v):
    """Add ``v`` to column ``j`` of the loaded row (ignored if ``j`` is not in it)."""
    h = hash_find(keys, shift, j)
    if h < np.uint64(keys.shape[0]):
        c_val[where[h]] += v


@numba.njit(cache=True)
def known_clear(keys, slots, n):
    """Empty the table after a row of ``n`` entries."""
    for t in range(n):
        keys[np.uint64(slots[t])] = -1


@numba.njit(cache=True)
def dense_gather(acc, c_ent, c_val, c0, c1):
    """Move the accumulated row into result row ``c0:c1`` and leave ``acc`` zero."""
    for t in range(np.uint64(c0), np.uint64(c1)):
        j = np.uint64(c_ent[t])
        c_val[t] = acc[j]
        acc[j] = 0


@numba.njit(cache=True)
def dense_clear(b0, b1, b2, c_ent, c0, c1):
    """Clear the bitmap words of the columns ``c_ent[c0:c1]`` (all the row set)."""
    for t in range(np.uint64(c0), np.uint64(c1)):
        w = np.uint64(c_ent[t]) >> _SIX
        b0[w] = 0
        w1 = w >> _SIX
        b1[w1] = 0
        b2[w1 >> _SIX] = 0
