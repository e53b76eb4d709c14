"""Small kernels every sparse operation uses: scan contributions and staging copies."""
from __future__ import annotations

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


@kernel
def compact(_, region, dest, count, ent, val, with_values):
    """Move every chunk's rows left, from ``region[c]`` to ``dest[c]``, in place.

    Chunk ``c``'s destination may overlap the source of an earlier chunk,
    never of a later one, so a single pass in chunk order is safe; it moves
    each entry once, at memory speed, and needs no second buffer.
    """
    for c in range(count.shape[0]):
        s = region[c]
        d = dest[c]
        if s != d:
            for t in range(count[c]):
                ent[d + t] = ent[s + t]
            if with_values:
                for t in range(count[c]):
                    val[d + t] = val[s + t]
