"""``@kkpy.kernel``: mark a plain Python function as a compiled kernel."""
from __future__ import annotations

import functools
import inspect
import threading
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

    def __init__(self, py_func, *, fastmath=False, slp_vectorize=False, boundscheck=False):
        if not callable(py_func):
            raise TypeError(f"kkpy.kernel expects a function, got {type(py_func).__name__}")
        if isinstance(py_func, Kernel):
            py_func = py_func.py_func
        self.py_func = getattr(py_func, "py_func", py_func)  # accept numba dispatchers too
        self.fastmath = _fastmath_flags(fastmath)
        self.slp_vectorize = bool(slp_vectorize)
        self.boundscheck = bool(boundscheck)
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
                fm = self.fastmath
                disp = numba.njit(cache=self.cacheable, boundscheck=self.boundscheck or None,
                                  fastmath=set(fm) if isinstance(fm, tuple) else fm)(self.py_func)
            if self.slp_vectorize:
                disp = with_slp_vectorize(disp)
            self.forms["host"] = disp
        return disp

    def __call__(self, *args):
        return self.host(*args)

    def __repr__(self):
        return f"<kkpy.kernel {self.name}>"


def kernel(func=None, *, fastmath=False, slp_vectorize=False, boundscheck=False):
    """Mark a plain Python function as a kkpy kernel, compiled by numba in nopython mode.

    Usable as ``@kkpy.kernel``, ``@kkpy.kernel(fastmath=True)`` or
    ``kkpy.kernel(f)``.  Compiled code is cached on disk (next to the source
    file, or under ``NUMBA_CACHE_DIR``), so a new process reuses it.

    Parameters
    ----------
    func : callable
        The kernel body: ``f(i, *args)`` for a range, ``f(i, j, ...)`` for
        an MDRange, ``f(member, *args)`` for a team.
    fastmath : bool or set of str
        numba's fastmath: ``True`` for all of LLVM's fast-math flags, or a
        set of them (``{"contract"}`` allows fused multiply-adds and nothing
        that reorders sums).
    slp_vectorize : bool
        Compile the kernel, and the drivers that launch it, with LLVM's
        straight-line (SLP) vectoriser, which numba leaves off by default.
        It packs independent scalar operations written side by side (say
        eight running sums) into SIMD registers, where the loop vectoriser
        would keep them in memory.
    boundscheck : bool
        Check every array index in the kernel and raise IndexError on one
        out of range, like Kokkos's ``KOKKOS_ENABLE_DEBUG_BOUNDS_CHECK``.
        Off by default, as in Kokkos and numba: then an index out of range
        reads or writes outside the array, which may crash the process.
        Turn it on while writing a kernel; it costs speed, and on the host
        the kernel runs on one thread (numba cannot raise from its threads).

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
    opts = {"fastmath": fastmath, "slp_vectorize": slp_vectorize, "boundscheck": boundscheck}
    if func is None:
        return lambda f: Kernel(f, **opts)
    if isinstance(func, Kernel) and not fastmath and not slp_vectorize and not boundscheck:
        return func
    return Kernel(func, **opts)


def _fastmath_flags(fastmath):
    """``fastmath`` as numba takes it: a bool, or a sorted tuple of LLVM flags (stable keys)."""
    if isinstance(fastmath, (set, frozenset, list, tuple)):
        return tuple(sorted(fastmath))
    return bool(fastmath)


_slp_lock = threading.RLock()


def with_slp_vectorize(dispatcher):
    """Make ``dispatcher`` compile with LLVM's SLP vectoriser on; returns it.

    numba reads ``config.SLP_VECTORIZE`` whenever it optimises a module, so
    the flag is raised only while this dispatcher compiles (its first call
    with new argument types, callees included) and lowered again.  Calls of
    versions already compiled, or loaded from the disk cache, never pass
    through here: numba only calls ``compile`` on a miss.
    """
    compile_ = dispatcher.compile

    def compile(sig):
        with _slp_lock:
            old = numba.core.config.SLP_VECTORIZE
            numba.core.config.SLP_VECTORIZE = 1
            try:
                return compile_(sig)
            finally:
                numba.core.config.SLP_VECTORIZE = old

    dispatcher.compile = compile
    return dispatcher


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
