"""The public sparse functions on the Cuda space.

Each public function opens with ``gpu = device_space(space)`` and, when that
is a GPU space, hands the call to the function of the same name here, which
runs the kernels of :mod:`kkpy.sparse.impl._cuda_sparse`.  That module is
imported only then, so a host-only program never loads numba.cuda.

Results stay in GPU memory as :class:`~kkpy.sparse.DeviceCrs` matrices
(``to_host()`` copies one back).  Operands may be host matrices, uploaded at
every call, or ``DeviceCrs``, uploaded once by ``DeviceCrs.from_host``.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import CudaSpace, DefaultExecutionSpace
from ._accumulate import check_algorithm
from ._crs import as_crs

__all__ = ["device_space"]

# What a handle fingerprints: a matrix's shape and index arrays, in host memory.
_Indices = namedtuple("_Indices", "shape nnz row_map entries")


def device_space(space):
    """``space`` (None: the default space) if it runs on a GPU, else None.

    A space runs on a GPU when its memory is CudaSpace; asking needs no
    numba.cuda.

    Examples
    --------
    >>> import kkpy
    >>> device_space(kkpy.Serial()) is None
    True
    """
    space = space or DefaultExecutionSpace()
    return space if space.memory_space == CudaSpace else None


def _gpu():
    from .impl import _cuda_sparse

    return _cuda_sparse


def _unsupported(what, name):
    return NotImplementedError(f"{what}: {name} is not supported on the Cuda space; run on a "
                               "host space, or apply it to the result's to_host()")


def _check_algorithm(what, algorithm):
    if check_algorithm(what, algorithm) not in ("auto", "hash"):
        raise NotImplementedError(f"{what}: algorithm={algorithm!r} is not supported on the Cuda "
                                  "space, whose rows accumulate in hash tables ('auto' or 'hash')")


def _check_scalars(what, alpha, beta):
    from ._spadd import _scalar  # not at the top: _spadd imports this module

    _scalar(what, "alpha", alpha)
    _scalar(what, "beta", beta)


def _upload(what, A, B, product):
    """``A`` and ``B`` in GPU memory, after checking that their shapes fit."""
    gpu = _gpu()
    A, B = gpu.DeviceCrs.from_host(A), gpu.DeviceCrs.from_host(B)
    if (A.ncols != B.nrows) if product else (A.shape != B.shape):
        need = "A's columns must match B's rows" if product else "they must have the same shape"
        raise ValueError(f"{what}: A is {A.nrows} x {A.ncols} but B is {B.nrows} x {B.ncols}; "
                         f"{need}")
    return A, B


def _host_indices(M):
    """``M``'s structure in host memory: a host matrix itself, or a copy of a DeviceCrs's."""
    if isinstance(M, _gpu().DeviceCrs):
        return _Indices(M.shape, M.nnz, *M.structure_to_host())
    return as_crs(M)


def _symbolic(handle, A, B, L, R, space, check):
    """Plan ``L @ R`` and return its structure; ``handle`` fingerprints ``A`` and ``B``."""
    gpu = _gpu()
    plan = gpu.spgemm_symbolic(L, R, space)
    C = gpu.spgemm_structure(plan, L, R, space)
    fingerprinted = (_host_indices(A), _host_indices(B)) if check else (None, None)
    handle._remember_device(*fingerprinted, C, plan, check)
    return C


def _recall(handle, what, A, B, C, space):
    return handle._recall(what, _host_indices(A), _host_indices(B), C, space)


def spgemm_symbolic(handle, A, B, space):
    _check_algorithm("spgemm_symbolic", handle.algorithm)
    L, R = _upload("spgemm_symbolic", A, B, product=True)
    return _symbolic(handle, A, B, L, R, space, check=True)


def spgemm_numeric(handle, A, B, C, space):
    L, R = _upload("spgemm_numeric", A, B, product=True)
    state = _recall(handle, "spgemm_numeric", A, B, C, space)
    return _gpu().spgemm_numeric(state["plan"], L, R, space, out=C)


def spgemm(A, B, epilogue, epilogue_args, drop_zeros, algorithm, space):
    for name, given in (("epilogue", epilogue is not None), ("epilogue_args", len(epilogue_args)),
                        ("drop_zeros", drop_zeros)):
        if given:
            raise _unsupported("spgemm", name)
    _check_algorithm("spgemm", algorithm)
    return _gpu().spgemm(*_upload("spgemm", A, B, product=True), space)


def spadd_symbolic(handle, A, B, space, check):
    _check_algorithm("spadd_symbolic", handle.algorithm)
    dA, dB = _upload("spadd_symbolic", A, B, product=False)
    # The structure of [A B] @ [alpha*I; beta*I] is the same for every alpha and beta.
    L, R = _gpu().spadd_operands(1.0, dA, 1.0, dB, space)
    return _symbolic(handle, A, B, L, R, space, check)


def spadd_numeric(handle, alpha, A, beta, B, C, space):
    _check_scalars("spadd_numeric", alpha, beta)
    dA, dB = _upload("spadd_numeric", A, B, product=False)
    state = _recall(handle, "spadd_numeric", A, B, C, space)
    L, R = _gpu().spadd_operands(alpha, dA, beta, dB, space)
    return _gpu().spgemm_numeric(state["plan"], L, R, space, out=C)


def spadd(alpha, A, beta, B, algorithm, space):
    _check_scalars("spadd", alpha, beta)
    _check_algorithm("spadd", algorithm)
    dA, dB = _upload("spadd", A, B, product=False)
    return _gpu().spadd(alpha, dA, beta, dB, space)


def spmv(alpha, A, x, beta, y, mode, space):
    from kkpy.core.extending import memory_space_of

    gpu = _gpu()
    A = gpu.DeviceCrs.from_host(A)
    if mode not in ("N", "T"):
        raise ValueError(f"spmv: mode must be 'N' or 'T', got {mode!r}")
    _check_scalars("spmv", alpha, beta)
    for name, v in (("x", x), ("y", y)):
        if memory_space_of(v) != CudaSpace:
            raise TypeError(f"spmv: on the Cuda space {name} must be a CudaSpace View: "
                            f"kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, {name})")
    if np.dtype(y.dtype).kind != "f":
        raise TypeError(f"spmv: y must hold floats, got {np.dtype(y.dtype)}")
    nin, nout = (A.ncols, A.nrows) if mode == "N" else (A.nrows, A.ncols)
    xs, ys = tuple(x.shape), tuple(y.shape)
    if len(xs) not in (1, 2) or len(ys) != len(xs) or (xs[0], ys[0]) != (nin, nout) \
            or xs[1:] != ys[1:]:
        raise ValueError(f"spmv: mode {mode!r} with a {A.nrows} x {A.ncols} matrix needs x of "
                         f"{nin} and y of {nout} rows (same number of columns); got "
                         f"x {xs}, y {ys}")
    gpu.spmv(alpha, A, x, beta, y, mode=mode, space=space)
