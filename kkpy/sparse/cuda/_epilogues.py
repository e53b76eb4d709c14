""":func:`kkpy.sparse.epilogues.zero_like` in GPU kernels.

The epilogues module registers ``zero_like`` for numba's CPU target only
(it must import without numba-cuda); the Cuda backend adds the GPU form, so
every ready-made epilogue also runs inside the GPU chain's layer kernel.
"""
from numba import types
from numba.core import config

from ..epilogues import zero_like

__all__: list = []

if not config.ENABLE_CUDASIM:  # the simulator runs the plain Python function
    from numba.cuda.extending import overload

    @overload(zero_like, target="cuda")
    def _zero_like(z):
        if isinstance(z, (types.Float, types.Integer)):
            t = z
            return lambda z: t(0)
