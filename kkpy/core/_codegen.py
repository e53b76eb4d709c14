"""Generate pattern drivers as real source files so numba can cache them on disk.

A driver is the loop that calls a user kernel (``for i in prange(b, e):
kernel(i, ...)``).  numba caches a function by its source file, and it cannot
cache a function that receives another compiled function as an argument.  So
for every (kernel, pattern, policy shape, argument count) we write a tiny
module whose globals name the kernel by import, and let numba cache it like
any other file.  The file name is a hash of everything the generated code
depends on, including the *whole source file* of the kernel and the whole
of kkpy's sources (see ``_cache_guard``): editing the kernel, a helper beside
it, or any part of kkpy gives a new driver and never a stale one.

Kernels that cannot be imported by name (closures, doctests, the REPL) get the
same source compiled in memory, without the disk cache.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
import threading

import numba

from ._cache_guard import package_digest

__all__ = ["cache_dir", "build_driver"]

_VERSION = "1"  # bump when templates change incompatibly
_lock = threading.Lock()
_memo: dict = {}


def cache_dir() -> str:
    """Where generated drivers live: ``KKPY_CACHE_DIR`` or ``~/.cache/kkpy``."""
    root = os.environ.get("KKPY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "kkpy")
    return root


def drivers_dir() -> str:
    """Where compiled code's files live: the generated drivers and kkpy's source stamp."""
    return os.path.join(cache_dir(), "drivers")


def _import_line(alias, obj):
    """Return ``from module import name as alias`` if ``obj`` is importable by name, else None."""
    func = getattr(obj, "py_func", obj)
    modname = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    module = sys.modules.get(modname)
    path = getattr(module, "__file__", None)
    if module is None or not path or "<" in qualname or not os.path.isfile(path):
        return None, None
    target = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if target is not obj and target is not func and getattr(target, "py_func", None) is not func:
        return None, None
    head, _, tail = qualname.partition(".")
    if tail:  # a method or nested attribute: import the head, then walk
        line = f"from {modname} import {head} as _h_{alias}\n{alias} = _h_{alias}.{tail}"
    else:
        line = f"from {modname} import {head} as {alias}"
    return line, path


def _file_digest(path, _seen={}):
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    digest = _seen.get(key)
    if digest is None:
        with open(path, "rb") as fh:
            digest = hashlib.sha1(fh.read()).hexdigest()
        _seen[key] = digest
    return digest


def _write_once(path, text):
    """Create ``path`` with ``text`` atomically; concurrent writers (MPI ranks) are harmless."""
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        try:
            # link() fails if another process won the race; its file is identical,
            # and keeping the first one keeps numba's cache stamp stable.
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            os.replace(tmp, path)
            tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _drivers_package():
    """Make generated modules importable as ``kkpy_drivers.<name>``.

    Generated kernels (see :func:`build_kernel`) are called from generated
    drivers, which import them by name; a package whose path is the cache
    folder lets that import work in any process.
    """
    pkg = sys.modules.get("kkpy_drivers")
    if pkg is None:
        import types

        pkg = types.ModuleType("kkpy_drivers")
        pkg.__path__ = [drivers_dir()]
        sys.modules["kkpy_drivers"] = pkg
    return pkg


def build_kernel(source: str, func_name: str, bindings: dict, *, fastmath=False,
                 slp_vectorize: bool = False):
    """Build a :class:`~kkpy.core._kernel.Kernel` from source with ``bindings`` as globals.

    This is the kernel-factory form of :func:`build_driver`: libraries use it
    to specialise one kernel template for a user's function (for example an
    SpGEMM epilogue), while keeping numba's disk cache.  ``fastmath`` and
    ``slp_vectorize`` are as in :func:`kkpy.kernel`.
    """
    from ._kernel import Kernel, _fastmath_flags

    fastmath = _fastmath_flags(fastmath)
    key = ("kernel", source, func_name, tuple(sorted((k, id(v)) for k, v in bindings.items())),
           fastmath, slp_vectorize)
    hit = _memo.get(key)
    if hit is None:
        with _lock:
            hit = _memo.get(key)
            if hit is None:
                func = _build(source, func_name, bindings, False, fastmath, "kernel",
                              decorate=False)
                hit = _memo[key] = (Kernel(func, fastmath=fastmath,
                                           slp_vectorize=slp_vectorize), bindings)
    return hit[0]


def build_driver(source: str, func_name: str, bindings: dict, *, parallel: bool,
                 fastmath: bool = False, target: str = "host"):
    """Compile ``source`` (defining ``func_name``) with ``bindings`` as its globals.

    Parameters
    ----------
    source : str
        Python source of the driver body (without imports of the bindings).
    func_name : str
        The function in ``source`` to return.
    bindings : dict
        Global name -> object (kernels, reducer joins) the source refers to.
    parallel : bool
        Compile with ``parallel=True`` (``prange`` becomes threads).
    target : str
        ``"host"`` compiles with ``numba.njit``; other backends pass their own
        prelude in ``source`` and ``target`` only enters the cache key.
    """
    key = (source, func_name, tuple(sorted((k, id(v)) for k, v in bindings.items())),
           parallel, fastmath, target)
    hit = _memo.get(key)
    if hit is not None:
        return hit
    with _lock:
        hit = _memo.get(key)
        if hit is None:
            hit = _build(source, func_name, bindings, parallel, fastmath, target)
            _memo[key] = hit
    return hit


def _build(source, func_name, bindings, parallel, fastmath, target, decorate=True):
    header = ["import numpy as np", "import numba", "from numba import prange"]
    if "make_team_member" in source:
        header.append("from kkpy.core._team import make_team_member")
    digests = [_VERSION, numba.__version__, package_digest(), target, str(parallel),
               str(fastmath), source]
    importable = not numba.config.DISABLE_JIT
    for alias, obj in sorted(bindings.items()):
        line, path = _import_line("_o_" + alias, obj)
        if line is None:
            importable = False
            break
        header.append(line)
        header.append(f"{alias} = _as_kernel(_o_{alias}).host")
        digests.append(line)
        digests.append(_file_digest(path))
    # a set of flags is written as a sorted list so the source (and its hash) is stable
    fm = f"set({list(fastmath)!r})" if isinstance(fastmath, tuple) else str(fastmath)
    decorator = (f"@numba.njit(cache={importable}, parallel={parallel}, "
                 f"fastmath={fm}, nogil=True)")
    if not decorate:
        decorator = ""
    body = source.replace("@DRIVER", decorator)
    if importable:
        header.insert(0, "from kkpy.core._kernel import as_kernel as _as_kernel")
        text = "\n".join(header) + "\n\n" + body + "\n"
        digest = hashlib.sha1("\0".join(digests).encode()).hexdigest()[:20]
        path = os.path.join(drivers_dir(), f"kkdrv_{digest}.py")
        try:
            _write_once(path, text)
        except OSError:
            importable = False  # read-only home: fall back to an in-memory driver
        else:
            _drivers_package()
            modname = f"kkpy_drivers.kkdrv_{digest}"
            module = sys.modules.get(modname)
            if module is None:
                spec = importlib.util.spec_from_file_location(modname, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules[modname] = module
            return getattr(module, func_name)
    from ._kernel import as_kernel

    namespace = {"np": __import__("numpy"), "numba": numba, "prange": numba.prange}
    if "make_team_member" in source:
        from ._team import make_team_member

        namespace["make_team_member"] = make_team_member
    for alias, obj in bindings.items():
        namespace[alias] = as_kernel(obj).host
    body = source.replace("@DRIVER", decorator.replace("cache=True", "cache=False")
                          if decorate else "")
    exec(compile(body, f"<kkpy driver {func_name}>", "exec"), namespace)
    return namespace[func_name]


def source_of(obj) -> str:
    """Source text of a kernel, for error messages."""
    try:
        return inspect.getsource(getattr(obj, "py_func", obj))
    except (OSError, TypeError):
        return ""
