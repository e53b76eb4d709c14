"""Sparse matrix addition ``C = alpha*A + beta*B``, as ``KokkosSparse::spadd`` does it."""
from __future__ import annotations

import numpy as np

from .. import DefaultExecutionSpace, RangePolicy, parallel_for, parallel_scan
from . import _dispatch, _tuning, _validate
from ._accumulate import plan_rows
from ._crs import CrsMatrix, crs_arrays
from ._handle import PhaseHandle
from ._staged import glue_space, index_dtype_for, run_staged
from .host import _pool
from .host import _spadd_kernels as K
from .host._blocks import row_blocks, threads_of
from .impl import _common

__all__ = ["SpAddHandle", "spadd_symbolic", "spadd_numeric", "spadd"]


class SpAddHandle(PhaseHandle):
    """State shared by the symbolic and numeric phases of one sum ``alpha*A + beta*B``.

    Parameters
    ----------
    algorithm : {"auto", "dense", "hash"}
        The row accumulator, as for :class:`~kkpy.sparse.SpGEMMHandle`.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from kkpy.sparse import SpAddHandle, spadd_symbolic, spadd_numeric
    >>> A = sp.random(5, 5, density=0.4, format="csr", random_state=0)
    >>> B = sp.random(5, 5, density=0.4, format="csr", random_state=1)
    >>> h = SpAddHandle(); C = spadd_symbolic(h, A, B)
    >>> C = spadd_numeric(h, 2.0, A, -1.0, B, C)
    >>> bool(abs(C.to_scipy() - (2 * A - B)).max() < 1e-12)
    True
    """


def _operands(what, A, B, deep=True):
    A = _validate.matrix(A, what, deep=deep)
    B = _validate.matrix(B, what, "B", deep=deep)
    if A.shape != B.shape:
        raise ValueError(f"{what}: A is {A.nrows} x {A.ncols} but B is {B.nrows} x {B.ncols}; "
                         "they must have the same shape")
    return A, B


def spadd_symbolic(handle, A, B, space=None, check=True):
    """The structure of ``C = alpha*A + beta*B``: the union of the two structures, sorted.

    Parameters
    ----------
    handle : SpAddHandle
    A, B : CrsMatrix or scipy.sparse matrix
        Same shape; rows need not be sorted, duplicates are allowed.  On the
        Cuda space also :class:`~kkpy.sparse.DeviceCrs`.
    space : ExecutionSpace, optional
        Where to run; the default space if omitted.  On a Cuda space
        (``kkpy.Cuda()``) the GPU kernels run and ``C`` is a
        :class:`~kkpy.sparse.DeviceCrs`, which stays in GPU memory
        (``C.to_host()`` copies it back); the handle keeps the GPU's plan.
    check : bool, default True
        Fingerprint ``A`` and ``B`` so that :func:`spadd_numeric` can refuse
        a changed structure; False skips it (one pass over their indices on
        the host, where a ``DeviceCrs``'s indices are copied first).

    Returns
    -------
    CrsMatrix or DeviceCrs
        ``C`` with its structure set and zero values, for :func:`spadd_numeric`.

    Examples
    --------
    >>> from kkpy.sparse import CrsMatrix, SpAddHandle, spadd_symbolic
    >>> A = CrsMatrix([1.0], [2], [0, 1], 3)
    >>> B = CrsMatrix([1.0, 1.0], [2, 0], [0, 2], 3)
    >>> spadd_symbolic(SpAddHandle(), A, B).entries.tolist()
    [0, 2]
    """
    gpu = _dispatch.on_gpu(space)
    if gpu:
        return _dispatch.cuda().spadd_symbolic(handle, A, B, gpu, check)
    A, B = _operands("spadd_symbolic", A, B)
    space = space or DefaultExecutionSpace()
    vdtype = np.result_type(A.dtype, B.dtype)
    a_rm, a_ent, _ = crs_arrays(A)
    b_rm, b_ent, _ = crs_arrays(B)
    work = np.empty(A.nrows, np.int64)
    parallel_for("kkpy.sparse.spadd_work", RangePolicy(glue_space(space, A.nrows), 0, A.nrows),
                 K.row_work, a_rm, b_rm, work)
    m = np.int64(A.ncols)
    plan, dense = plan_rows(space, work, A.ncols, handle.algorithm, vdtype)

    def launch(policy, bounds, region, st_ent, st_val, rowcnt, *publish):
        parallel_for("kkpy.sparse.spadd_symbolic", policy, K.symbolic_chunk, bounds, region, work,
                     m, dense, a_rm, a_ent, b_rm, b_ent, st_ent, rowcnt, *publish)

    row_map, entries, _ = run_staged(space, plan, launch,
                                     np.result_type(A.index_dtype, B.index_dtype), None, A.ncols)
    C = CrsMatrix(np.zeros(entries.shape[0], vdtype), entries, row_map, A.ncols, label="C",
                  check=False)
    handle._remember(A, B, C, plan, dense, space, check)
    return C


def spadd_numeric(handle, alpha, A, beta, B, C, space=None):
    """Fill the values of ``C = alpha*A + beta*B`` (structure from :func:`spadd_symbolic`).

    Parameters
    ----------
    handle : SpAddHandle
    alpha, beta : scalar
    A, B : CrsMatrix or scipy.sparse matrix
        Same structures as at the symbolic phase (checked every time).  On
        the Cuda space also :class:`~kkpy.sparse.DeviceCrs`.
    C : CrsMatrix or DeviceCrs
        The matrix :func:`spadd_symbolic` returned; its values are overwritten.
    space : ExecutionSpace, optional
        A space of the symbolic phase's kind (host or Cuda).  On a Cuda
        space ``C``, a :class:`~kkpy.sparse.DeviceCrs`, is filled in GPU
        memory (``C.to_host()`` copies it back).

    Returns
    -------
    CrsMatrix or DeviceCrs
        ``C``.

    Raises
    ------
    ValueError
        If the symbolic phase has not run or ran on another kind of space,
        or a structure differs from its.

    Examples
    --------
    >>> from kkpy.sparse import CrsMatrix, SpAddHandle, spadd_symbolic, spadd_numeric
    >>> A = CrsMatrix([1.0], [2], [0, 1], 3)
    >>> B = CrsMatrix([1.0, 1.0], [2, 0], [0, 2], 3)
    >>> h = SpAddHandle(); C = spadd_symbolic(h, A, B)
    >>> spadd_numeric(h, 3.0, A, 1.0, B, C).toarray()
    array([[1., 0., 4.]])
    """
    gpu = _dispatch.on_gpu(space)
    if gpu:
        return _dispatch.cuda().spadd_numeric(handle, alpha, A, beta, B, C, gpu)
    _validate.real_scalar("spadd_numeric", "alpha", alpha)
    _validate.real_scalar("spadd_numeric", "beta", beta)
    A, B = _operands("spadd_numeric", A, B)
    C = _validate.matrix(C, "spadd_numeric", "C")
    space = space or DefaultExecutionSpace()
    state = handle._recall("spadd_numeric", A, B, C, space)
    bounds = state["bounds"]
    t = C.dtype.type
    policy = RangePolicy(space, 0, bounds.shape[0] - 1, schedule="dynamic", chunk=1)
    parallel_for("kkpy.sparse.spadd_numeric", policy, K.numeric_chunk, bounds,
                 np.int64(A.ncols), state["dense"], t(alpha), *crs_arrays(A), t(beta),
                 *crs_arrays(B), *crs_arrays(C, out=True))
    return C


def spadd(alpha, A, beta, B, space=None, algorithm="auto"):
    """``C = alpha*A + beta*B`` (symbolic and numeric phases in one call).

    Parameters
    ----------
    alpha, beta : scalar
    A, B : CrsMatrix or scipy.sparse matrix
        Same shape.  On the Cuda space also :class:`~kkpy.sparse.DeviceCrs`.
    space : ExecutionSpace, optional
        Where to run; the default space if omitted.  On a Cuda space
        (``kkpy.Cuda()``) the GPU kernels run and the result is a
        :class:`~kkpy.sparse.DeviceCrs`, which stays in GPU memory
        (``.to_host()`` copies it back).
    algorithm : {"auto", "dense", "hash"}
        On the host ``"auto"`` merges the rows when both operands' rows are
        sorted without repeated columns (scipy's way), and otherwise picks
        an accumulator as :class:`SpAddHandle` does.  The Cuda space has
        only ``"hash"`` (which ``"auto"`` means there).

    Returns
    -------
    CrsMatrix or DeviceCrs
        Sorted columns, the union of both structures (entries that cancel
        stay, as explicit zeros).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import spadd
    >>> A = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> spadd(1.0, A, -1.0, sp.eye(2, format="csr")).toarray()
    array([[0., 0.],
           [0., 1.]])
    """
    gpu = _dispatch.on_gpu(space)
    if gpu:
        return _dispatch.cuda().spadd(alpha, A, beta, B, algorithm, gpu)
    h = SpAddHandle(algorithm)
    if algorithm == "auto":
        _validate.real_scalar("spadd", "alpha", alpha)
        _validate.real_scalar("spadd", "beta", beta)
        A, B = _operands("spadd", A, B, deep=False)  # the merge checks as it reads
        C = _merged(space or DefaultExecutionSpace(), alpha, A, beta, B)
        if C is not None:
            return C
    A, B = _operands("spadd", A, B)
    with _validate.unsafe_skip_validation():  # checked just above
        C = spadd_symbolic(h, A, B, space=space, check=False)  # nothing changes in between
        return spadd_numeric(h, alpha, A, beta, B, C, space=space)


def _merged(space, alpha, A, beta, B):
    """``alpha*A + beta*B`` by merging rows, or None to take the accumulator path.

    scipy's ``csr_plus_csr`` way: when both operands are sorted without
    repeated columns (what most hold), one merge per row counts the result's
    columns and a second writes them, with no accumulator.  The counting
    pass also checks both structures as it reads them (a separate check of
    two scipy-backed operands cost 6 of 60 ms at 2 threads for 1e7
    entries), and stops at the first row that is unsorted or bad: then None.
    """
    a_rm, a_ent, a_val = crs_arrays(A)
    b_rm, b_ent, b_val = crs_arrays(B)
    bounds = row_blocks(a_rm, threads_of(space) * _tuning.BLOCKS_PER_THREAD)
    blocks = RangePolicy(space, 0, bounds.shape[0] - 1)
    counts = _pool.empty(A.nrows, np.int64)
    fallback = np.zeros(bounds.shape[0] - 1, np.uint8)
    parallel_for("kkpy.sparse.spadd_merge_count", blocks, K.merge_count, bounds, a_rm, a_ent,
                 b_rm, b_ent, np.int64(A.ncols), np.uint64(_tuning.SPADD_PAIRS_LIMIT),
                 counts, fallback)
    if fallback.any():
        return None
    for M, name in ((A, "A"), (B, "B")):
        if not M._trusted:
            _validate.checked_by_kernel(M, "spadd", name, fallback)
    index = index_dtype_for(np.result_type(A.index_dtype, B.index_dtype), A.nnz + B.nnz,
                            A.ncols)
    c_rm = _pool.empty(A.nrows + 1, index)
    parallel_scan("kkpy.sparse.spadd_merge_row_map", RangePolicy(space, 0, A.nrows),
                  _common.value_at, counts, out=c_rm)
    nnz = int(c_rm[-1])
    vdtype = np.result_type(A.dtype, B.dtype)
    c_ent = _pool.empty(nnz, index)
    c_val = _pool.empty(nnz, vdtype)
    t = vdtype.type
    parallel_for("kkpy.sparse.spadd_merge_fill", blocks, K.merge_fill, bounds, t(alpha), a_rm,
                 a_ent, a_val, t(beta), b_rm, b_ent, b_val, c_rm, c_ent, c_val)
    return CrsMatrix(c_val, c_ent, c_rm, A.ncols, label="C", check=False)
