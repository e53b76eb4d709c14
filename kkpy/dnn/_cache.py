"""Binary cache of parsed challenge files, so reruns skip the text.

Each parsed file is stored as a directory of ``.npy`` arrays (CSR
``indptr``, ``indices``, ``data``) and a ``meta.json`` in the ``data``
folder of kkpy's private cache directory (see :mod:`kkpy.core.extending`:
``KKPY_CACHE_DIR``, ``$XDG_CACHE_HOME/kkpy`` or ``~/.cache/kkpy``, owned by
the user and closed to others).  ``.npy`` rather than ``.npz`` so that a
rank can memory-map the arrays and read only its own rows.

What makes an entry trustworthy:

* **Key.** The entry's name holds a hash of the file's real path and of how
  it was parsed, then a hash of the file's identity: device, inode, size,
  modification and status-change times in ns.  Editing a file, or copying
  another over it with ``cp -p``, changes its ctime, which no user can set
  back, so a stale entry never matches.
* **Checksums.** ``meta.json`` holds the SHA-256 of every 4 MiB block of
  each array; a load verifies the blocks it reads (all of them, or those of
  a row range).  The structure is checked too: ``indptr`` starts at 0,
  never decreases and ends at nnz, indices lie in range, the shape is the
  one expected.  A corrupt entry is removed and the file parsed again,
  never a crash or a wrong answer.
* **Permissions.** Entries are readable by whom the source file is
  readable by (a 0600 file gives 0600 entries).
* **Size.** At most ``KKPY_CACHE_MAX`` bytes (default 4 GiB; a number with
  an optional K, M, G or T); the least recently used entries are evicted
  first.  ``kkpy-dnn cache --info`` shows it, ``--clear`` empties it.

Entries are built in a temporary directory and renamed into place in one
step: MPI ranks that start together see a whole entry or none, and the
loser of a race simply discards its copy.  Caching is best effort: an
unwritable or unsafe cache directory only costs speed.
"""

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import time

import numpy as np
import scipy.sparse

from ..core import extending

__all__ = ["cache_root", "stat_key", "load", "store", "usage", "clear", "max_bytes", "command"]

# Bump when the entry layout or the parse result changes.
FORMAT = 2
_ARRAYS = ("indptr", "indices", "data")
_BLOCK = 1 << 22  # bytes per checksummed block: a row range verifies only what it reads
_ENTRY = re.compile(r".+\.[0-9a-f]{16}\.[0-9a-f]{24}$")
_DEFAULT_MAX = 4 << 30


def cache_root(cache=True):
    """The cache directory for a ``cache`` argument, or None for no cache.

    Parameters
    ----------
    cache : bool or path
        True: the ``data`` folder of kkpy's private cache directory; False:
        none; a path: that directory (created 0700 if missing).  A
        directory that others can write into, or that another user owns, is
        not used (one warning).

    Examples
    --------
    >>> cache_root(False) is None
    True
    """
    if cache is False or cache is None:
        return None
    if cache is True:
        return extending.private_dir("data")
    path = os.path.abspath(os.fspath(cache))
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        return None
    why = extending.path_problem(path)
    return path if why is None else extending.refuse_path(path, why, "parsing without a cache")


def stat_key(path):
    """The identity of the file's current state: device, inode, size, mtime and ctime."""
    st = os.stat(path)
    ident = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def _prefix(path, how):
    real = os.path.realpath(path)
    digest = hashlib.sha256(f"{FORMAT}\0{real}\0{how}".encode()).hexdigest()[:16]
    return f"{os.path.basename(real)}.{digest}."


def _digests(a, lo=0, hi=None):
    """SHA-256 of the blocks of ``a``'s bytes (as a 1-d array) that elements [lo, hi) touch."""
    per = max(1, _BLOCK // a.itemsize)
    hi = len(a) if hi is None else hi
    first, last = lo // per, -(-hi // per) if hi > lo else lo // per
    return [hashlib.sha256(memoryview(np.ascontiguousarray(a[b * per:(b + 1) * per]))
                           .cast("B")).hexdigest() for b in range(first, last)], first


class _Corrupt(Exception):
    pass


def _check(ok, what):
    if not ok:
        raise _Corrupt(what)


def _read_entry(entry, rows, shape):
    with open(os.path.join(entry, "meta.json"), "rb") as fh:
        meta = json.loads(fh.read(1 << 20))
    _check(isinstance(meta, dict) and meta.get("format") == FORMAT, "format")
    full = tuple(meta["shape"])
    _check(len(full) == 2 and all(type(x) is int and 0 <= x < 2 ** 62 for x in full), "shape")
    _check(shape is None or all(e is None or e == g for e, g in zip(shape, full)), "shape")
    # Memory-mapped first: a header that claims more than its file holds
    # fails here, before anything is allocated.
    arrays = {a: np.load(os.path.join(entry, f"{a}.npy"), mmap_mode="r", allow_pickle=False)
              for a in _ARRAYS}
    for a in _ARRAYS:
        v = arrays[a]
        _check(v.ndim == 1 and v.dtype.isnative and v.dtype.str == meta["dtypes"][a], a)
    arrays["indptr"] = np.array(arrays["indptr"])
    indptr, indices, data = (arrays[a] for a in _ARRAYS)
    _check(indptr.dtype.kind == "i" and indices.dtype.kind == "i" and data.dtype.kind == "f",
           "dtypes")
    nnz = len(indices)
    _check(len(indptr) == full[0] + 1 and len(data) == nnz, "lengths")
    _check(_digests(indptr)[0] == meta["sha256"]["indptr"], "indptr checksum")
    _check(indptr[0] == 0 and indptr[-1] == nnz and bool(np.all(indptr[1:] >= indptr[:-1])),
           "indptr")
    if rows is None:
        start, stop, lo, hi = 0, full[0], 0, nnz
    else:
        start = min(max(rows[0], 0), full[0])
        stop = max(start, min(rows[1], full[0]))
        lo, hi = int(indptr[start]), int(indptr[stop])
    for a in ("indices", "data"):
        got, first = _digests(arrays[a], lo, hi)
        _check(got == meta["sha256"][a][first:first + len(got)], f"{a} checksum")
    indices, data = np.array(indices[lo:hi]), np.array(data[lo:hi])
    _check(hi == lo or (indices.min() >= 0 and indices.max() < full[1]), "indices")
    indptr = indptr[start:stop + 1] - indptr[start]
    return scipy.sparse.csr_array((data, indices, indptr), shape=(stop - start, full[1]))


def load(root, path, how, rows=None, shape=None):
    """The cached CSR matrix for ``path`` parsed ``how``, or None.

    Parameters
    ----------
    root : str or None
        Cache directory (None: no cache).
    path : str
        The source file; its current identity (:func:`stat_key`) selects the entry.
    how : str
        Describes the parse (shape, dtypes), part of the key.
    rows : tuple of int, optional
        Only rows ``[start, stop)``; the rest stays on disk (memory-mapped).
    shape : tuple, optional
        The shape expected, None for any length along an axis.

    A corrupt entry is removed (and None returned), so the caller parses
    the file and stores a sound entry in its place.
    """
    if root is None:
        return None
    try:
        entry = os.path.join(root, _prefix(path, how) + stat_key(path))
    except OSError:
        return None
    if not os.path.isdir(entry):
        return None
    try:
        m = _read_entry(entry, rows, shape)
    except Exception:  # noqa: BLE001  (any damage, even in a .npy header, means rebuild)
        _remove(entry)
        return None
    with contextlib.suppress(OSError):
        os.utime(os.path.join(entry, "meta.json"))  # recently used: evicted last
    return m


def _remove(entry):
    """Remove an entry: renamed aside first, so a reader sees it whole or not at all."""
    aside = os.path.join(os.path.dirname(entry), f".tmp-{os.getpid()}-{secrets.token_hex(4)}")
    with contextlib.suppress(OSError):
        os.rename(entry, aside)
        shutil.rmtree(aside, ignore_errors=True)


def _modes(path):
    """File and folder modes for an entry of ``path``: readable by whom the file is."""
    read = os.stat(path).st_mode & 0o044
    return 0o600 | read, 0o700 | read | (read >> 2)


def store(root, path, how, matrix, key):
    """Save ``matrix`` as the entry for ``path`` if it has not changed.

    ``key`` is :func:`stat_key` from before the file was parsed: if the
    file changed while being read, nothing is stored.  Errors (read-only or
    full disk) are ignored.
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
        file_mode, dir_mode = _modes(path)
        tmp = os.path.join(root, f".tmp-{os.getpid()}-{secrets.token_hex(4)}")
        os.mkdir(tmp, 0o700)
        try:
            arrays = dict(zip(_ARRAYS, (matrix.indptr, matrix.indices, matrix.data)))
            meta = {"format": FORMAT, "shape": [int(x) for x in matrix.shape],
                    "dtypes": {a: v.dtype.str for a, v in arrays.items()},
                    "sha256": {a: _digests(v)[0] for a, v in arrays.items()}}
            for name, a in [*arrays.items(), ("meta", None)]:
                fname = os.path.join(tmp, f"{name}.json" if a is None else f"{name}.npy")
                fd = os.open(fname, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
                with os.fdopen(fd, "wb") as fh:
                    if a is None:
                        fh.write(json.dumps(meta).encode())
                    else:
                        np.save(fh, a, allow_pickle=False)
                os.chmod(fname, file_mode)  # the umask may have narrowed it
            os.chmod(tmp, dir_mode)
            os.rename(tmp, entry)  # atomic; fails if another process won
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        # Entries of earlier versions of the file can never match again.
        for name in os.listdir(root):
            if name.startswith(prefix) and name != prefix + key and _ENTRY.match(name):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        _evict(root, keep=entry)


def max_bytes():
    """The cache's size cap: ``KKPY_CACHE_MAX`` (bytes, or with a K/M/G/T suffix), else 4 GiB.

    Examples
    --------
    >>> import os
    >>> os.environ["KKPY_CACHE_MAX"] = "1.5G"; max_bytes() == 3 << 29
    True
    >>> del os.environ["KKPY_CACHE_MAX"]
    """
    text = os.environ.get("KKPY_CACHE_MAX", "").strip().upper().removesuffix("B")
    scale = 1
    if text[-1:] in ("K", "M", "G", "T"):
        scale = 1 << (10 * " KMGT".index(text[-1]))
        text = text[:-1]
    try:
        return max(0, int(float(text) * scale))
    except ValueError:
        return _DEFAULT_MAX


def _entries(root):
    """``(last use, bytes, path)`` of every entry in ``root``, oldest first."""
    out = []
    with contextlib.suppress(OSError), os.scandir(root) as it:
        for e in it:
            if not (_ENTRY.match(e.name) and e.is_dir(follow_symlinks=False)):
                continue
            size, used = 0, 0.0
            with contextlib.suppress(OSError), os.scandir(e.path) as files:
                for f in files:
                    st = f.stat(follow_symlinks=False)
                    size += st.st_size
                    if f.name == "meta.json":
                        used = st.st_mtime
            out.append((used, size, e.path))
    return sorted(out)


_sizes = {}  # root -> bytes it held after this process's last store (saves a scan per store)


def _evict(root, keep):
    added = sum(e.stat().st_size for e in os.scandir(keep))
    total = _sizes.get(root)
    if total is None:
        # Leftovers of writers that died (an hour is far longer than any write).
        for name in os.listdir(root):
            p = os.path.join(root, name)
            if name.startswith(".tmp-") and os.lstat(p).st_mtime < time.time() - 3600:
                shutil.rmtree(p, ignore_errors=True)
    else:
        total += added
    cap = max_bytes()
    if total is None or total > cap:
        entries = _entries(root)
        total = sum(s for _, s, _ in entries)
        for _, size, path in entries:
            if total <= cap:
                break
            if path != keep:
                _remove(path)
                total -= size
    _sizes[root] = total


def usage(root):
    """``(entries, bytes)`` held in the cache directory ``root``."""
    entries = _entries(root) if root else []
    return len(entries), sum(s for _, s, _ in entries)


def clear(root):
    """Remove every entry from ``root`` (and nothing else); returns ``(entries, bytes)``."""
    entries = _entries(root) if root else []
    for _, _, path in entries:
        _remove(path)
    return len(entries), sum(s for _, s, _ in entries)


def command(empty=False):
    """``kkpy-dnn cache``: print where kkpy's caches are and their size; ``empty`` clears them."""
    root = cache_root(True)
    n, size = clear(root) if empty else usage(root)
    files, code = extending.code_usage(clear=empty)
    done = "removed" if empty else "holds"
    mib = 1 << 20
    print(f"parsed files: {root or 'no cache (no private cache directory)'} {done} {n} "
          f"entries, {size / mib:.1f} MiB (at most {max_bytes() / mib:.0f} MiB, KKPY_CACHE_MAX)")
    print(f"compiled code: {extending.private_dir() or 'in memory only'} {done} {files} files, "
          f"{code / mib:.1f} MiB")
    return 0
