"""The one place that maps an execution space to kkpy.sparse's backend.

Every public function validates its arguments, then asks :func:`on_gpu`:
for a space whose memory is ``CudaSpace`` it calls the function of the same
name in :mod:`kkpy.sparse.cuda`, otherwise it runs the host kernels.  The
Cuda backend is imported only then (by name, through :func:`cuda`), so a
host-only program never loads numba-cuda.

Examples
--------
>>> import kkpy
>>> on_gpu(kkpy.Serial()) is None
True
"""
from __future__ import annotations

import importlib

from kkpy.core import CudaSpace, DefaultExecutionSpace

__all__ = ["on_gpu", "cuda"]


def on_gpu(space):
    """``space`` (None: the default space) if it runs on a GPU, else None.

    A space runs on a GPU when its memory is CudaSpace; asking needs no
    numba-cuda.
    """
    space = space or DefaultExecutionSpace()
    return space if space.memory_space == CudaSpace else None


def cuda():
    """:mod:`kkpy.sparse.cuda`, the Cuda backend (imported on first use)."""
    return importlib.import_module("kkpy.sparse.cuda")
