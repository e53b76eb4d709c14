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

The entries' layout (:class:`EntryWriter`, :func:`read_entry`) is also that
of ``kkpy-dnn generate --format csr``'s folders, with another ``format`` in
``meta.json``: one writer and one set of checks for both.

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
from ..sparse.extending import open_regular
from ..sparse.io import ParseError

__all__ = ["cache_root", "stat_key", "load", "store", "usage", "clear", "max_bytes", "command",
           "EntryWriter", "write_entry", "read_indptr", "read_entry", "DTYPES"]

# Bump when the entry layout or the parse result changes.
FORMAT = 2
_ARRAYS = ("indptr", "indices", "data")
_BLOCK = 1 << 22  # bytes per checksummed block: a row range verifies only what it reads
# What an entry's arrays may be: little-endian, 32-bit column indices and
# values (what the kernels take), a 32- or 64-bit row pointer.
DTYPES = {"indptr": ("<i4", "<i8"), "indices": ("<i4",), "data": ("<f4",)}
_META_BYTES = 1 << 20
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


class _Blocks:
    """SHA-256 of every ``_BLOCK`` bytes of a stream: what :func:`_digests` gives for the whole."""

    def __init__(self):
        self.done, self.sha, self.filled = [], hashlib.sha256(), 0

    def update(self, view):
        while len(view):
            take = min(len(view), _BLOCK - self.filled)
            self.sha.update(view[:take])
            self.filled += take
            view = view[take:]
            if self.filled == _BLOCK:
                self.done.append(self.sha.hexdigest())
                self.sha, self.filled = hashlib.sha256(), 0

    def digests(self):
        return self.done + ([self.sha.hexdigest()] if self.filled else [])


# Room in a .npy header for any length (headers are padded to 64 bytes, so
# one written for a short length is as long).
_ROOM = 1 << 62


class _NpyFile:
    """A new 1-d ``.npy`` file written in pieces: the header says the length at the end."""

    def __init__(self, path, dtype, mode):
        self.dtype, self.count, self.blocks = np.dtype(dtype), 0, _Blocks()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
        self.fh = os.fdopen(fd, "wb")
        if mode is not None:
            os.chmod(path, mode)  # the umask may have narrowed it
        self._header(_ROOM)
        self.offset = self.fh.tell()

    def _header(self, count):
        np.lib.format.write_array_header_1_0(
            self.fh, {"descr": self.dtype.str, "fortran_order": False, "shape": (count,)})

    def append(self, a):
        a = np.ascontiguousarray(a, dtype=self.dtype)
        view = memoryview(a).cast("B")
        self.fh.write(view)
        self.blocks.update(view)
        self.count += a.size

    def close(self):
        self.fh.seek(0)
        self._header(self.count)
        if self.fh.tell() != self.offset:  # cannot happen: headers are padded alike
            raise OSError(f"{self.fh.name}: .npy header length changed")
        self.fh.close()


class EntryWriter:
    """Writes one CSR matrix into the empty folder ``folder``, in pieces.

    ``indptr.npy``, ``indices.npy`` and ``data.npy`` (each added to with
    :meth:`append` as often as needed, so a matrix larger than memory can
    be written block by block), then, at :meth:`finish`, ``meta.json``: ``format``
    (``tag``), ``shape``, the arrays' ``dtypes`` and the SHA-256 of every
    4 MiB block of each.  An array's file is made at its first append, of
    the dtype ``dtypes`` then holds (one of :data:`DTYPES`), so a row
    pointer written last can take the smallest that fits.  Files get
    ``mode`` exactly, or, with None, 0o666 narrowed by the umask.  The
    caller renames the folder into place (or removes it after an error).
    """

    def __init__(self, folder, dtypes, mode=None):
        self.folder, self.dtypes, self.mode, self.files = folder, dict(dtypes), mode, {}

    def _file(self, name):
        if name not in self.files:
            dtype = np.dtype(self.dtypes[name])
            if dtype.str not in DTYPES[name]:
                raise ValueError(f"{name}: dtype {dtype}, expected one of "
                                 f"{', '.join(DTYPES[name])}")
            self.files[name] = _NpyFile(os.path.join(self.folder, f"{name}.npy"), dtype,
                                        self.mode)
        return self.files[name]

    def append(self, name, a):
        try:
            self._file(name).append(a)
        except BaseException:
            self.abandon()
            raise

    def abandon(self):
        """Close the files after an error."""
        for f in self.files.values():
            f.fh.close()

    def finish(self, shape, tag):
        try:
            files = [self._file(a) for a in _ARRAYS]
            for f in files:
                f.close()
        except BaseException:
            self.abandon()
            raise
        meta = {"format": tag, "shape": [int(x) for x in shape],
                "dtypes": {a: f.dtype.str for a, f in zip(_ARRAYS, files)},
                "sha256": {a: f.blocks.digests() for a, f in zip(_ARRAYS, files)}}
        fname = os.path.join(self.folder, "meta.json")
        mode = 0o666 if self.mode is None else self.mode
        with os.fdopen(os.open(fname, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as fh:
            fh.write(json.dumps(meta).encode())
        if self.mode is not None:
            os.chmod(fname, self.mode)


def write_entry(folder, matrix, tag, mode=None):
    """Write ``matrix`` (CSR) into the empty folder ``folder``, as :class:`EntryWriter`."""
    arrays = dict(zip(_ARRAYS, (matrix.indptr, matrix.indices, matrix.data)))
    w = EntryWriter(folder, {a: v.dtype for a, v in arrays.items()}, mode)
    for a, v in arrays.items():
        w.append(a, v)
    w.finish(matrix.shape, tag)


def _fail(path, what):
    raise ParseError(path, None, what)


def _meta(folder, tag):
    """``meta.json`` of an entry, its layout checked; errors name it."""
    path = os.path.join(folder, "meta.json")
    with open_regular(path) as fh:
        text = fh.read(_META_BYTES + 1)
    if len(text) > _META_BYTES:
        _fail(path, f"larger than {_META_BYTES} bytes; not a kkpy meta.json")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as err:  # RecursionError: nested too deep
        _fail(path, f"not JSON ({err})")
    if not isinstance(meta, dict) or meta.get("format") != tag:
        got = meta.get("format") if isinstance(meta, dict) else None
        _fail(path, f"format {got!r}, expected {tag!r}")
    shape = meta.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2
            and all(type(x) is int and 0 <= x < 2 ** 62 for x in shape)):
        _fail(path, f"shape {shape!r}: expected two whole numbers")
    dtypes, sha = meta.get("dtypes"), meta.get("sha256")
    for a in _ARRAYS:
        if not isinstance(dtypes, dict) or dtypes.get(a) not in DTYPES[a]:
            _fail(path, f"dtypes: {a} must be one of {', '.join(DTYPES[a])}")
        if not (isinstance(sha, dict) and isinstance(sha.get(a), list)
                and all(isinstance(d, str) for d in sha[a])):
            _fail(path, f"sha256: expected a list of block digests for {a}")
    return meta


def _npy(path, dtype):
    """A 1-d ``.npy`` file of ``dtype``, memory-mapped read-only; errors name it.

    Opened as a regular file only (a FIFO is refused, not waited on); its
    size must be exactly what its header says, so a truncated file fails
    here, before anything is allocated.  Never unpickles.
    """
    with open_regular(path) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"format version {version[0]}.{version[1]}; 1.0 or 2.0 are read")
            shape, _, got = read(fh)
        except ValueError as err:
            _fail(path, f"not a .npy array ({str(err).splitlines()[0]})")
        if len(shape) != 1:
            _fail(path, f"shape {shape}: expected one dimension")
        if got.str != dtype:
            _fail(path, f"dtype {got.str}, expected {dtype} (as meta.json says)")
        offset, size = fh.tell(), os.fstat(fh.fileno()).st_size
        need = offset + shape[0] * got.itemsize
        if size != need:
            _fail(path, f"{size} bytes, but its header says {need}"
                  + (" (truncated)" if size < need else ""))
        if shape[0] == 0:
            return np.empty(0, got)
        return np.memmap(fh, got, mode="r", offset=offset, shape=shape)


def read_indptr(folder, tag, shape=None):
    """An entry's checked row pointer (in memory), shape and memory-mapped arrays.

    Returns ``(shape, indptr, arrays, meta)``.  Checks ``meta.json``, the
    arrays' headers, lengths and dtypes, and the row pointer's checksum and
    structure (starts at 0, never decreases, ends at the number of
    entries); raises :class:`~kkpy.sparse.io.ParseError` naming the file.
    ``shape`` is the one expected, None for any length along an axis.
    """
    meta = _meta(folder, tag)
    full = tuple(meta["shape"])
    if shape is not None and not all(e is None or e == g for e, g in zip(shape, full)):
        want = ", ".join("any" if e is None else str(e) for e in shape)
        _fail(os.path.join(folder, "meta.json"), f"shape {full}, expected ({want})")
    names = {a: os.path.join(folder, f"{a}.npy") for a in _ARRAYS}
    arrays = {a: _npy(names[a], meta["dtypes"][a]) for a in _ARRAYS}
    nnz = len(arrays["indices"])
    if len(arrays["indptr"]) != full[0] + 1:
        _fail(names["indptr"], f"{len(arrays['indptr'])} entries for {full[0]} rows; "
                               f"expected {full[0] + 1}")
    if len(arrays["data"]) != nnz:
        _fail(names["data"], f"{len(arrays['data'])} values for {nnz} indices")
    indptr = np.array(arrays["indptr"])  # a copy: what is checked is what is used
    if _digests(indptr)[0] != meta["sha256"]["indptr"]:
        _fail(names["indptr"], "SHA-256 differs from meta.json's (damaged or changed)")
    if indptr[0] != 0:
        _fail(names["indptr"], f"starts at {indptr[0]}, not 0")
    if indptr[-1] != nnz:
        _fail(names["indptr"], f"ends at {indptr[-1]}, not at the {nnz} entries")
    down = np.flatnonzero(indptr[1:] < indptr[:-1])
    if down.size:
        _fail(names["indptr"], f"decreases after row {down[0]}")
    return full, indptr, arrays, meta


def read_entry(folder, tag, rows=None, shape=None):
    """An entry as a ``csr_array``, every part of it that is read checked.

    Parameters
    ----------
    folder : str
        Written by :func:`write_entry` or :class:`EntryWriter`.
    tag : str or int
        The ``format`` its ``meta.json`` must have.
    rows : tuple of int, optional
        Only rows ``[start, stop)`` (clipped); the rest stays on disk,
        memory-mapped and unread.
    shape : tuple, optional
        The shape expected, None for any length along an axis.

    Raises
    ------
    ParseError
        Naming the file at fault: see :func:`read_indptr`; also checksums
        of the blocks read, indices in ``[0, ncols)``, finite values.
    OSError
        A file cannot be opened.
    """
    full, indptr, arrays, meta = read_indptr(folder, tag, shape)
    if rows is None:
        start, stop = 0, full[0]
    else:
        start = min(max(rows[0], 0), full[0])
        stop = max(start, min(rows[1], full[0]))
    lo, hi = int(indptr[start]), int(indptr[stop])
    for a in ("indices", "data"):
        got, first = _digests(arrays[a], lo, hi)
        if got != meta["sha256"][a][first:first + len(got)]:
            _fail(os.path.join(folder, f"{a}.npy"),
                  "SHA-256 differs from meta.json's (damaged or changed)")
    indices, data = np.array(arrays["indices"][lo:hi]), np.array(arrays["data"][lo:hi])
    if hi > lo and (indices.min() < 0 or indices.max() >= full[1]):
        bad = indices[(indices < 0) | (indices >= full[1])][0]
        _fail(os.path.join(folder, "indices.npy"),
              f"column index {bad} out of range [0, {full[1]})")
    if not np.all(np.isfinite(data)):
        _fail(os.path.join(folder, "data.npy"), "a value is not finite (NaN or infinity)")
    indptr = indptr[start:stop + 1] - indptr[start]
    if indptr[-1] <= np.iinfo(np.int32).max:  # else scipy would widen the indices too
        indptr = indptr.astype(np.int32)
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
        m = read_entry(entry, FORMAT, rows, shape)
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
            write_entry(tmp, matrix, FORMAT, file_mode)
            os.chmod(tmp, dir_mode)
            os.rename(tmp, entry)  # atomic; fails if another process won
        except (OSError, ValueError):  # ValueError: arrays of types an entry cannot hold
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
