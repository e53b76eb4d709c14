"""For library authors: build kernels and drivers, add backends, share kkpy's cache.

What ``numba.extending`` is to numba.  kkpy.sparse is written against
this module and ``kkpy.core`` only.

Kernels
    :func:`kkpy.kernel` and :class:`kkpy.Kernel`, :func:`as_kernel`
    (wrap a plain function), :func:`build_kernel` (a kernel from source text
    with bound globals: one template specialised per user function, disk
    cached) and :func:`build_driver` (a whole driver function, as the
    backends build theirs).
Memory
    :func:`memory_space_of` (where an array lives).
Backends
    :func:`backend`, :func:`register_space`, :func:`register_memory` and
    :class:`MemoryHooks`: see ``kkpy.core._backends``.
Private files
    :func:`private_dir`, :func:`path_problem`, :func:`code_usage`: kkpy's
    private, verified cache directory (see the security docs), for data that
    a library caches; ``compile_stats``, :func:`compile_notices_silenced`
    and :func:`install_numba_cache` for compile notices and numba's cache.

Examples
--------
>>> import numpy as np, kkpy
>>> from kkpy.core import extending
>>> @kkpy.kernel
... def twice(z):
...     return 2 * z
>>> double = extending.build_kernel("def k(i, x):\\n    x[i] = F(x[i])\\n", "k", {"F": twice})
>>> x = np.arange(3.0)
>>> kkpy.parallel_for("double", 3, double, x); x.tolist()
[0.0, 2.0, 4.0]
"""
from ._backends import MemoryHooks, backend, register_memory, register_space
from ._codegen import build_driver, build_kernel
from ._compile_notice import silenced as compile_notices_silenced
from ._compile_notice import stats as compile_stats
from ._kernel import Kernel, as_kernel, kernel
from ._numba_cache import install as install_numba_cache
from ._private import code_usage, private_dir
from ._private import problem as path_problem
from ._private import refuse as refuse_path
from ._views import memory_space_of

__all__ = ["kernel", "Kernel", "as_kernel", "build_kernel", "build_driver", "memory_space_of",
           "backend", "register_space", "register_memory", "MemoryHooks",
           "private_dir", "path_problem", "refuse_path", "code_usage", "compile_stats",
           "compile_notices_silenced", "install_numba_cache"]
