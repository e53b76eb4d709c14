"""Kernels that group entries by row, sort each row by column and sum duplicates.

Entries are sorted by an int64 *key* ``col * L + k``, where ``k`` is the
entry's original position (``L`` positions in all): sorting keys orders a
row by column and, among equal columns, by original position.  Duplicates
are therefore summed in input order whatever the thread count, and the
result is bitwise reproducible, although rows are filled with atomics.
"""
from __future__ import annotations

from kkpy.core._atomics import atomic_add, atomic_fetch_add
from kkpy.core._kernel import kernel


@kernel
def count_rows(k, rows, counts):
    """Histogram of the row indices of coordinate entries."""
    atomic_add(counts, rows[k], 1)


@kernel
def scatter_keys(k, rows, cols, L, cursor, keys):
    """Put coordinate entry ``k``'s key into its row (in any order within the row)."""
    q = atomic_fetch_add(cursor, rows[k], 1)
    keys[q] = cols[k] * L + k


@kernel
def row_keys(i, row_map, entries, L, keys):
    """Keys of the entries of CRS row ``i``, in place."""
    for p in range(row_map[i], row_map[i + 1]):
        keys[p] = entries[p] * L + p


@kernel
def sort_row_count(i, row_map, keys, L, counts):
    """Sort row ``i``'s keys and count its distinct columns."""
    lo = row_map[i]
    hi = row_map[i + 1]
    keys[lo:hi].sort()
    u = 0
    last = -1
    for p in range(lo, hi):
        j = keys[p] // L
        if j != last:
            u += 1
            last = j
    counts[i] = u


@kernel
def merge_row(i, row_map, keys, L, vals, out_map, entries, values):
    """Write row ``i``'s distinct columns, summing the values of duplicates in key order."""
    o = out_map[i] - 1
    last = -1
    for p in range(row_map[i], row_map[i + 1]):
        key = keys[p]
        j = key // L
        k = key - j * L
        if j != last:
            o += 1
            entries[o] = j
            values[o] = vals[k]
            last = j
        else:
            values[o] += vals[k]
