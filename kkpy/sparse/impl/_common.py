"""Small kernels every sparse operation uses: the values that scans turn into offsets."""
from __future__ import annotations

from kkpy.core import kernel


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
