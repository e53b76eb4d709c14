"""``row_sums``: the float64 sum of each row of a sparse matrix, on its own side."""
from __future__ import annotations

import numpy as np

import kkpy
from kkpy.core import kernel

__all__ = ["row_sums"]


@kernel
def _row_sum(i, row_map, values, out):
    s = 0.0
    for p in range(row_map[i], row_map[i + 1]):
        s += values[p]
    out[i] = s


def row_sums(A, space=None):
    """The sum of each row of ``A`` in float64, each row's entries added in order.

    Parameters
    ----------
    A : CrsMatrix, scipy.sparse matrix or DeviceCrs
    space : ExecutionSpace, optional
        Where to add them: a host space for a host matrix (default: the
        default host space), a Cuda space for a ``DeviceCrs`` (default
        ``kkpy.Cuda()``).

    Returns
    -------
    numpy.ndarray of float64, or a CudaSpace View for a DeviceCrs
        ``nrows`` sums; a DeviceCrs's stay on the GPU.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import row_sums
    >>> row_sums(sp.csr_array(np.array([[0.0, 1.0], [2.0, -2.0], [0.5, 3.0]])))
    array([1. , 0. , 3.5])
    """
    if type(A).__name__ == "DeviceCrs":
        return A.row_sums(space)
    from ._crs import as_crs

    A = as_crs(A)
    if space is None or space.memory_space != kkpy.HostSpace:
        space = kkpy.DefaultHostExecutionSpace()
    return _sums(space, A.row_map, A.values, A.nrows, kkpy.HostSpace)


def _sums(space, row_map, values, nrows, memory):
    """Row sums of CRS arrays in ``memory``, computed on ``space``."""
    sums = kkpy.View("kkpy.sparse.row_sums", max(nrows, 1), dtype=np.float64, space=memory)
    if nrows:
        kkpy.parallel_for("kkpy.sparse.row_sums", kkpy.RangePolicy(space, 0, nrows), _row_sum,
                          row_map, values, sums)
    return np.asarray(sums)[:nrows] if memory == kkpy.HostSpace else sums
