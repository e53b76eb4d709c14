"""kkpy: the Kokkos programming model and Kokkos Kernels' sparse module on numba.

Write kernels as plain Python functions; numba compiles them, kkpy runs them on
an execution space (``Serial``, ``Threads`` or ``Cuda``) over a policy.

Examples
--------
>>> import numpy as np, kkpy
>>> @kkpy.kernel
... def square(i, x):
...     return x[i] * x[i]
>>> kkpy.parallel_reduce("sumsq", kkpy.RangePolicy(kkpy.Threads(), 0, 3), square, np.arange(3.0))
5.0

Debugging
---------
Set ``NUMBA_DISABLE_JIT=1`` to run kernels as plain Python, so that ``print``,
``pdb`` breakpoints and Python tracebacks work inside them.  Patterns keep
their meaning (``Threads`` then runs indices one after another), so results
match the compiled run; only speed differs.  Set ``KKPY_PROFILE=1`` to print a
kernel-timer report (label, calls, total and mean time) at exit.
"""
from .core import _cache_guard
# Before anything compiles: a development checkout whose sources changed gets
# kkpy's numba cache cleared, since numba would keep stale inlined helpers.
# (Importing the guard also routes that cache into kkpy's private folder.)
_cache_guard.check()
from . import profiling  # noqa: E402
from .core._spaces import (
    CudaSpace, DefaultExecutionSpace, DefaultHostExecutionSpace, ExecutionSpace, HostSpace,
    MemorySpace, ScopeGuard, Serial, Threads, fence, finalize, initialize, is_initialized,
    space_from_name,
)
from .core._views import (
    ALL, LayoutLeft, LayoutRight, LayoutStride, View, create_mirror, create_mirror_view,
    create_mirror_view_and_copy, deep_copy, subview,
)
from .core._policies import AUTO, MDRangePolicy, RangePolicy, TeamPolicy
from .core._kernel import Kernel, kernel
from .core._reducers import LAnd, LOr, Max, MaxLoc, Min, MinLoc, Prod, Reducer, Sum
from .core._patterns import KernelError, parallel_for, parallel_reduce, parallel_scan
from .core._nested import PerTeam, PerThread, single
from .profiling import Timer
# Registers the compiled atomics now: numba must see them before it types
# the first kernel that calls kkpy.atomic_*, or that kernel fails to compile.
from .core import _atomics as _atomics  # noqa: E402

from ._version import __version__  # noqa: E402

# Names resolved on first use (module ``__getattr__``), each with its module:
# Cuda pulls in numba.cuda, slow to import and optional; the atomics and the
# team ranges are numba extensions that most programs never touch.
_ATOMICS = ("atomic_add", "atomic_fetch_add", "atomic_sub", "atomic_fetch_sub", "atomic_min",
            "atomic_max", "atomic_fetch_min", "atomic_fetch_max", "atomic_compare_exchange",
            "atomic_exchange", "atomic_load", "atomic_store")
_LAZY = {"Cuda": "._cuda", **dict.fromkeys(_ATOMICS, "._atomics"),
         **dict.fromkeys(("TeamThreadRange", "ThreadVectorRange", "TeamVectorRange"), "._team")}

__all__ = [
    # execution and memory spaces
    "Serial", "Threads", "Cuda", "ExecutionSpace", "DefaultExecutionSpace",
    "DefaultHostExecutionSpace", "MemorySpace", "HostSpace", "CudaSpace", "ScopeGuard",
    "initialize", "finalize", "is_initialized", "fence", "space_from_name",
    # Views
    "View", "LayoutLeft", "LayoutRight", "LayoutStride", "ALL", "subview", "deep_copy",
    "create_mirror", "create_mirror_view", "create_mirror_view_and_copy",
    # policies, kernels, patterns, reducers
    "RangePolicy", "MDRangePolicy", "TeamPolicy", "AUTO",
    "TeamThreadRange", "ThreadVectorRange", "TeamVectorRange", "single", "PerTeam", "PerThread",
    "kernel", "Kernel", "KernelError", "parallel_for", "parallel_reduce", "parallel_scan",
    "Reducer", "Sum", "Prod", "Min", "Max", "MinLoc", "MaxLoc", "LAnd", "LOr",
    *_ATOMICS,
    # tools
    "profiling", "Timer",
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], "kkpy.core"), name)
    raise AttributeError(f"module 'kkpy' has no attribute {name!r}")


def __dir__():
    # dir() and tab completion list the lazy names too, not only those loaded.
    return sorted(set(globals()) | set(__all__))
