"""kkpy.core: the Kokkos programming model on numba.

Execution and memory spaces, Views and their mirrors, Range / MDRange /
Team policies, ``parallel_for`` / ``parallel_reduce`` / ``parallel_scan``,
reducers, atomics, team ranges, ``BinSort`` / ``sort`` and random-number pools.
:mod:`kkpy` re-exports every name here;
library authors who build kernels or backends of their own use
:mod:`kkpy.core.extending`.

Backends live in their own packages, :mod:`kkpy.core.host` (``Serial``,
``Threads``) and :mod:`kkpy.core.cuda` (``Cuda``); the core modules reach
them only through the registry in :mod:`kkpy.core._backends`, so nothing
here imports numba-cuda until a program asks for ``Cuda``.

Examples
--------
>>> import numpy as np
>>> from kkpy import core
>>> @core.kernel
... def iota(i, v):
...     v[i] = i
>>> v = core.View("v", 4)
>>> core.parallel_for("iota", core.RangePolicy(core.Serial(), 0, 4), iota, v)
>>> v.tolist()
[0.0, 1.0, 2.0, 3.0]
"""
from . import _cache_guard, _openmp  # noqa: F401  (_openmp: before any parallel region)

# Before anything compiles: a development checkout whose sources changed gets
# kkpy's numba cache cleared, since numba would keep stale inlined helpers.
# (Importing the guard also routes that cache into kkpy's private folder.)
_cache_guard.check()

from ._spaces import (  # noqa: E402
    CudaSpace, DefaultExecutionSpace, DefaultHostExecutionSpace, ExecutionSpace, HostSpace,
    MemorySpace, ScopeGuard, Serial, Threads, fence, finalize, initialize, is_initialized,
    space_from_name,
)
from ._views import (  # noqa: E402
    ALL, LayoutLeft, LayoutRight, LayoutStride, View, create_mirror, create_mirror_view,
    create_mirror_view_and_copy, deep_copy, subview,
)
from ._policies import AUTO, MDRangePolicy, RangePolicy, TeamPolicy  # noqa: E402
from ._kernel import Kernel, kernel  # noqa: E402
from ._reducers import LAnd, LOr, Max, MaxLoc, Min, MinLoc, Prod, Reducer, Sum  # noqa: E402
from ._patterns import KernelError, parallel_for, parallel_reduce, parallel_scan  # noqa: E402
from ._nested import PerTeam, PerThread, single  # noqa: E402
from ._random import (  # noqa: E402
    RandomPool, Random_XorShift64_Pool, drand, fill_random, normal, rand_uint64,
)

_ATOMICS = ("atomic_add", "atomic_fetch_add", "atomic_sub", "atomic_fetch_sub", "atomic_min",
           "atomic_max", "atomic_fetch_min", "atomic_fetch_max", "atomic_compare_exchange",
           "atomic_exchange", "atomic_load", "atomic_store")
# Names resolved on first use: Cuda imports numba-cuda; the atomics and team
# ranges register numba overloads, which costs import time (BinSort's kernels
# use the atomics).
_LAZY = {"Cuda": ".cuda", **dict.fromkeys(_ATOMICS, "._atomics"),
         **dict.fromkeys(("TeamThreadRange", "ThreadVectorRange", "TeamVectorRange"), "._team"),
         **dict.fromkeys(("BinSort", "BinOp1D", "BinOp3D", "sort"), "._binsort")}

__all__ = [
    "Serial", "Threads", "Cuda", "ExecutionSpace", "DefaultExecutionSpace",
    "DefaultHostExecutionSpace", "MemorySpace", "HostSpace", "CudaSpace", "ScopeGuard",
    "initialize", "finalize", "is_initialized", "fence", "space_from_name",
    "View", "LayoutLeft", "LayoutRight", "LayoutStride", "ALL", "subview", "deep_copy",
    "create_mirror", "create_mirror_view", "create_mirror_view_and_copy",
    "RangePolicy", "MDRangePolicy", "TeamPolicy", "AUTO",
    "TeamThreadRange", "ThreadVectorRange", "TeamVectorRange", "single", "PerTeam", "PerThread",
    "kernel", "Kernel", "KernelError", "parallel_for", "parallel_reduce", "parallel_scan",
    "Reducer", "Sum", "Prod", "Min", "Max", "MinLoc", "MaxLoc", "LAnd", "LOr",
    *_ATOMICS, "BinSort", "BinOp1D", "BinOp3D", "sort",
    "Random_XorShift64_Pool", "RandomPool", "rand_uint64", "drand", "normal", "fill_random",
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
