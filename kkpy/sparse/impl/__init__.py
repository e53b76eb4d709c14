"""Compute kernels of :mod:`kkpy.sparse` (module-level, so their compiled forms are cached).

Nothing here is public: :mod:`kkpy.sparse` decides which kernel runs and imports
the modules it needs.
"""
__all__: list[str] = []
