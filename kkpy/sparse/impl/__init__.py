"""Portable kernels of :mod:`kkpy.sparse`: written in kkpy's model, run on any space.

Each is a module-level ``@kernel``, so its compiled forms are cached, and
the host and the Cuda backend both launch it: row work (:mod:`._flops`),
the values scans turn into offsets (:mod:`._common`), thread-per-row SpMV
(:mod:`._spmv_kernels`) and the structure hash (:mod:`._fingerprint_kernels`).
CPU-only kernels live in :mod:`kkpy.sparse.host`, GPU-only ones in
:mod:`kkpy.sparse.cuda`.  Nothing here is public: :mod:`kkpy.sparse`
decides which kernel runs.
"""
__all__: list[str] = []
