"""Peer implementations of the challenge's reference algorithm, for ``kkpy-dnn bench``.

Both follow the published reference: ``Z = Y @ W``; add the bias to the
nonzeros of ``Z``; ReLU; cap; drop zeros.  Neither drops dead rows explicitly:
the sparse formats skip empty rows by construction, as in the reference codes.
"""
from __future__ import annotations

import numpy as np

__all__ = ["scipy_infer", "graphblas_infer", "graphblas_available", "ScipyReference"]


def _bias_vector(bias, n, dtype):
    b = np.asarray(bias, dtype)
    return np.full(n, b, dtype) if b.ndim == 0 else b


def scipy_infer(Y0, layers, bias, ymax=32.0, dtype=np.float32):
    """The reference algorithm on scipy.sparse (single-threaded); returns a csr_array.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_array(np.array([[1.0, 1.0], [0.0, 1.0]], np.float32))
    >>> Y = sp.csr_array(np.array([[1.0, 0.0]], np.float32))
    >>> scipy_infer(Y, [W, W], -0.5).toarray()
    array([[0. , 0.5]], dtype=float32)
    """
    import scipy.sparse as sp

    Y = sp.csr_array(Y0, dtype=dtype)
    for W in layers:
        Z = Y @ sp.csr_array(W, dtype=dtype)  # scipy drops entries that sum to exactly 0
        b = _bias_vector(bias, Z.shape[1], dtype)
        Z.data += b[Z.indices]
        np.clip(Z.data, 0, ymax, out=Z.data)
        Z.eliminate_zeros()
        Y = Z
    return Y


def graphblas_available() -> bool:
    try:
        import graphblas  # noqa: F401
    except ImportError:
        return False
    return True


def graphblas_prepare(Y0, layers, bias, dtype=np.float32):
    """Convert the inputs to SuiteSparse:GraphBLAS objects (not timed, like file reading)."""
    import graphblas as gb

    Y = gb.io.from_scipy_sparse(Y0.astype(dtype))
    Ws = [gb.io.from_scipy_sparse(W.astype(dtype)) for W in layers]
    biases = [gb.Vector.from_dense(_bias_vector(bias, W.shape[1], dtype)).diag() for W in layers]
    return Y, Ws, biases


def graphblas_infer(prepared, ymax=32.0, nthreads=None):
    """LAGraph's formulation on python-graphblas: plus_times, then plus_plus with diag(bias).

    ``prepared`` comes from :func:`graphblas_prepare`; returns a scipy csr_array.
    """
    import graphblas as gb
    from graphblas import binary, select, semiring

    if nthreads is not None:
        gb.ss.config["nthreads"] = int(nthreads)
    Y0, Ws, biases = prepared
    Y = None
    for W, D in zip(Ws, biases):
        # In place after the first layer, as LAGraph does: a python-graphblas Matrix
        # sits in a reference cycle, so each layer's new ones would stay allocated
        # until the garbage collector ran (gigabytes at 65536 neurons).
        if Y is None:
            Y = semiring.plus_times(Y0 @ W).new()
        else:
            Y << semiring.plus_times(Y @ W)
        Y << semiring.plus_plus(Y @ D)  # bias only where Y @ W has an entry
        Y << select.valuegt(Y, 0)
        Y << Y.apply(binary.min, right=ymax)
    if Y is None:
        return gb.io.to_scipy_sparse(Y0, format="csr")
    out = gb.io.to_scipy_sparse(Y, format="csr")  # a copy: Y's memory can go now
    Y.clear()
    return out


class ScipyReference:
    """Float64 scipy recurrence on a few rows, one layer at a time (the CPU check)."""

    def __init__(self, Y, bias, ymax=32.0):
        import scipy.sparse as sp

        self.Y, self.bias, self.ymax = sp.csr_array(Y, dtype=np.float64), bias, ymax

    def __call__(self, k, W):
        self.Y = scipy_infer(self.Y, [W], self.bias, self.ymax, dtype=np.float64)

    def categories(self):
        return np.flatnonzero(self.Y.sum(axis=1))
