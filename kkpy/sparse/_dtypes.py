"""Value dtypes: what a CrsMatrix stores, what kernels compute in, and scipy's result rules.

The kernels are compiled for five value dtypes (:data:`COMPUTE`).  Every
other dtype scipy.sparse supports maps onto one of them *exactly*: booleans
and integers are computed in int64, whose arithmetic wraps modulo 2**64, so
casting an int64 result back to int8 ... uint64 gives the bits scipy's own
wrapping arithmetic gives, and a boolean result is "nonzero" (a sum of
products of 0/1 values is a count, never 0 unless every product is).
``longdouble`` and ``clongdouble`` have no numba type: they are refused,
never rounded.
"""
from __future__ import annotations

import numpy as np

__all__ = ["COMPUTE", "storage_dtype", "upcast", "compute_dtype", "to_compute", "from_compute"]

#: Value dtypes the kernels are compiled for.
COMPUTE = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128,
                                      np.int64))

# scipy.sparse's value dtypes, in the order its ``upcast`` tries them.
_SCIPY = tuple(np.dtype(t) for t in (np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                     np.uint32, np.int64, np.uint64, np.float32, np.float64,
                                     np.longdouble, np.complex64, np.complex128, np.clongdouble))


def _refuse_extended(what, dtype):
    if dtype.kind == "f" and dtype.itemsize > 8 or dtype.kind == "c" and dtype.itemsize > 16:
        raise TypeError(f"{what}: dtype {dtype} is not supported (numba has no extended "
                        "precision); convert with .astype(np.float64) or complex128 yourself")


def storage_dtype(dtype, what="CrsMatrix values"):
    """The value dtype a CrsMatrix stores for values of ``dtype``.

    Floating and complex dtypes of 32 and 64 bits are kept; booleans and
    integers (but uint64) become int64 and float16 becomes float64, both
    exactly.  Anything else raises TypeError: nothing is rounded.

    Examples
    --------
    >>> import numpy as np
    >>> [str(storage_dtype(t)) for t in (np.float32, np.int32, np.bool_, np.complex64)]
    ['float32', 'int64', 'int64', 'complex64']
    >>> storage_dtype(np.longdouble)
    Traceback (most recent call last):
    ...
    TypeError: CrsMatrix values: dtype float128 is not supported (numba has no extended precision); convert with .astype(np.float64) or complex128 yourself
    """
    dtype = np.dtype(dtype)
    if dtype in COMPUTE:
        return dtype
    _refuse_extended(what, dtype)
    if dtype == np.uint64:
        raise TypeError(f"{what}: uint64 values may not fit int64; convert them with "
                        ".astype(np.int64) or np.float64 yourself")
    if dtype.kind in "biu":
        return np.dtype(np.int64)
    if dtype == np.float16:
        return np.dtype(np.float64)
    raise TypeError(f"{what} must be numbers (bool, integer, float or complex), got dtype {dtype}")


def upcast(*dtypes, what="kkpy.sparse"):
    """The dtype scipy.sparse gives the result of an operation on ``dtypes``.

    ``np.result_type``, moved to the first dtype scipy.sparse supports that
    holds it (so float16 with bool gives float32, as in scipy); extended
    precision raises TypeError.

    Examples
    --------
    >>> import numpy as np
    >>> str(upcast(np.int32, np.int32)), str(upcast(np.float32, np.int64))
    ('int32', 'float64')
    >>> str(upcast(np.bool_, np.float16)), str(upcast(np.int64, np.uint64))
    ('float32', 'float64')
    """
    result = np.result_type(*dtypes)
    for t in _SCIPY:
        if np.can_cast(result, t):
            _refuse_extended(what, t)
            return t
    raise TypeError(f"{what}: dtype {result} is not supported (bool, integer, float or complex "
                    "values only)")


def compute_dtype(dtype):
    """The dtype of :data:`COMPUTE` a result of ``dtype`` is computed in.

    Examples
    --------
    >>> import numpy as np
    >>> [str(compute_dtype(t)) for t in (np.int8, np.uint64, np.bool_, np.float32)]
    ['int64', 'int64', 'int64', 'float32']
    """
    dtype = np.dtype(dtype)
    if dtype in COMPUTE:
        return dtype
    if dtype.kind in "biu":
        return np.dtype(np.int64)
    return storage_dtype(dtype)


def to_compute(values, dtype):
    """``values`` as ``dtype`` of :data:`COMPUTE`; uint64 to int64 by reinterpreting the bits.

    Integer arithmetic modulo 2**64 is the same for int64 and uint64, so the
    bits are reinterpreted rather than converted (which would not be exact).
    """
    values = np.asarray(values)
    if values.dtype == np.uint64 and dtype == np.int64:
        return values.view(np.int64)
    return values.astype(dtype, copy=False)


def from_compute(values, dtype):
    """Values computed in ``compute_dtype(dtype)`` as ``dtype`` (wrapping as scipy's would).

    Examples
    --------
    >>> import numpy as np
    >>> from_compute(np.array([300, 2, 0]), np.int8).tolist()
    [44, 2, 0]
    >>> from_compute(np.array([3, 0]), np.bool_).tolist()
    [True, False]
    """
    dtype = np.dtype(dtype)
    if values.dtype == dtype:
        return values
    if dtype == np.bool_:
        return values != 0
    if dtype == np.uint64 and values.dtype == np.int64:
        return values.view(np.uint64)
    return values.astype(dtype)
