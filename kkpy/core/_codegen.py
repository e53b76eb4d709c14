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
same source compiled in memory, without the disk cache; so does every kernel
when kkpy has no private cache directory (see :mod:`~kkpy.core._private`).

A driver file found on disk is never imported as it is: its bytes are
compared with the source kkpy would write, a mismatch is rewritten
atomically, and the module is executed from the verified text (so no
``.pyc`` beside it is ever read either).
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
import types

import numba

from . import _private
from ._cache_guard import package_digest

__all__ = ["cache_dir", "build_driver"]

_VERSION = "1"  # bump when templates change incompatibly
_lock = threading.Lock()
_memo: dict = {}


def cache_dir():
    """kkpy's private cache directory (see :mod:`~kkpy.core._private`), or None."""
    return _private.private_dir()


def drivers_dir():
    """Where the generated drivers live, or None (then they are compiled in memory)."""
    return _private.private_dir("drivers")


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


# Source digests by (path, mtime, size): a file is hashed once per change.
_DIGESTS: dict = {}


def _file_digest(path):
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    digest = _DIGESTS.get(key)
    if digest is None:
        with open(path, "rb") as fh:
            digest = hashlib.sha1(fh.read()).hexdigest()
        _DIGESTS[key] = digest
    return digest


def _verified(path, text):
    """Make ``path`` hold exactly ``text``: kept if it does, else replaced atomically.

    Concurrent writers (MPI ranks) write identical bytes, so any winner is right.
    """
    data = text.encode()
    try:
        with open(path, "rb") as fh:
            if fh.read(len(data) + 1) == data:
                return
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _drivers_package():
    """Make generated modules importable as ``kkpy_drivers.<name>``.

    Generated kernels (see :func:`build_kernel`) are called from generated
    drivers, which import them by name.  Each is put in ``sys.modules``
    when kkpy builds it; the package has no search path, so Python never
    imports a file from the cache folder by itself.
    """
    pkg = sys.modules.get("kkpy_drivers")
    if pkg is None:
        pkg = types.ModuleType("kkpy_drivers")
        pkg.__path__ = []
        sys.modules["kkpy_drivers"] = pkg
    return pkg


def _load(modname, path, text):
    """Execute ``text`` (already verified to be ``path``'s content) as module ``modname``."""
    module = sys.modules.get(modname)
    if module is None:
        module = types.ModuleType(modname)
        module.__file__ = path
        code = compile(text, path, "exec")  # numba finds the file, and its cache, by this name
        sys.modules[modname] = module
        try:
            exec(code, module.__dict__)
        except BaseException:
            del sys.modules[modname]
            raise
    return module


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
        folder = drivers_dir()
        try:
            if folder is None:
                raise OSError("no private cache directory")
            path = os.path.join(folder, f"kkdrv_{digest}.py")
            _verified(path, text)
        except OSError:
            importable = False  # no safe or writable folder: an in-memory driver
        else:
            _drivers_package()
            return getattr(_load(f"kkpy_drivers.kkdrv_{digest}", path, text), func_name)
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

