"""The backend registry: which package runs each backend, and which owns each memory space.

Kokkos keeps each backend in its own folder and lets it register itself;
so does kkpy.  The core modules (spaces, Views, patterns) name backends
only as strings here and never import a backend's module: the host one is
imported on the first launch, and the Cuda one, which needs numba-cuda,
only when a program asks for ``kkpy.Cuda`` or ``CudaSpace``.  A backend
package registers its execution space and its memory space's hooks
(View factory, fill, copy) when it is imported.

Examples
--------
>>> from kkpy.core import _backends
>>> _backends.backend("host").__name__
'kkpy.core.host'
"""
from __future__ import annotations

import importlib
from typing import Callable, NamedTuple

__all__ = ["backend", "MemoryHooks", "memory_hooks", "register_memory", "register_space",
           "space_class"]

# Backend name (an execution space's ``backend``) -> the package that runs it.
_PACKAGES = {"host": "kkpy.core.host", "cuda": "kkpy.core.cuda"}
# Names of spaces and memory spaces that a backend package defines when imported.
_SPACE_OWNERS = {"cuda": "cuda"}
_MEMORY_OWNERS = {"CudaSpace": "cuda"}

_spaces: dict = {}
_memory: dict = {}
_loaded: dict = {}


class MemoryHooks(NamedTuple):
    """What a device memory space supplies: allocation, fill and copy."""

    view_factory: Callable
    fill: Callable
    copy: Callable


def backend(name: str):
    """The package that runs backend ``name`` (imported on first use)."""
    module = _loaded.get(name)
    if module is None:
        try:
            package = _PACKAGES[name]
        except KeyError:
            raise ValueError(f"unknown backend {name!r}; known: {sorted(_PACKAGES)}") from None
        module = _loaded[name] = importlib.import_module(package)
    return module


def register_space(name: str, cls) -> None:
    """Make execution space ``cls`` selectable by ``name`` (a backend calls this on import)."""
    _spaces[name.lower()] = cls


def space_class(name: str):
    """The execution space class registered as ``name``, importing its backend if needed; or None."""
    key = name.lower()
    if key not in _spaces and key in _SPACE_OWNERS:
        backend(_SPACE_OWNERS[key])
    return _spaces.get(key)


def space_names():
    """Every name :func:`space_class` answers, loaded or not."""
    return sorted(set(_spaces) | set(_SPACE_OWNERS))


def register_memory(name: str, *, view_factory, fill, copy) -> None:
    """Register device memory space ``name``'s hooks (a backend calls this on import)."""
    _memory[name] = MemoryHooks(view_factory, fill, copy)


def memory_hooks(space) -> MemoryHooks:
    """The hooks of device memory space ``space`` (a MemorySpace), importing its backend."""
    hooks = _memory.get(space.name)
    if hooks is None:
        owner = _MEMORY_OWNERS.get(space.name)
        if owner is None:
            raise ValueError(f"no backend provides memory space {space.name}")
        backend(owner)
        hooks = _memory[space.name]
    return hooks
