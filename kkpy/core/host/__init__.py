"""The host backend: ``Serial`` and ``Threads`` patterns as numba CPU functions.

Each pattern is a source template compiled once per kernel (see
:mod:`kkpy.core._codegen`); ``Threads`` compiles it with ``parallel=True``.
"""
from ._patterns import NCHUNK, parallel_for, parallel_reduce, parallel_scan, parallel_scan_final
from .._kernel_typing import return_dtype

__all__ = ["NCHUNK", "parallel_for", "parallel_reduce", "parallel_scan", "parallel_scan_final",
           "return_dtype"]
