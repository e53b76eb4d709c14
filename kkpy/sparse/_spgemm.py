"""Sparse matrix-matrix multiply ``C = A @ B``, as in Kokkos Kernels.

Two phases share a handle: :func:`spgemm_symbolic` computes ``C``'s
structure, :func:`spgemm_numeric` its values, and may be rerun whenever only
the values of ``A`` or ``B`` change.  :func:`spgemm` does both in one pass
and can apply an *epilogue* to every entry (and drop the zeros it makes).
"""
from __future__ import annotations

import numpy as np

from .. import DefaultExecutionSpace, RangePolicy, parallel_for, parallel_reduce
from . import _dispatch, _tuning, _validate
from ._accumulate import (bitmaps_repaid, check_algorithm, far_rows, few_products,
                          mean_row_span, plan_rows, short_rows, use_two_pass)
from ._crs import CrsMatrix, crs_arrays
from ._handle import PhaseHandle
from ._spgemm_twopass import two_pass
from ._staged import glue_space, run_staged
from .host import _spgemm_kernels as K
from .host._blocks import threads_of
from .impl._flops import row_flops

__all__ = ["SpGEMMHandle", "spgemm_symbolic", "spgemm_numeric", "spgemm"]


class SpGEMMHandle(PhaseHandle):
    """State shared by the symbolic and numeric phases of one product ``A @ B``.

    Parameters
    ----------
    algorithm : {"auto", "dense", "hash"}
        The row accumulator; ``"auto"`` applies :func:`~kkpy.sparse.choose_accumulator`.

    Attributes
    ----------
    accumulator : str or None
        ``"dense"`` or ``"hash"``, as chosen by the symbolic phase.
    nnz : int or None
        Number of entries of ``C`` found by the symbolic phase.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from kkpy.sparse import SpGEMMHandle, spgemm_symbolic, spgemm_numeric
    >>> A = sp.random(6, 6, density=0.3, format="csr", random_state=0)
    >>> h = SpGEMMHandle()
    >>> C = spgemm_symbolic(h, A, A)
    >>> C = spgemm_numeric(h, A, A, C)
    >>> bool(abs(C.to_scipy() - A @ A).max() < 1e-12), h.accumulator
    (True, 'dense')
    """


def _operands(what, A, B):
    same = B is A  # A @ A: one check of the structure, not two
    A = _validate.matrix(A, what)
    B = A if same else _validate.matrix(B, what, "B")
    if A.ncols != B.nrows:
        raise ValueError(f"{what}: A is {A.nrows} x {A.ncols} but B is {B.nrows} x {B.ncols}; "
                         "A's columns must match B's rows")
    return A, B


def _row_flops(space, A, B):
    """Products of each row of ``A @ B``."""
    a_rm, a_ent, _ = crs_arrays(A)
    flops = np.empty(A.nrows, np.int64)
    # A random read of B's row map per entry of A: parallel from fewer entries than a scan.
    rows = RangePolicy(glue_space(space, A.nnz // _tuning.RANDOM_READ_COST), 0, A.nrows)
    parallel_for("kkpy.sparse.spgemm_flops", rows, row_flops, a_rm, a_ent,
                 _validate.kernel_array(B.row_map), flops)
    return flops


def _two_pass_plan(space, A, B, flops, value_dtype):
    """None, or for a low-flop product whose rows span few columns (see use_two_pass)
    whether its kernels should prefetch B's rows (see far_rows)."""
    products = int(flops.sum())
    if not few_products(A.nrows, products):  # before sampling spans
        return None
    a_span = mean_row_span(*crs_arrays(A)[:2])
    # A row of C spans about A's row span (which rows of B it takes) plus B's.
    window = min(B.ncols, a_span + mean_row_span(*crs_arrays(B)[:2]))
    if not use_two_pass(A.nrows, products, window, value_dtype.itemsize, threads_of(space),
                        B.ncols):
        return None
    return far_rows(a_span, B.nrows, B.nnz, value_dtype.itemsize)


def _plan(space, A, B, algorithm, value_dtype, flops=None, per_word=None):
    """How to compute ``A @ B``: ``(flops, plan, dense, bits, short, fill)``.

    ``flops``: products per row; ``plan``: the row plan; ``dense``: whether
    to accumulate densely; ``bits``: ``B``'s row bitmaps (see
    :func:`~kkpy.sparse.use_row_bitmaps`, with ``per_word`` products to
    repay each word, by default a handle's), empty when the dense
    accumulator inserts each product's column instead; ``short``: the most
    products of a row kept sorted as it grows instead
    (:data:`~kkpy.sparse._tuning.SHORT_ROW_PRODUCTS`); ``fill``: the
    expected fraction of the rows' upper bounds that ``C`` fills, for
    :func:`~kkpy.sparse._staged.run_staged` (1 where staging is pooled and
    so not worth a sample).
    """
    short = np.int64(short_rows())
    if per_word is None:
        per_word = _tuning.ROW_BITMAP_FLOPS_PER_WORD
    if flops is None:
        flops = _row_flops(space, A, B)
    bits = np.empty(0, np.uint64)
    plan, dense = plan_rows(space, flops, B.ncols, algorithm, value_dtype,
                            lambda plan: _sampled_fill(plan, flops, True, bits, short, A, B))
    products = int(plan.work_sum[-1]) - A.nrows  # the plan weighs each row one more
    if dense and bitmaps_repaid(B.ncols, B.nrows, B.nnz, products, per_word):
        nw = (B.ncols + 63) // 64
        bits = np.empty(B.nrows * nw, np.uint64)
        repeats = parallel_reduce("kkpy.sparse.spgemm_row_bitmaps",
                                  RangePolicy(glue_space(space, B.nnz), 0, B.nrows),
                                  K.row_bitmap, *crs_arrays(B)[:2], np.int64(nw), bits)
        if repeats:  # the kernels that use the bitmaps expect distinct columns
            bits = bits[:0]
    fill = 1.0
    if plan.max_bound > _tuning.POOL_ENTRIES:  # pooled staging has its pages already
        fill = plan.fill if plan.fill is not None else _sampled_fill(plan, flops, dense, bits,
                                                                     short, A, B)
    return flops, plan, dense, bits, short, fill


def _sampled_fill(plan, flops, dense, bits, short, A, B):
    """The fraction of the rows' upper bounds that ``C`` fills, from a sample of rows.

    Rows are drawn in proportion to their bounds, so the mean of
    length / bound estimates the whole; the sample (at most ``FILL_SAMPLE``
    rows) is halved until it costs at most ``1 / FILL_SAMPLE_SHARE`` of the
    product's bounds (1 if no sample is that cheap).
    """
    total = plan.max_bound
    most = _tuning.FILL_SAMPLE
    for n in (most >> k for k in range(most.bit_length())):
        targets = (np.arange(n) + 0.5) * (total / n)
        rows, counts = np.unique(np.searchsorted(plan.bound_sum, targets, side="right") - 1,
                                 return_counts=True)
        bound = np.minimum(flops[rows], B.ncols)
        if bound.sum() <= total // _tuning.FILL_SAMPLE_SHARE:
            lengths = np.empty(rows.shape[0], np.int64)
            K.row_lengths(rows, np.int64(bound.max()), np.int64(B.ncols), dense, bits, short,
                          *crs_arrays(A)[:2], *crs_arrays(B)[:2], lengths)
            return float(np.sum(counts * lengths / bound) / n)
    return 1.0


def _result_types(A, B):
    return np.result_type(A.dtype, B.dtype), np.result_type(A.index_dtype, B.index_dtype)


def spgemm_symbolic(handle, A, B, space=None):
    """The structure of ``C = A @ B``: its row map and sorted column entries.

    Parameters
    ----------
    handle : SpGEMMHandle
        Remembers ``A``'s and ``B``'s structure and the row plan for
        :func:`spgemm_numeric`.
    A, B : CrsMatrix or scipy.sparse matrix
        Rows need not be sorted; duplicates are allowed.  On the Cuda space
        also :class:`~kkpy.sparse.DeviceCrs`.
    space : ExecutionSpace, optional
        Where to run; the default space if omitted.  On a Cuda space
        (``kkpy.Cuda()``) the GPU kernels run and ``C`` is a
        :class:`~kkpy.sparse.DeviceCrs`, which stays in GPU memory
        (``C.to_host()`` copies it back); the handle keeps the GPU's plan,
        and fingerprints of ``A``'s and ``B``'s indices taken on the host.

    Returns
    -------
    CrsMatrix or DeviceCrs
        ``C`` with its structure set and zero values; pass it to
        :func:`spgemm_numeric`.

    Examples
    --------
    >>> import numpy as np
    >>> from kkpy.sparse import CrsMatrix, SpGEMMHandle, spgemm_symbolic
    >>> A = CrsMatrix([1.0, 1.0], [0, 1], [0, 2, 2], 2)
    >>> C = spgemm_symbolic(SpGEMMHandle(), A, A)
    >>> C.row_map.tolist(), C.entries.tolist()
    ([0, 2, 2], [0, 1])
    """
    gpu = _dispatch.on_gpu(space)
    if gpu:
        return _dispatch.cuda().spgemm_symbolic(handle, A, B, gpu)
    A, B = _operands("spgemm_symbolic", A, B)
    space = space or DefaultExecutionSpace()
    vdtype, idtype = _result_types(A, B)
    flops, plan, dense, bits, short, fill = _plan(space, A, B, handle.algorithm, vdtype)
    a_rm, a_ent, _ = crs_arrays(A)
    b_rm, b_ent, _ = crs_arrays(B)
    m = np.int64(B.ncols)

    def launch(policy, bounds, region, st_ent, st_val, rowcnt, *publish):
        parallel_for("kkpy.sparse.spgemm_symbolic", policy, K.symbolic_chunk, bounds, region,
                     flops, m, dense, bits, short, a_rm, a_ent, b_rm, b_ent, st_ent, rowcnt,
                     *publish)

    row_map, entries, _ = run_staged(space, plan, launch, idtype, None, B.ncols, fill)
    C = CrsMatrix(np.zeros(entries.shape[0], vdtype), entries, row_map, B.ncols, label="C",
                  check=False)
    # Rows of B with distinct columns (known when it has row bitmaps) stay so while
    # the fingerprint holds: the numeric phase may then add four entries at a time.
    handle._remember(A, B, C, plan, dense, space, distinct=bits.shape[0] > 0, short=short)
    return C


def spgemm_numeric(handle, A, B, C, space=None):
    """Fill the values of ``C = A @ B``, whose structure :func:`spgemm_symbolic` computed.

    Run it again whenever the values (not the structure) of ``A`` or ``B``
    change: it reuses the handle's structure and plan.

    Parameters
    ----------
    handle : SpGEMMHandle
        The handle given to :func:`spgemm_symbolic`.
    A, B : CrsMatrix or scipy.sparse matrix
        Same structure as at the symbolic phase (checked every time).  On the
        Cuda space also :class:`~kkpy.sparse.DeviceCrs`.
    C : CrsMatrix or DeviceCrs
        The matrix :func:`spgemm_symbolic` returned; its values are overwritten.
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
        or the structure of ``A``, ``B`` or ``C`` is not the one it saw.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import SpGEMMHandle, spgemm_symbolic, spgemm_numeric
    >>> A = sp.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> h = SpGEMMHandle(); C = spgemm_symbolic(h, A, A)
    >>> spgemm_numeric(h, A, A, C).toarray()
    array([[1., 8.],
           [0., 9.]])
    >>> A.data[:] = 1.0                      # new values, same structure
    >>> spgemm_numeric(h, A, A, C).toarray()
    array([[1., 2.],
           [0., 1.]])
    """
    gpu = _dispatch.on_gpu(space)
    if gpu:
        return _dispatch.cuda().spgemm_numeric(handle, A, B, C, gpu)
    A, B = _operands("spgemm_numeric", A, B)
    C = _validate.matrix(C, "spgemm_numeric", "C")
    space = space or DefaultExecutionSpace()
    state = handle._recall("spgemm_numeric", A, B, C, space)
    bounds = state["bounds"]
    policy = RangePolicy(space, 0, bounds.shape[0] - 1, schedule="dynamic", chunk=1)
    parallel_for("kkpy.sparse.spgemm_numeric", policy, K.numeric_chunk, bounds,
                 np.int64(B.ncols), state["dense"], state["distinct"], state["short"],
                 *crs_arrays(A), *crs_arrays(B),
                 *crs_arrays(C, out=True))
    return C


def spgemm(A, B, epilogue=None, epilogue_args=(), drop_zeros=False, space=None,
           algorithm="auto"):
    """``C = A @ B`` in one pass, optionally transforming every entry on the way out.

    Each row of ``C`` is accumulated, its columns sorted, the epilogue applied
    to each entry, and (with ``drop_zeros``) the zeros removed, before the
    row is stored: nothing is computed twice and no intermediate matrix is
    made.

    Parameters
    ----------
    A, B : CrsMatrix or scipy.sparse matrix
    epilogue : kernel, optional
        ``f(value, col, *epilogue_args) -> value``, applied to every computed
        entry of ``C`` (see :mod:`kkpy.sparse.epilogues`).  A module-level
        function is compiled once and cached on disk.
    epilogue_args : tuple
        Extra arguments of the epilogue (arrays, scalars).
    drop_zeros : bool, default False
        Remove the entries that are exactly 0 after the epilogue.  Rows
        that become empty stay (as empty rows): the shape is kept.
    space : ExecutionSpace, optional
        Where to run; the default space if omitted.  On a Cuda space
        (``kkpy.Cuda()``) the GPU kernels run, ``A`` and ``B`` may be
        :class:`~kkpy.sparse.DeviceCrs` too, and the result is one, which
        stays in GPU memory (``.to_host()`` copies it back).  There
        ``epilogue``, ``epilogue_args`` and ``drop_zeros`` raise
        NotImplementedError.
    algorithm : {"auto", "dense", "hash"}
        Row accumulator (see :func:`~kkpy.sparse.choose_accumulator`); the
        Cuda space has only ``"hash"`` (which ``"auto"`` means there).

    Returns
    -------
    CrsMatrix or DeviceCrs
        Sorted columns; float32 values if both inputs are float32, else
        float64.  The bits do not depend on the number of threads.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import spgemm, epilogues
    >>> A = sp.csr_array(np.array([[1.0, -1.0], [2.0, 0.0]]))
    >>> spgemm(A, A).toarray()
    array([[-1., -1.],
           [ 2., -2.]])
    >>> b = np.array([0.5, 0.5])
    >>> C = spgemm(A, A, epilogue=epilogues.bias_relu_cap, epilogue_args=(b, 2.0),
    ...            drop_zeros=True)
    >>> C.toarray(), C.nnz
    (array([[0., 0.],
           [2., 0.]]), 1)
    """
    check_algorithm("spgemm", algorithm)
    gpu = _dispatch.on_gpu(space)
    if gpu:
        return _dispatch.cuda().spgemm(A, B, epilogue, tuple(epilogue_args), drop_zeros, algorithm, gpu)
    A, B = _operands("spgemm", A, B)
    space = space or DefaultExecutionSpace()
    epilogue_args = tuple(epilogue_args)
    from . import epilogues

    fused = K.fused_kernel(epilogue or epilogues.identity, len(epilogue_args))
    apply = epilogue is not None or drop_zeros
    vdtype, idtype = _result_types(A, B)
    flops = _row_flops(space, A, B)
    far = None if algorithm != "auto" or apply else _two_pass_plan(space, A, B, flops, vdtype)
    if far is not None:
        return two_pass(space, A, B, flops, vdtype, idtype, far)
    flops, plan, dense, bits, short, fill = _plan(
        space, A, B, algorithm, vdtype, flops, _tuning.ROW_BITMAP_ONE_SHOT_FLOPS_PER_WORD)
    m = np.int64(B.ncols)

    def launch(policy, bounds, region, st_ent, st_val, rowcnt, *publish):
        parallel_for("kkpy.sparse.spgemm", policy, fused, bounds, region, flops, m, dense,
                     bits, short, apply, bool(drop_zeros), *crs_arrays(A), *crs_arrays(B), st_ent,
                     st_val, rowcnt, *publish, *epilogue_args)

    row_map, entries, values = run_staged(space, plan, launch, idtype, vdtype, B.ncols, fill)
    return CrsMatrix(values, entries, row_map, B.ncols, label="C", check=False)
