"""SpGEMM's work per row: the products each row of ``C = A @ B`` needs.

Both backends size their work with it (the host to balance chunks and pick
accumulators, the Cuda space to bin rows).
"""
from __future__ import annotations

import numpy as np

from kkpy.core import kernel

__all__ = ["row_flops"]

@kernel
def row_flops(i, a_rm, a_ent, b_rm, flops):
    """Number of products ``A[i, k] * B[k, j]`` that row ``i`` of ``C = A @ B`` needs, into ``flops[i]``.

    The loop is written out, not called: the Cuda space runs this kernel too.
    """
    s = 0
    for p in range(np.uint64(a_rm[i]), np.uint64(a_rm[i + 1])):
        k = np.uint64(a_ent[p])
        s += b_rm[k + np.uint64(1)] - b_rm[k]
    flops[i] = s
