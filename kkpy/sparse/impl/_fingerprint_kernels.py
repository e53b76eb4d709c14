"""A fast, order-sensitive hash of an index array, for checking that a structure is unchanged."""
from __future__ import annotations

import numpy as np

from kkpy.core import kernel

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@kernel
def element_hash(i, a):
    """A 64-bit hash of the pair ``(i, a[i])`` (the splitmix64 finaliser).

    Summed over all ``i`` (with wrap-around) it changes when any element
    changes or two elements swap, and the sum does not depend on the order
    threads add it up.
    """
    z = np.uint64(i) * _GOLDEN + np.uint64(a[i]) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))
