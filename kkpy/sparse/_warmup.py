"""Compile the sparse kernels' common signatures ahead of time.

numba compiles a kernel on its first call with new argument types; kkpy
caches the result on disk, so only the first process in a new environment
(or after an upgrade) waits.  :func:`warmup` moves that wait to a moment of
your choosing: an install script, a container build, a job's set-up step.
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["warmup"]

# A 4 x 4 matrix with a diagonal, an off-diagonal entry and an empty row:
# small enough to be instant, yet taking the kernels' general paths.
_ROWS = [0, 0, 1, 2, 2, 3]
_COLS = [0, 2, 1, 0, 2, 3]


def warmup(dtypes=("float32", "float64"), index_dtypes=("int32", "int64"), space=None):
    """Compile (or load from the disk cache) the sparse kernels for these types.

    Calls the public functions (``CrsMatrix.from_coo``, :func:`spgemm` with
    both accumulators and in two phases, :func:`spmv` in modes ``"N"`` and
    ``"T"``, :func:`spadd`, :func:`transpose`) on tiny inputs of every pair
    of value and index type, so that later calls with those types start at
    full speed.  The first time in a new environment this takes minutes;
    afterwards, a second or two.

    Parameters
    ----------
    dtypes : sequence of dtype, default ("float32", "float64")
        Value types.
    index_dtypes : sequence of dtype, default ("int32", "int64")
        Index types of the matrices.
    space : ExecutionSpace, optional
        The space whose kernels to compile (``Serial`` and ``Threads``
        compile separately); the default space if omitted.

    Returns
    -------
    float
        Seconds it took.

    Raises
    ------
    TypeError
        A dtype numpy does not know.
    ValueError
        An index type other than int32 or int64.

    Examples
    --------
    >>> from kkpy import sparse
    >>> seconds = sparse.warmup(dtypes=["float64"], index_dtypes=["int32"])
    """
    from . import _tuning, _validate
    from ._crs import CrsMatrix
    from ._spadd import spadd
    from ._spgemm import SpGEMMHandle, spgemm, spgemm_numeric, spgemm_symbolic
    from ._spmv import spmv
    from ._transpose import transpose

    dtypes = [np.dtype(d) for d in dtypes]
    index_dtypes = [np.dtype(d) for d in index_dtypes]
    bad = [str(d) for d in index_dtypes if d not in (np.int32, np.int64)]
    if bad:
        raise ValueError(f"warmup: index_dtypes must be int32 or int64, got {', '.join(bad)}")
    t0 = time.perf_counter()
    for dtype in dtypes:
        vals = np.arange(1, len(_ROWS) + 1, dtype=dtype)
        for index_dtype in index_dtypes:
            A = CrsMatrix.from_coo(_ROWS, _COLS, vals, (4, 4), space=space,
                                   index_dtype=index_dtype)
            for algorithm in ("dense", "hash"):
                spgemm(A, A, space=space, algorithm=algorithm)
                spadd(1, A, 2, A, space=space, algorithm=algorithm)
            handle = SpGEMMHandle()
            C = spgemm_symbolic(handle, A, A, space=space)
            spgemm_numeric(handle, A, A, C, space=space)
            x, y = np.ones(4, dtype), np.zeros(4, dtype)
            for mode in ("N", "T"):
                spmv(1, A, x, 0, y, mode=mode, space=space)
            transpose(A, space=space)
    for index_dtype in index_dtypes:
        # The structure check runs alone on one chunk and on the space's
        # threads past it: a matrix of two chunks' rows compiles that form too.
        rows = 2 * _tuning.VALIDATE_CHUNK
        empty = CrsMatrix(np.zeros(0, dtypes[0] if dtypes else np.float64),
                          np.zeros(0, index_dtype), np.zeros(rows + 1, index_dtype), rows,
                          check=False)
        _validate.matrix(empty, "warmup", space=space)
    return time.perf_counter() - t0
