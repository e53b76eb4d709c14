"""kkpy.sparse's Cuda backend: GPU matrices, operations and the SpGEMM chain.

The public functions of :mod:`kkpy.sparse` come here (through
:mod:`kkpy.sparse._dispatch`) when their ``space`` is a Cuda space; results
stay in GPU memory as :class:`DeviceCrs`.  Importing this package imports
numba-cuda.

- :class:`DeviceCrs`: a CRS matrix in GPU memory (``DeviceCrs.from_host``,
  ``to_host``).
- :class:`CudaChain`: a chain's matrices uploaded once, what
  ``kkpy.sparse.prepare_chain(mats, space=kkpy.Cuda())`` returns.
- SpGEMM, SpAdd and SpMV (:mod:`._ops`) are kkpy kernels, the chain's
  products (:mod:`._chain`) numba-cuda kernels; :mod:`._entries` holds what
  the public entries do on the GPU side.
"""
from . import _epilogues  # noqa: F401  (zero_like in GPU kernels)
from ._chain import CudaChain
from ._chain import run as run_chain
from ._crs import DeviceCrs
from ._entries import spadd, spadd_numeric, spadd_symbolic, spgemm, spgemm_numeric, \
    spgemm_symbolic, spmv

__all__ = ["DeviceCrs", "CudaChain", "run_chain", "spgemm_symbolic", "spgemm_numeric", "spgemm",
           "spadd_symbolic", "spadd_numeric", "spadd", "spmv"]
