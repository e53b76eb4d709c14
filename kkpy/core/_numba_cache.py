"""numba's disk cache of kkpy's own functions, kept in kkpy's private directory.

By default numba writes a cached function's files into ``__pycache__`` next
to its source, that is into the installed package.  That fails on a
read-only install (and then numba refuses to compile at all), and on a
writable one it leaves files pip does not know about: uninstalling kkpy
kept a ``site-packages/kkpy`` folder of them that then shadowed an editable
install.  numba's index files are pickles, so their folder is also a way
to run code as whoever loads them.

:class:`PrivateLocator` takes the cache of every function defined in
kkpy's package or in its generated drivers and puts it in
:func:`~kkpy.core._private.code_dir`.  It goes first in numba's list of
locators and declines every other file, so users' own functions are cached
where numba always puts them.  (``NUMBA_CACHE_DIR`` applies to users'
functions only; ``NUMBA_CACHE_LOCATOR_CLASSES``, which replaces numba's
whole list, still wins.)
"""
from __future__ import annotations

import os
import sys

from numba.core import caching

from . import _private

__all__ = ["PrivateLocator", "install", "owns", "PACKAGE"]

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def owns(py_file) -> bool:
    """Whether ``py_file`` is kkpy's: in its package, or a generated driver."""
    path = os.path.abspath(py_file)
    if path.startswith(PACKAGE + os.sep):
        return True
    name = os.path.basename(path)
    return name.startswith("kkdrv_") and os.path.basename(os.path.dirname(path)) == "drivers"


class PrivateLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba cache locator for kkpy's functions: a folder of :func:`_private.code_dir`."""

    def __init__(self, py_func, py_file, root):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(root, self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    def ensure_cache_path(self):
        os.makedirs(self._cache_path, mode=0o700, exist_ok=True)

    @classmethod
    def from_function(cls, py_func, py_file):
        if not owns(py_file) or not os.path.exists(py_file):
            return None
        root = _private.code_dir()
        if root is None:  # no safe folder anywhere: numba's own rules apply
            return None
        self = cls(py_func, py_file, root)
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


def _impl_classes():
    names = ("numba.core.caching", "numba.cuda.core.caching",
             "numba_cuda.numba.cuda.core.caching")
    for name in names:
        module = sys.modules.get(name)
        impl = getattr(module, "CacheImpl", None) or getattr(module, "_CacheImpl", None)
        if impl is not None and hasattr(impl, "_locator_classes"):
            yield impl


def install():
    """Put ``PrivateLocator`` first in numba's locators (again after numba-cuda loads)."""
    for impl in _impl_classes():
        if PrivateLocator not in impl._locator_classes:
            impl._locator_classes = [PrivateLocator, *impl._locator_classes]


install()
