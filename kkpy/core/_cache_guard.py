"""Keep numba's disk cache of kkpy's own functions in step with kkpy's sources.

numba keys a cached function on its own source file only.  A kkpy kernel
that calls a helper in another module keeps, in its cache, the machine code
of the helper as it was when the kernel was compiled: edit the helper and
the kernel runs the old one, with no error, until its own file changes.  An
installed kkpy never meets this (installing rewrites every file, and numba
then recompiles all of them), but a development checkout does, and a stale
kernel once made a slower variant look faster.

So kkpy fingerprints its whole source tree:

* :func:`package_digest` (the contents of every ``.py`` file of the
  package) enters the name of every generated driver, so a driver is never
  reused across different kkpy sources;
* :func:`check` runs at import: when the sources differ from those recorded
  at the last import, it removes numba's cache files of kkpy's modules, so
  they are compiled again from the current code.  Those files live in
  kkpy's private folder (see :mod:`~kkpy.core._numba_cache`), beside the
  stamp; nothing outside that folder is ever removed, so a fresh or other
  ``KKPY_CACHE_DIR`` cannot touch another location's cache.

The common case costs one ``stat`` per source file.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os

from . import _numba_cache, _private

_PACKAGE = _numba_cache.PACKAGE
_digest = None


def _sources():
    paths = glob.glob(os.path.join(_PACKAGE, "**", "*.py"), recursive=True)
    return sorted(p for p in paths if "__pycache__" not in p)


def _stat_key(paths):
    h = hashlib.sha1()
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return h.hexdigest()


def package_digest() -> str:
    """A digest of the contents of every source file of the kkpy package."""
    global _digest
    if _digest is None:
        h = hashlib.sha1()
        for p in _sources():
            with open(p, "rb") as fh:
                h.update(os.path.relpath(p, _PACKAGE).encode() + b"\0" + fh.read() + b"\0")
        _digest = h.hexdigest()
    return _digest


def _numba_cache_dirs(root):
    """Where, below ``root``, numba keeps the cache files of kkpy's modules."""
    folders = {os.path.dirname(p) for p in _sources()}
    subpath = _numba_cache.PrivateLocator.get_suitable_cache_subpath
    return [os.path.join(root, subpath(os.path.join(d, "m.py"))) for d in sorted(folders)]


def clear_numba_cache(root):
    """Remove numba's cache files (index and data) of kkpy's modules below ``root``."""
    for d in _numba_cache_dirs(root):
        for pattern in ("*.nbi", "*.nbc"):
            for f in glob.glob(os.path.join(d, pattern)):
                with contextlib.suppress(OSError):
                    os.remove(f)


@contextlib.contextmanager
def _locked(path):
    # Ranks of one MPI job import kkpy together: one checks and clears, the
    # others wait and then find the stamp current.
    with open(path, "a+") as fh:
        try:
            import fcntl
        except ImportError:  # no advisory locks here: races only cost a recompile
            yield fh
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check(root=None):
    """Clear kkpy's numba cache in ``root`` if its sources changed since the stamp there.

    ``root`` defaults to :func:`~kkpy.core._private.code_dir`.  Does nothing
    (and never fails) where the stamp cannot be written.
    """
    root = _private.code_dir() if root is None else root
    if root is None:
        return
    key = hashlib.sha1(_PACKAGE.encode()).hexdigest()[:16]
    path = os.path.join(root, f"sources-{key}.stamp")
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        paths = _sources()
        quick = _stat_key(paths)
        with _locked(path) as fh:
            fh.seek(0)
            old = fh.read().split()
            if old[:1] == [quick]:
                return
            full = package_digest()
            if old[1:2] != [full]:
                clear_numba_cache(root)
            fh.seek(0)
            fh.truncate()
            fh.write(f"{quick}\n{full}\n")
    except OSError:
        pass
