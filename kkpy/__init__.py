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
from . import core  # first: it routes numba's cache to kkpy's private folder
from . import profiling  # noqa: E402
from .core import _atomics as _atomics  # noqa: E402  (registers the atomics' overloads)
from .profiling import Timer  # noqa: E402

# The programming model is kkpy.core's face; its lazy names (Cuda, which
# imports numba-cuda, atomics, team ranges) stay lazy here: see __getattr__.
globals().update({name: getattr(core, name) for name in core.__all__
                  if name not in core._LAZY})

from ._version import __version__  # noqa: E402

__all__ = [*core.__all__, "profiling", "Timer"]


def __getattr__(name):
    if name in core.__all__:
        return getattr(core, name)  # the lazy ones: Cuda, atomics, team ranges
    raise AttributeError(f"module 'kkpy' has no attribute {name!r}")


def __dir__():
    # dir() and tab completion list the lazy names too, not only those loaded.
    return sorted(set(globals()) | set(__all__))
