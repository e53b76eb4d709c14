"""Binary cache of parsed challenge files, so reruns skip the text.

Each parsed file is stored as a directory of ``.npy`` arrays (CSR
``indptr``, ``indices``, ``data`` and the ``shape``) in the cache directory:
``KKPY_CACHE_DIR`` if set, else ``~/.cache/kkpy``.  The entry's name holds a
hash of the file's real path and of how it was parsed, then the file's
size and modification time, so an edited or replaced file never matches a
stale entry.  Entries are built in a temporary directory and renamed into
place in one step: MPI ranks that start together see a whole entry or
none, and the loser of a race simply discards its copy.  ``.npy`` rather
than ``.npz`` so that a rank can memory-map the arrays and copy out only
its own rows.

Caching is best effort: an unwritable cache directory only costs speed.
"""

import contextlib
import hashlib
import os
import secrets
import shutil

import numpy as np
import scipy.sparse

__all__ = ["cache_root", "stat_key", "load", "store"]

# Bump when the entry layout or the parse result changes.
FORMAT = 1
_ARRAYS = ("indptr", "indices", "data", "shape")


def cache_root(cache=True):
    """The cache directory for a ``cache`` argument, or None for no cache.

    Parameters
    ----------
    cache : bool or path
        True: ``KKPY_CACHE_DIR`` or ``~/.cache/kkpy``; False: none; a path:
        that directory (e.g. the data directory, to keep the cache beside
        the data).

    Examples
    --------
    >>> cache_root(False) is None, cache_root("/tmp/c")
    (True, '/tmp/c')
    """
    if cache is False or cache is None:
        return None
    if cache is not True:
        return os.fspath(cache)
    return os.environ.get("KKPY_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "kkpy")


def stat_key(path):
    """The file state an entry is valid for: size and mtime in ns."""
    st = os.stat(path)
    return f"{st.st_size}-{st.st_mtime_ns}"


def _prefix(path, how):
    real = os.path.realpath(path)
    digest = hashlib.sha256(f"{FORMAT}\0{real}\0{how}".encode()).hexdigest()[:16]
    return f"{os.path.basename(real)}.{digest}."


def load(root, path, how, rows=None):
    """The cached CSR matrix for ``path`` parsed ``how``, or None.

    Parameters
    ----------
    root : str or None
        Cache directory (None: no cache).
    path : str
        The source file; its current size and mtime select the entry.
    how : str
        Describes the parse (shape, dtypes), part of the key.
    rows : tuple of int, optional
        Only rows ``[start, stop)``; the rest stays on disk (memory-mapped).
    """
    if root is None:
        return None
    entry = os.path.join(root, _prefix(path, how) + stat_key(path))
    try:
        mmap = None if rows is None else "r"
        indptr, indices, data, shape = (
            np.load(os.path.join(entry, f"{a}.npy"), mmap_mode=mmap if a in ("indices", "data")
                    else None) for a in _ARRAYS)
    except (OSError, ValueError):
        return None
    shape = tuple(int(x) for x in shape)
    if rows is not None:
        start = min(rows[0], shape[0])
        stop = max(start, min(rows[1], shape[0]))
        lo, hi = int(indptr[start]), int(indptr[stop])
        indices, data = np.array(indices[lo:hi]), np.array(data[lo:hi])
        indptr = indptr[start:stop + 1] - indptr[start]
        shape = (stop - start, shape[1])
    return scipy.sparse.csr_array((data, indices, indptr), shape=shape)


def store(root, path, how, matrix, key):
    """Save ``matrix`` as the entry for ``path`` if it has not changed.

    ``key`` is :func:`stat_key` from before the file was parsed: if the
    file changed while being read, nothing is stored.  Errors (read-only or full disk) are ignored.
    """
    if root is None:
        return
    with contextlib.suppress(OSError):
        if stat_key(path) != key:
            return
        prefix = _prefix(path, how)
        entry = os.path.join(root, prefix + key)
        if os.path.isdir(entry):
            return
        os.makedirs(root, exist_ok=True)
        tmp = os.path.join(root, f".tmp-{os.getpid()}-{secrets.token_hex(4)}")
        os.mkdir(tmp)
        try:
            arrays = (matrix.indptr, matrix.indices, matrix.data, np.array(matrix.shape))
            for name, a in zip(_ARRAYS, arrays):
                np.save(os.path.join(tmp, f"{name}.npy"), a)
            os.rename(tmp, entry)  # atomic; fails if another process won
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        # Entries of earlier versions of the file can never match again.
        for name in os.listdir(root):
            if name.startswith(prefix) and name != prefix + key:
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
