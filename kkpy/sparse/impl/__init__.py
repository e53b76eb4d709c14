"""Compute kernels of :mod:`kkpy.sparse` (module-level, so their compiled forms are cached)."""
