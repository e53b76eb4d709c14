"""The Cuda execution space: patterns run as numba-cuda kernels on an NVIDIA GPU.

Importing this package needs ``numba.cuda`` (the ``numba-cuda`` package, the
``gpu`` extra).  With ``NUMBA_ENABLE_CUDASIM=1`` set before numba is first
imported, everything here runs in numba's CUDA simulator instead, which is how
the test suite exercises it on machines without a GPU.

The mapping is Kokkos' own:

* ``RangePolicy`` and ``MDRangePolicy``: one GPU thread per index, in a
  grid-stride loop (an MDRange's last index varies fastest between
  neighbouring threads, so LayoutRight accesses coalesce);
* ``TeamPolicy``: team = thread block, ``team_rank`` = thread index,
  ``team_barrier`` = ``cuda.syncthreads()``, scratch = dynamic shared memory;
* ``parallel_reduce``: a tree in shared memory per block, then one block
  combines the block results in a fixed order, so a result does not change
  from run to run;
* ``parallel_scan``: per-block totals, a scan of those, then per-block scans.

Floating-point results can differ from the host's in the last bit: the GPU
compiler fuses ``a * b + c`` into one fused multiply-add, as nvcc does by
default (and so Kokkos' Cuda backend).

Kernels are the same Python functions the host runs: each is compiled once
more with ``numba.cuda.jit(device=True)`` (``kernel.forms["cuda"]``) and called
from a generated driver kernel, disk-cached like the host drivers.
"""
from __future__ import annotations

try:
    from numba import cuda as _numba_cuda  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("kkpy.Cuda needs numba-cuda: pip install 'kkpy-kokkos[gpu]'") from err

from numba.core import config as _config

from .. import _backends
from . import _team
from ._patterns import (parallel_for, parallel_reduce, parallel_scan, parallel_scan_final,
                        return_dtype)
from ._space import Cuda, is_simulator
from ._views import CudaView, as_device, copy, device_array, fill, view_factory

if not _config.ENABLE_CUDASIM:
    # The compiled team member and nested patterns, GPU atomics and random
    # draws; the simulator
    # runs kernels as Python and has no GPU compiler to extend.
    from . import _atomics, _nested, _random, _team_types  # noqa: F401

__all__ = ["Cuda", "CudaView", "as_device", "copy", "device_array", "fill", "is_simulator",
           "parallel_for", "parallel_reduce", "parallel_scan", "parallel_scan_final",
           "return_dtype"]

_backends.register_space("cuda", Cuda)
_backends.register_memory("CudaSpace", view_factory=view_factory, fill=fill, copy=copy)
del _team
