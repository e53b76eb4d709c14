"""Ready-made epilogue kernels for :func:`kkpy.sparse.spgemm`.

An epilogue is a kernel ``f(value, col, *args) -> value`` that
:func:`~kkpy.sparse.spgemm` applies to every computed entry of ``C = A @ B``
before it is stored; with ``drop_zeros=True`` the entries it maps to exactly
0 are removed.  Write your own the same way, as a module-level function
(so its compiled form is cached on disk), and return values of ``value``'s
type: :func:`zero_like` gives a zero of that type.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from kkpy.sparse import spgemm, epilogues
>>> A = sp.csr_array(np.array([[1.0, -2.0], [0.5, 4.0]]))
>>> C = spgemm(A, sp.eye(2, format="csr"), epilogue=epilogues.relu, drop_zeros=True)
>>> C.toarray(), C.nnz
(array([[1. , 0. ],
       [0.5, 4. ]]), 3)
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from ..core import kernel

__all__ = ["zero_like", "identity", "scale", "relu", "bias", "bias_relu_cap", "threshold"]


def zero_like(z):
    """A zero of ``z``'s type (a float32 zero for float32 ``z``), also in compiled code.

    Examples
    --------
    >>> import numpy as np
    >>> zero_like(np.float32(3.5)).dtype
    dtype('float32')
    """
    return (z * 0) if not isinstance(z, (np.floating, float)) else type(z)(0)


@overload(zero_like)
def _zero_like(z):
    if isinstance(z, (types.Float, types.Integer)):
        scalar = as_dtype(z).type
        return lambda z: scalar(0)


@kernel
def identity(z, j):
    """``z`` unchanged (what ``epilogue=None`` means).

    Examples
    --------
    >>> identity(2.5, 0)
    2.5
    """
    return z


@kernel
def scale(z, j, alpha):
    """``alpha * z``.

    Examples
    --------
    >>> scale(2.0, 0, 3.0)
    6.0
    """
    return alpha * z


@kernel
def relu(z, j):
    """``max(z, 0)``; NaN stays NaN.

    Examples
    --------
    >>> relu(-1.5, 0), relu(2.0, 0)
    (0.0, 2.0)
    """
    return zero_like(z) if z < 0 else z


@kernel
def bias(z, j, b):
    """``z + b[j]``: a per-column bias.

    Examples
    --------
    >>> import numpy as np
    >>> bias(1.0, 1, np.array([0.0, -0.25]))
    0.75
    """
    return z + b[j]


@kernel
def bias_relu_cap(z, j, bias, cap):
    """``min(max(z + bias[j], 0), cap)``: one Sparse DNN Graph Challenge layer.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.full(2, -0.3)
    >>> [round(bias_relu_cap(z, 0, b, 32.0), 6) for z in (0.2, 1.0, 40.0)]
    [0.0, 0.7, 32.0]
    """
    z += bias[j]
    if z < 0:
        return zero_like(z)
    return cap if z > cap else z


@kernel
def threshold(z, j, tol):
    """``z`` if ``|z| >= tol``, else 0: with ``drop_zeros`` it prunes small entries.

    Examples
    --------
    >>> threshold(1e-9, 0, 1e-6), threshold(0.5, 0, 1e-6)
    (0.0, 0.5)
    """
    return z if abs(z) >= tol else zero_like(z)
