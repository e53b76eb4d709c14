"""Small kernels every sparse operation uses: scan contributions and staging moves."""
from __future__ import annotations

import numba

from kkpy.core._atomics import atomic_compare_exchange, atomic_load, atomic_store
from kkpy.core._kernel import kernel


@kernel
def value_at(i, a):
    """``a[i]``: with ``parallel_scan`` it turns row counts into a row map."""
    return a[i]


@kernel
def weight_at(i, work):
    """Scheduling weight of row ``i``: its work, plus one so empty rows count too."""
    return work[i] + 1


@kernel
def bound_at(i, work, m):
    """Upper bound of the length of result row ``i``: its contributions, at most ``m``."""
    return min(work[i], m)


@numba.njit(cache=True)
def move(s, d, n, ent, val, with_values):
    """Move ``n`` entries from ``s`` to ``d <= s`` (front to back, so overlap is safe)."""
    if s != d:
        for t in range(n):
            ent[d + t] = ent[s + t]
        if with_values:
            for t in range(n):
                val[d + t] = val[s + t]


@numba.njit(cache=True)
def publish(c, region, count, dest, done, state, ent, val, with_values):
    """Mark chunk ``c`` finished, and slide finished chunks to their final place.

    Chunk ``f`` can move once every chunk before it has moved (then its
    destination ``dest[f]`` is known and no unmoved rows lie there).  The
    thread that finishes a chunk takes the lock ``state[1]`` if it is free
    and advances the frontier ``state[0]`` over finished chunks, while the
    other threads go on computing: the move overlaps the work.  A chunk
    that finishes while another thread holds the lock is left for the next
    advance, or for the sweep after the kernel.
    """
    atomic_store(done, c, 1)
    if atomic_compare_exchange(state, 1, 0, 1) != 0:
        return
    f = state[0]
    while f < count.shape[0] and atomic_load(done, f) == 1:
        move(region[f], dest[f], count[f], ent, val, with_values)
        dest[f + 1] = dest[f] + count[f]
        f += 1
    state[0] = f
    atomic_store(state, 1, 0)


@kernel
def compact(_, region, dest, count, ent, val, with_values):
    """Move every chunk's rows left, from ``region[c]`` to ``dest[c]``, in place.

    Chunk ``c``'s destination may overlap the source of an earlier chunk,
    never of a later one, so a single pass in chunk order is safe; it moves
    each entry once, at memory speed, and needs no second buffer.
    """
    for c in range(count.shape[0]):
        move(region[c], dest[c], count[c], ent, val, with_values)
