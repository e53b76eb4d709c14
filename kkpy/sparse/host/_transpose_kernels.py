"""Kernels of a stable parallel counting sort: entries grouped by a key (column or row).

The entries are cut into contiguous blocks, one kernel call each.  Each block
counts its keys in a private row of ``cnt`` (``nblocks x nkeys``); the counts
become, per key, a start in the output for every block, blocks in order
(:func:`key_total`, :func:`block_starts`); then each block writes its
entries from its starts, in its own order.  Every entry's place is fixed
by the counts alone (no atomics, no per-row sort), so the output is stably
sorted by key and the same for any number of blocks or threads.  The
transpose keys by column and CRS-from-COO by row.
"""
from __future__ import annotations

import numba
import numpy as np

from kkpy.core import kernel

from .._tuning import SCATTER_PREFETCH_DISTANCE
from ._prefetch import prefetch

_AHEAD = np.uint64(SCATTER_PREFETCH_DISTANCE)
_HALF = np.uint64(SCATTER_PREFETCH_DISTANCE // 2)


@numba.njit(cache=True)
def _ahead(p, last, keys, pos, out_a, out_b):
    """Prefetch the counter of the key ``_AHEAD`` entries on, and where the entry
    ``_HALF`` on will be written (its counter is in cache by then; one a few
    entries stale still names the right line, and a prefetch never faults)."""
    prefetch(pos, np.uint64(keys[min(p + _AHEAD, last)]))
    q = np.uint64(pos[np.uint64(keys[min(p + _HALF, last)])])
    prefetch(out_a, q)
    prefetch(out_b, q)


@kernel
def count_keys(c, ebounds, keys, cnt):
    """Count the keys of entries ``ebounds[c]:ebounds[c + 1]`` into ``cnt[c]``."""
    mine = cnt[c]
    mine[:] = 0
    for p in range(np.uint64(ebounds[c]), np.uint64(ebounds[c + 1])):
        mine[np.uint64(keys[p])] += 1


@kernel
def key_total(j, cnt):
    """Entries with key ``j`` over all blocks: with ``parallel_scan``, the output's row map."""
    s = cnt[0, j] - cnt[0, j]
    for c in range(cnt.shape[0]):
        s += cnt[c, j]
    return s


@kernel
def block_starts(b, kbounds, starts, cnt):
    """Turn ``cnt[:, j]`` into where each block's entries of key ``j`` start, blocks in order."""
    for j in range(kbounds[b], kbounds[b + 1]):
        s = starts[j]
        for c in range(cnt.shape[0]):
            t = cnt[c, j]
            cnt[c, j] = s
            s += t


@kernel
def scatter_transpose(c, bounds, row_map, entries, values, cnt, t_entries, t_values):
    """Write rows ``bounds[c]:bounds[c + 1]`` of ``A`` into the rows of the transpose."""
    pos = cnt[c]
    last = np.uint64(entries.shape[0] - 1)  # wraps when empty, but then no entry is visited
    for i in range(bounds[c], bounds[c + 1]):
        for p in range(np.uint64(row_map[i]), np.uint64(row_map[i + 1])):
            _ahead(p, last, entries, pos, t_entries, t_values)
            j = np.uint64(entries[p])
            q = np.uint64(pos[j])
            pos[j] += 1
            t_entries[q] = i
            t_values[q] = values[p]


@kernel
def scatter_coo(c, ebounds, rows, cols, vals, cnt, out_cols, out_vals):
    """Write coordinate entries ``ebounds[c]:ebounds[c + 1]`` into their rows, in input order."""
    pos = cnt[c]
    last = np.uint64(rows.shape[0] - 1)
    for k in range(np.uint64(ebounds[c]), np.uint64(ebounds[c + 1])):
        _ahead(k, last, rows, pos, out_cols, out_vals)
        i = np.uint64(rows[k])
        q = np.uint64(pos[i])
        pos[i] += 1
        out_cols[q] = cols[k]
        out_vals[q] = vals[k]
