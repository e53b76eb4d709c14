"""``@kkpy.kernel``: mark a plain Python function as a compiled kernel."""
from __future__ import annotations

import functools
import inspect
import warnings

import numba

__all__ = ["kernel", "Kernel"]


class Kernel:
    """A plain Python function plus its compiled forms.

    The host form is ``numba.njit(cache=True)`` of the function, built on first
    use; other backends (Cuda) attach their own forms lazily under
    ``self.forms``.  Calling a Kernel calls the host form, so kernels can call
    each other and can be tested directly.
    """

    def __init__(self, py_func, *, fastmath=False):
        if not callable(py_func):
            raise TypeError(f"kkpy.kernel expects a function, got {type(py_func).__name__}")
        if isinstance(py_func, Kernel):
            py_func = py_func.py_func
        self.py_func = getattr(py_func, "py_func", py_func)  # accept numba dispatchers too
        self.fastmath = fastmath
        self.forms = {}
        functools.update_wrapper(self, self.py_func)

    @property
    def name(self) -> str:
        return self.py_func.__qualname__

    @functools.cached_property
    def nparams(self) -> int | None:
        """Number of positional parameters, or None for ``*args`` kernels."""
        params = inspect.signature(self.py_func).parameters.values()
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            return None
        return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)

    @functools.cached_property
    def cacheable(self) -> bool:
        """Whether numba can cache this function on disk (it needs a source file)."""
        try:
            numba.core.caching.FunctionCache(self.py_func)
        except Exception:
            return False
        return True

    @property
    def host(self):
        """The njit dispatcher (created on first use, disk-cached when possible)."""
        disp = self.forms.get("host")
        if disp is None:
            with warnings.catch_warnings():
                # Functions that cannot be cached (e.g. using dynamic globals)
                # still run; the warning would only alarm users.
                warnings.simplefilter("ignore", numba.NumbaWarning)
                disp = numba.njit(cache=self.cacheable, fastmath=self.fastmath)(self.py_func)
            self.forms["host"] = disp
        return disp

    def __call__(self, *args):
        return self.host(*args)

    def __repr__(self):
        return f"<kkpy.kernel {self.name}>"


def kernel(func=None, *, fastmath=False):
    """Mark a plain Python function as a kkpy kernel, compiled by numba in nopython mode.

    Usable as ``@kkpy.kernel``, ``@kkpy.kernel(fastmath=True)`` or
    ``kkpy.kernel(f)``.  Compiled code is cached on disk (next to the source
    file, or under ``NUMBA_CACHE_DIR``), so a new process reuses it.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> @kkpy.kernel
    ... def axpy(i, a, x, y):
    ...     y[i] += a * x[i]
    >>> y = np.ones(4)
    >>> kkpy.parallel_for("axpy", 4, axpy, 2.0, np.arange(4.0), y)
    >>> y
    array([1., 3., 5., 7.])
    """
    if func is None:
        return lambda f: Kernel(f, fastmath=fastmath)
    return func if isinstance(func, Kernel) and not fastmath else Kernel(func, fastmath=fastmath)


def as_kernel(obj) -> Kernel:
    """Accept a Kernel, a plain function or a numba dispatcher."""
    if isinstance(obj, Kernel):
        return obj
    cached = getattr(obj, "__kkpy_kernel__", None)
    if cached is not None:
        return cached
    k = Kernel(obj)
    try:
        obj.__kkpy_kernel__ = k  # reuse its compiled drivers on the next launch
    except AttributeError:
        pass
    return k
