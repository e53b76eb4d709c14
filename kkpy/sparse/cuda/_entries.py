"""The public sparse functions on the Cuda space: their arguments' GPU side.

Each public function validates its arguments, asks :mod:`kkpy.sparse._dispatch`
where ``space`` runs and, for a GPU space, hands the call to the function of
the same name here, which uploads what is not on the GPU yet, checks what
only the GPU path needs (device vectors, supported options) and runs the
operations of :mod:`._ops`.

Results stay in GPU memory as :class:`~kkpy.sparse.DeviceCrs` matrices
(``to_host()`` copies one back).  Operands may be host matrices, uploaded at
every call, or ``DeviceCrs``, uploaded once by ``DeviceCrs.from_host``.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from kkpy.core import CudaSpace
from kkpy.core.extending import memory_space_of

from .._accumulate import check_algorithm
from .._crs import as_crs
from .._validate import real_scalar
from . import _ops
from ._crs import DeviceCrs

__all__ = ["spgemm_symbolic", "spgemm_numeric", "spgemm", "spadd_symbolic", "spadd_numeric",
           "spadd", "spmv"]

# What a handle fingerprints: a matrix's shape and index arrays, in host memory.
_Indices = namedtuple("_Indices", "shape nnz row_map entries")


def _unsupported(what, name):
    return NotImplementedError(f"{what}: {name} is not supported on the Cuda space; run on a "
                               "host space, or apply it to the result's to_host()")


def _check_algorithm(what, algorithm):
    if check_algorithm(what, algorithm) not in ("auto", "hash"):
        raise NotImplementedError(f"{what}: algorithm={algorithm!r} is not supported on the Cuda "
                                  "space, whose rows accumulate in hash tables ('auto' or 'hash')")


def _check_scalars(what, alpha, beta):
    real_scalar(what, "alpha", alpha)
    real_scalar(what, "beta", beta)


def _upload(what, A, B, product):
    """``A`` and ``B`` in GPU memory, after checking that their shapes fit."""
    A, B = DeviceCrs.from_host(A), DeviceCrs.from_host(B)
    if (A.ncols != B.nrows) if product else (A.shape != B.shape):
        need = "A's columns must match B's rows" if product else "they must have the same shape"
        raise ValueError(f"{what}: A is {A.nrows} x {A.ncols} but B is {B.nrows} x {B.ncols}; "
                         f"{need}")
    return A, B


def _host_indices(M):
    """``M``'s structure in host memory: a host matrix itself, or a copy of a DeviceCrs's."""
    if isinstance(M, DeviceCrs):
        return _Indices(M.shape, M.nnz, *M.structure_to_host())
    return as_crs(M)


def _symbolic(handle, A, B, L, R, space, check):
    """Plan ``L @ R`` and return its structure; ``handle`` fingerprints ``A`` and ``B``."""
    plan = _ops.spgemm_symbolic(L, R, space)
    C = _ops.spgemm_structure(plan, L, R, space)
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
    return _ops.spgemm_numeric(state["plan"], L, R, space, out=C)


def spgemm(A, B, epilogue, epilogue_args, drop_zeros, algorithm, space):
    for name, given in (("epilogue", epilogue is not None), ("epilogue_args", len(epilogue_args)),
                        ("drop_zeros", drop_zeros)):
        if given:
            raise _unsupported("spgemm", name)
    _check_algorithm("spgemm", algorithm)
    return _ops.spgemm(*_upload("spgemm", A, B, product=True), space)


def spadd_symbolic(handle, A, B, space, check):
    _check_algorithm("spadd_symbolic", handle.algorithm)
    dA, dB = _upload("spadd_symbolic", A, B, product=False)
    # The structure of [A B] @ [alpha*I; beta*I] is the same for every alpha and beta.
    L, R = _ops.spadd_operands(1.0, dA, 1.0, dB, space)
    return _symbolic(handle, A, B, L, R, space, check)


def spadd_numeric(handle, alpha, A, beta, B, C, space):
    _check_scalars("spadd_numeric", alpha, beta)
    dA, dB = _upload("spadd_numeric", A, B, product=False)
    state = _recall(handle, "spadd_numeric", A, B, C, space)
    L, R = _ops.spadd_operands(alpha, dA, beta, dB, space)
    return _ops.spgemm_numeric(state["plan"], L, R, space, out=C)


def spadd(alpha, A, beta, B, algorithm, space):
    _check_scalars("spadd", alpha, beta)
    _check_algorithm("spadd", algorithm)
    dA, dB = _upload("spadd", A, B, product=False)
    return _ops.spadd(alpha, dA, beta, dB, space)


def spmv(alpha, A, x, beta, y, mode, space):
    A = DeviceCrs.from_host(A)
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
    _ops.spmv(alpha, A, x, beta, y, mode=mode, space=space)
