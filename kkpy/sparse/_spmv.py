"""Sparse matrix-vector multiply, ``KokkosSparse::spmv``."""
from __future__ import annotations

import numbers

import numpy as np

from .. import DefaultExecutionSpace, RangePolicy, parallel_for
from . import _dispatch, _tuning, _validate
from ._crs import crs_arrays
from ._dtypes import COMPUTE
from .host import _pool
from .host import _spmv_kernels as K
from .host._blocks import even_blocks, row_blocks, threads_of
from .impl import _spmv_kernels as P

__all__ = ["spmv"]


def spmv(alpha, A, x, beta, y, mode="N", space=None):
    """``y = beta*y + alpha*op(A)*x``, updating ``y`` in place (``KokkosSparse::spmv``).

    Parameters
    ----------
    alpha, beta : scalar
        ``beta == 0`` overwrites ``y`` without reading it: NaN or Inf in ``y``
        do not propagate (as in the BLAS and Kokkos Kernels).
    A : CrsMatrix or scipy.sparse matrix
        On the Cuda space also :class:`~kkpy.sparse.DeviceCrs` (a host
        matrix is uploaded at every call).
    x : array_like
        Length ``ncols`` (``nrows`` for mode ``"T"``), or a 2-D multivector
        with one column per vector.  On the Cuda space a CudaSpace View.
    y : ndarray or View
        Array of length ``nrows`` (``ncols`` for ``"T"``), 2-D with ``x``,
        of float32, float64, complex64, complex128 or int64 (holding the
        products of ``A``'s and ``x``'s dtypes); updated in place.  (If
        ``A``'s structure turns out bad, ValueError is raised and ``y`` may
        be partly written: the kernels check the structure as they
        compute.)  On the Cuda space a CudaSpace View, which stays in GPU
        memory (``kkpy.create_mirror_view_and_copy(kkpy.HostSpace, y)``
        copies it back).
    mode : {"N", "T"}
        ``op(A) = A`` or ``A^T``.  ``"T"`` scatters rows of ``A`` instead of
        forming the transpose: each thread adds a block of rows into its
        own copy of ``y``, and the copies are summed in block order, so the
        result is the same on every run with the same number of threads
        (its last bits may differ between thread counts; on one thread the
        sums run in row order, as scipy's).  When the copies would be much
        larger than ``A`` (many threads, few entries per column) threads
        add into ``y`` with atomics instead, and the last bits may vary
        from run to run.
    space : ExecutionSpace, optional
        Where to run; the default space if omitted.  On a Cuda space
        (``kkpy.Cuda()``) the same kernels run on the GPU.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import spmv
    >>> A = sp.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> y = np.array([np.nan, 1.0])
    >>> spmv(1.0, A, np.ones(2), 0.0, y); y
    array([3., 3.])
    >>> spmv(2.0, A, np.ones(2), 1.0, y, mode="T"); y
    array([ 5., 13.])
    """
    gpu = _dispatch.on_gpu(space)
    # On the host, mode "N" on a vector and mode "T" by blocks check the
    # structure inside their kernels (K.spmv_rows, K.scatter_rows);
    # every other path checks it first, with a separate pass.
    A = _validate.matrix(A, "spmv", space=space, deep=bool(gpu))
    if gpu:
        return _dispatch.cuda().spmv(alpha, A, x, beta, y, mode, gpu)
    space = space or DefaultExecutionSpace()
    if mode not in ("N", "T"):
        raise ValueError(f"spmv: mode must be 'N' or 'T', got {mode!r}")
    x = _validate.kernel_array(x)
    yarr = np.asarray(y)
    if not isinstance(y, np.ndarray) or yarr.dtype not in COMPUTE:
        raise TypeError("spmv: y must be an ndarray or View of float32, float64, complex64, "
                        "complex128 or int64 (it is updated in place)")
    if not yarr.flags.writeable:
        raise ValueError("spmv: y is read-only; pass a writable array (it is updated in place)")
    for name, s in (("alpha", alpha), ("beta", beta)):
        if not isinstance(s, numbers.Number) or not np.can_cast(
                np.result_type(yarr.dtype, s), yarr.dtype, "same_kind"):
            raise TypeError(f"spmv: {name} must be a scalar that y's dtype {yarr.dtype} "
                            f"holds, got {s!r}")
    if not np.can_cast(np.result_type(A.dtype, x.dtype), yarr.dtype, "same_kind"):
        raise TypeError(f"spmv: y's dtype {yarr.dtype} cannot hold products of A's {A.dtype} "
                        f"and x's {x.dtype}")
    nin, nout = (A.ncols, A.nrows) if mode == "N" else (A.nrows, A.ncols)
    if x.ndim not in (1, 2) or x.shape[0] != nin or yarr.ndim != x.ndim or yarr.shape[0] != nout \
            or yarr.shape[1:] != x.shape[1:]:
        raise ValueError(f"spmv: mode {mode!r} with a {A.nrows} x {A.ncols} matrix needs x of "
                         f"{nin} and y of {nout} rows (same number of columns); got "
                         f"x {x.shape}, y {yarr.shape}")
    arrays = crs_arrays(A)
    _validate.no_overlap("spmv", "y", yarr, x=x, values=arrays[2])
    alpha = yarr.dtype.type(alpha)
    beta = yarr.dtype.type(beta)
    nthreads = threads_of(space)
    if mode == "N":
        bounds = row_blocks(arrays[0], nthreads * _tuning.BLOCKS_PER_THREAD)
        policy = RangePolicy(space, 0, bounds.shape[0] - 1)
        if x.ndim == 1:
            check = not A._trusted
            bad = np.zeros(bounds.shape[0] - 1, np.uint8)
            parallel_for("kkpy.sparse.spmv", policy, K.spmv_rows, bounds, alpha, *arrays, x,
                         beta, yarr, bad, check)
            if check:
                _validate.checked_by_kernel(A, "spmv", "A", bad)
            return
        A = _validate.matrix(A, "spmv", space=space)  # O(1) once checked
        parallel_for("kkpy.sparse.spmv", policy, K.spmv_rows_mv, bounds, alpha, *arrays, x,
                     beta, yarr)
        return
    if yarr.dtype.kind == "c":  # no complex atomics: multiply by the transpose instead
        from ._transpose import transpose

        return spmv(alpha, transpose(A, space), x, beta, y, "N", space)
    width = yarr.shape[1] if yarr.ndim == 2 else 1
    y2 = yarr.reshape(nout, width)
    x2 = x.reshape(nin, width)
    # Private copies of y give the same bits on every run with the same thread
    # count; past the limit they cost more memory than the atomics save.
    atomics = (nthreads > 1 and (nthreads - 1) * nout * width
               > _tuning.SPMV_PRIVATE_LIMIT * max(A.nnz, 1))
    if atomics:
        A = _validate.matrix(A, "spmv", space=space)
        parallel_for("kkpy.sparse.spmv_scale", RangePolicy(space, 0, nout), P.scale_row, beta,
                     y2)
        parallel_for("kkpy.sparse.spmv_transpose", RangePolicy(space, 0, A.nrows),
                     P.spmv_transpose_row, alpha, *arrays, x2, y2)
        return
    bounds = row_blocks(arrays[0], nthreads)
    nb = bounds.shape[0] - 1
    parts = _pool.empty((nb - 1, nout, width), yarr.dtype)
    bad = np.zeros(nb, np.uint8)
    parallel_for("kkpy.sparse.spmv_transpose", RangePolicy(space, 0, nb),
                 K.spmv_transpose_block, bounds, alpha, *arrays, x2, beta, y2, parts, bad,
                 not A._trusted)
    if not A._trusted:
        _validate.checked_by_kernel(A, "spmv", "A", bad)
    if nb > 1:
        cb = even_blocks(nout, nthreads * _tuning.BLOCKS_PER_THREAD)
        parallel_for("kkpy.sparse.spmv_transpose_sum", RangePolicy(space, 0, cb.shape[0] - 1),
                     K.add_parts, cb, parts, y2)
