"""GPU forms of ``kkpy.rand_uint64`` / ``drand`` / ``normal``: the host's bodies, for numba-cuda.

The algorithm and its interpreter and CPU forms live in
:mod:`kkpy.core._random`; this module compiles the same Python bodies as
inlined device functions and registers them for numba-cuda's ``cuda``
target, so one kernel source draws the same numbers on Threads and Cuda.
"""
from __future__ import annotations

from numba import cuda
from numba.cuda.extending import overload

from .. import _random

__all__: list = []


def _device(func):
    return cuda.jit(device=True, inline="always")(func)


_random.register("cuda", _device, overload)
