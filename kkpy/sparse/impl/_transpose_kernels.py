"""Kernels of the CRS transpose: count the columns, scan, fill, sort each row.

Rows of the transpose are filled with atomic cursors, so within a row the
order depends on the threads; sorting each row's source positions restores
the order of the original rows (and, for repeated columns, of the original
entries), so the result is the same on any number of threads.
"""
from __future__ import annotations

from kkpy.core._atomics import atomic_add, atomic_fetch_add
from kkpy.core._kernel import kernel


@kernel
def count_columns(i, row_map, entries, counts):
    """Add row ``i``'s entries to the per-column counts."""
    for p in range(row_map[i], row_map[i + 1]):
        atomic_add(counts, entries[p], 1)


@kernel
def scatter_positions(i, row_map, entries, cursor, perm, row_of):
    """Send each entry's position ``p`` to the row of the transpose it belongs to."""
    for p in range(row_map[i], row_map[i + 1]):
        perm[atomic_fetch_add(cursor, entries[p], 1)] = p
        row_of[p] = i


@kernel
def gather_row(j, t_map, perm, row_of, values, t_entries, t_values):
    """Sort row ``j`` of the transpose by source position, then gather its entries."""
    lo = t_map[j]
    hi = t_map[j + 1]
    perm[lo:hi].sort()
    for q in range(lo, hi):
        p = perm[q]
        t_entries[q] = row_of[p]
        t_values[q] = values[p]
