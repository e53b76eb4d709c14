"""What a kernel returns, and what a reduction driver binds: shared by every backend.

Typing goes through numba's CPU compiler on each backend: a kernel's Python
source is the same everywhere, and the host types it fastest.
"""
from __future__ import annotations

import numba
import numpy as np

from ._kernel import as_kernel

try:
    from numba._dispatcher import compute_fingerprint as _fingerprint
except ImportError:  # a numba without it: key on the full numba type instead
    def _fingerprint(a):
        return numba.typeof(a)

__all__ = ["reducer_bindings", "return_dtype", "scan_update_dtype"]


def reducer_bindings(kernel, reducer):
    """What a reduction driver's generated text refers to: the kernel, and a join kernel
    where the reducer has no inline expression."""
    b = {"_k": kernel}
    if reducer.expr is None:
        b["_j"] = as_kernel(reducer.join)
    return b


def return_dtype(kernel, index_types, args):
    """The numpy dtype a kernel returns for these arguments (compiling it if needed)."""
    try:
        # numba.typeof takes tens of microseconds per array; fingerprints (what
        # numba's own dispatcher keys on) take a fraction of one.
        key = ("return", index_types, tuple(map(_fingerprint, args)))
    except Exception:
        key = None
    dtype = kernel.forms.get(key)
    if dtype is None:
        from numba.core.typing.typeof import Purpose

        sig = tuple(index_types) + tuple(numba.typeof(a, Purpose.argument) for a in args)
        dtype = _infer_return(kernel, sig)
        if key is not None:
            kernel.forms[key] = dtype
    return dtype


def _infer_return(kernel, sig):
    from numba.core import types
    from numba.np.numpy_support import as_dtype

    disp = kernel.host
    if not hasattr(disp, "compile"):
        # NUMBA_DISABLE_JIT: the kernel is plain Python; numba can still type it.
        # If it cannot (it calls uncompiled helpers), accumulate in float64.
        try:
            disp = numba.core.registry.CPUDispatcher(kernel.py_func)
            disp.compile(sig)
        except Exception:
            return np.dtype(np.float64)
    disp.compile(sig)
    for s in disp.nopython_signatures:
        if s.args == sig:
            rt = s.return_type
            break
    else:  # numba may have converted arguments (e.g. literal ints); take the latest
        rt = disp.nopython_signatures[-1].return_type
    if isinstance(rt, types.Boolean):
        return np.dtype(np.bool_)
    try:
        return as_dtype(rt)
    except Exception:
        raise TypeError(f"kernel '{kernel.name}' must return a scalar for a reduction "
                        f"or scan, but it returns {rt}") from None


def scan_update_dtype(kernel, args):
    """The dtype of the ``update`` of a Kokkos scan functor ``kernel(i, update, final, *args)``:
    what it returns when handed an update (int64 first, then what came back).

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> @kkpy.kernel
    ... def f(i, update, final, x):
    ...     return update + x[i]
    >>> scan_update_dtype(f, (np.ones(2),))
    dtype('float64')
    """
    from numba import types
    from numba.np.numpy_support import from_dtype

    dtype = np.dtype(np.int64)
    for _ in range(3):
        got = return_dtype(kernel, (types.int64, from_dtype(dtype), types.boolean), args)
        if got == dtype:
            break
        dtype = got
    return dtype
