"""Sparse DNN Graph Challenge data: the official layout, a cache, embedded data.

A challenge data directory ``DIR`` holds, plain or gzip'd (``.gz``):

- ``DIR/neuronN/nN-lK.tsv`` for K = 1..L: the layers, N x N;
- ``DIR/sparse-images-N.tsv``: the inputs, one row per image;
- ``DIR/neuronN-lL-categories.tsv``: the truth, 1-based row ids.

The layers and the inputs may also be in kkpy's binary layout, a folder
``nN-lK.csr`` (``sparse-images-N.csr``) of CSR arrays as ``.npy`` files,
memory-mapped when read (:func:`write_csr`, :func:`read_csr`).

Parsed files are kept in a binary cache (see :mod:`kkpy.dnn._cache`) so a
rerun loads even the 65536-neuron networks in seconds.  The package also
ships the real 1024-neuron network (all 120 layers), the first 1200
official inputs and their truth: :func:`load_embedded`.
"""

import collections
import contextlib
import errno
import math
import os
import secrets
import shutil

import numpy as np
import scipy.sparse

from ..sparse.io import ParseError, read_tsv
from ..sparse.extending import open_chunks
from . import _cache

__all__ = ["BIASES", "LAYOUTS", "ChallengePaths", "bias_for", "check_neurons",
           "challenge_paths", "load_layers", "load_images", "image_row_nnz", "load_truth",
           "load_embedded", "embedded_available", "write_csr", "read_csr"]

# The official bias of each challenge network.
BIASES = {1024: -0.3, 4096: -0.35, 16384: -0.4, 65536: -0.45}

EMBEDDED = os.path.join(os.path.dirname(__file__), "data", "graphchallenge-1024.npz")

# Images files have no declared row count; bound rows by the index dtype.
_INDEX = np.int32

#: File endings of the layouts ``kkpy-dnn generate --format`` writes.
LAYOUTS = {"tsv": ".tsv", "gz": ".tsv.gz", "csr": ".csr"}
#: ``meta.json``'s ``format`` in a ``.csr`` folder.
CSR_FORMAT = "kkpy.dnn csr 1"

ChallengePaths = collections.namedtuple("ChallengePaths", "layers images truth")
ChallengePaths.__doc__ = """Files of one challenge problem: a list of layer paths, the
images path, and the truth path (None if there is no truth file)."""


def check_neurons(neurons):
    """Raise ValueError unless ``neurons`` is 16 * 2**k with k >= 1.

    That is every size the challenge's network structure exists for: 32
    connections per neuron in 16 groups of N/16.

    Examples
    --------
    >>> check_neurons(1024)
    >>> check_neurons(1000)
    Traceback (most recent call last):
    ...
    ValueError: neurons must be 16 * 2**k with k >= 1 (32, 64, ..., 1024, ...), got 1000
    """
    n = int(neurons)
    if n != neurons or n < 32 or n & (n - 1):
        raise ValueError("neurons must be 16 * 2**k with k >= 1 (32, 64, ..., 1024, ...), "
                         f"got {neurons}")


def bias_for(neurons):
    """The challenge bias for a network of ``neurons`` neurons.

    The official values are -0.3, -0.35, -0.4 and -0.45 for 1024, 4096,
    16384 and 65536 neurons: 0.05 less for every 4x.  Other sizes (which
    only the generator makes) continue that rule, -0.025 per doubling;
    that is kkpy's extension, not part of the challenge.

    Examples
    --------
    >>> bias_for(1024), bias_for(65536), bias_for(2048)
    (-0.3, -0.45, -0.325)
    """
    if neurons in BIASES:
        return BIASES[neurons]
    check_neurons(neurons)
    return round(-0.3 - 0.025 * math.log2(neurons / 1024), 12)


def _resolve(path, csr=False):
    """``path`` (a ``.tsv`` name) if it exists, else ``path.gz``, else (with
    ``csr``) the ``.csr`` folder; FileNotFoundError if none.

    A dangling symlink or a symlink loop raises its own OSError, naming it,
    rather than passing for a missing file.
    """
    names = (path, path + ".gz") + ((path[:-len(".tsv")] + ".csr",) if csr else ())
    for p in names:
        if os.path.lexists(p):
            os.stat(p)
            return p
    raise FileNotFoundError(errno.ENOENT, "no such file (nor .gz" + (", nor .csr)" if csr else ")"),
                            path)


def challenge_paths(data_dir, neurons, layers):
    """Locate the files of a challenge problem, plain, ``.gz`` or ``.csr``.

    Each layer and the images are looked for as ``.tsv``, then ``.tsv.gz``,
    then a ``.csr`` folder (:func:`write_csr`); the truth as ``.tsv`` or
    ``.tsv.gz``.

    Parameters
    ----------
    data_dir : str or os.PathLike
    neurons : int
    layers : int

    Returns
    -------
    ChallengePaths

    Raises
    ------
    FileNotFoundError
        A layer or the images file is missing (the truth is optional).

    Examples
    --------
    >>> import tempfile
    >>> from kkpy.dnn import generate
    >>> d = tempfile.mkdtemp()
    >>> generate(64, 2, 1, d)
    >>> p = challenge_paths(d, 64, 2)
    >>> [os.path.basename(x) for x in p.layers], os.path.basename(p.images), p.truth
    (['n64-l1.tsv', 'n64-l2.tsv'], 'sparse-images-64.tsv', None)
    """
    d = os.fspath(data_dir)
    if int(layers) < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    layer_paths = [_resolve(os.path.join(d, f"neuron{neurons}", f"n{neurons}-l{k}.tsv"), csr=True)
                   for k in range(1, int(layers) + 1)]
    images = _images_path(d, neurons)
    try:
        truth = _resolve(os.path.join(d, f"neuron{neurons}-l{layers}-categories.tsv"))
    except FileNotFoundError:
        truth = None
    return ChallengePaths(layer_paths, images, truth)


def cache_how(shape):
    """How :func:`_read` parses a file, as the data cache keys it: shape, types, checks."""
    return f"tsv shape={tuple(shape)} float32 {np.dtype(_INDEX)} finite"


def _sibling(path, what):
    """A hidden name beside ``path`` that no other process picks."""
    head, tail = os.path.split(os.fspath(path))
    return os.path.join(head, f".{tail}.{os.getpid()}.{secrets.token_hex(4)}.{what}")


def remove_path(path):
    """Remove ``path``, a file or (not through a link) a whole folder, if it is there.

    A folder is renamed aside first, so that a reader sees it whole or not at all.
    """
    if os.path.isdir(path) and not os.path.islink(path):
        aside = _sibling(path, "old")
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, aside)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _put(tmp, path):
    """Rename the finished folder ``tmp`` to ``path``, replacing what is there.

    Unlike a file's, a folder's replacement is two renames: between them a
    reader finds ``path`` missing, never half-written.
    """
    remove_path(path)
    os.rename(tmp, path)


def write_csr_rows(path, blocks, ncols):
    """:func:`write_csr` of a matrix given as row blocks (``ncols`` columns), one at a time."""
    path = os.fspath(path)
    if ncols > 2 ** 31:
        raise ValueError(f"{path}: {ncols} columns; int32 indices reach 2**31")
    tmp = _sibling(path, "tmp")
    os.mkdir(tmp)
    w = _cache.EntryWriter(tmp, {"indptr": None, "indices": np.int32, "data": np.float32})
    try:
        counts = [np.zeros(1, np.int64)]
        for block in blocks:
            block = scipy.sparse.csr_array(block)
            if block.shape[1] != ncols:
                raise ValueError(f"{path}: a block of {block.shape[1]} columns, expected {ncols}")
            data = block.data.astype(np.float32)
            if not np.all(np.isfinite(data)):
                raise ValueError(f"{path}: a value is not finite in float32")
            counts.append(np.diff(block.indptr))
            w.append("indices", block.indices)
            w.append("data", data)
        indptr = np.cumsum(np.concatenate(counts), dtype=np.int64)
        # the smallest row pointer that holds every entry
        w.dtypes["indptr"] = np.int32 if indptr[-1] <= np.iinfo(np.int32).max else np.int64
        w.append("indptr", indptr)
        w.finish((indptr.size - 1, ncols), CSR_FORMAT)
        _put(tmp, path)
    except BaseException:
        w.abandon()
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_csr(path, matrix):
    """Write a sparse matrix as a ``.csr`` folder, kkpy's binary challenge layout.

    The folder holds ``indptr.npy`` (int32, or int64 past 2**31 - 1
    entries), ``indices.npy`` (int32) and ``data.npy`` (float32), each
    little-endian, the
    arrays of the CSR form, and ``meta.json``: the shape, the dtypes and
    the SHA-256 of every 4 MiB block of each array.  It is what
    ``kkpy-dnn generate --format csr`` writes, and is read by
    :func:`read_csr`, memory-mapped.  Written in a temporary folder beside
    ``path`` and renamed into place, replacing what was there.

    Parameters
    ----------
    path : str or os.PathLike
        The folder, named ``nN-lK.csr`` or ``sparse-images-N.csr`` in a
        challenge data directory.
    matrix : scipy sparse matrix or array
        Its values must be finite in float32.

    Examples
    --------
    >>> import os, tempfile, scipy.sparse as sp
    >>> path = os.path.join(tempfile.mkdtemp(), "n64-l1.csr")
    >>> write_csr(path, sp.eye_array(64, format="csr"))
    >>> sorted(os.listdir(path))
    ['data.npy', 'indices.npy', 'indptr.npy', 'meta.json']
    >>> read_csr(path).nnz
    64
    """
    m = scipy.sparse.csr_array(matrix)
    write_csr_rows(path, [m], m.shape[1])


def _csr_folder(path):
    """Refuse a ``.csr`` name that is not a folder: say what it is."""
    if not os.path.isdir(path):
        raise ParseError(path, None, "not a folder; a .csr layer or images file is a folder "
                                     "of .npy arrays (kkpy-dnn generate --format csr)")


def read_csr(path, shape=None, rows=None):
    """Read a ``.csr`` folder written by :func:`write_csr`, checked.

    Its files must be regular files (a FIFO is refused, not waited on) and
    are memory-mapped: with ``rows``, only those rows' part is read.  The
    layout is checked (``meta.json``, the ``.npy`` headers, the dtypes, each
    array's length against the file's size), then what is read: the
    SHA-256 of every 4 MiB block, ``indptr`` starting at 0, never
    decreasing and ending at the number of entries, every column index in
    range, every value finite.

    Parameters
    ----------
    path : str or os.PathLike
    shape : tuple, optional
        The shape expected; None for any length along an axis.
    rows : tuple of int, optional
        Only rows ``[start, stop)`` (clipped to the matrix).

    Returns
    -------
    scipy.sparse.csr_array
        float32, int32 indices.

    Raises
    ------
    ParseError
        One line naming the file at fault and what is wrong.
    OSError
        A file cannot be opened (missing, no permission).

    Examples
    --------
    >>> import os, tempfile, scipy.sparse as sp
    >>> path = os.path.join(tempfile.mkdtemp(), "sparse-images-64.csr")
    >>> write_csr(path, sp.random_array((10, 64), density=0.2, rng=0))
    >>> read_csr(path, shape=(None, 64), rows=(2, 5)).shape
    (3, 64)
    >>> try:
    ...     read_csr(path, shape=(10, 32))
    ... except ValueError as err:
    ...     print(str(err).split("/")[-1])
    meta.json: shape (10, 64), expected (10, 32)
    """
    path = os.fspath(path)
    _csr_folder(path)
    return _cache.read_entry(path, CSR_FORMAT, rows, shape)


def _read(path, shape, cache, rows=None):
    """A TSV file (or a ``.csr`` folder) as float32 CSR, through the cache.

    A full read fills the cache; a row range is served from the cache when
    it is there, else by a streaming filter (which does not fill it).
    Values must be finite in float32: a NaN, an infinity or a value beyond
    float32's range (1e300) would turn every later layer into NaN, and the
    categories silently with it, so the parser refuses it, naming the line.
    The cache holds only files parsed with that check (it is in the key).
    A ``.csr`` folder is binary already: read directly, never cached.
    """
    if path.endswith(".csr"):
        return read_csr(path, shape, rows)
    root = _cache.cache_root(cache)
    how = cache_how(shape)
    m = _cache.load(root, path, how, rows, shape)
    if m is not None:
        return m
    if rows is not None:
        return read_tsv(path, shape=shape, rows=rows, finite=True).to_scipy()
    key = _cache.stat_key(path)
    m = read_tsv(path, shape=shape, finite=True).to_scipy()
    _cache.store(root, path, how, m, key)
    return m


def load_layers(data_dir, neurons, layers, *, cache=True):
    """Read the first ``layers`` layers of a challenge network.

    Parameters
    ----------
    data_dir : str or os.PathLike
        A challenge data directory.
    neurons, layers : int
    cache : bool or path
        Use the binary cache (default location, none, or this directory).

    Returns
    -------
    list of scipy.sparse.csr_array
        ``neurons x neurons``, float32.

    Raises
    ------
    FileNotFoundError
        A layer file is missing.
    ParseError
        A layer file is malformed (message names file and line).
    """
    paths = challenge_paths(data_dir, neurons, layers).layers
    return [_read(p, (neurons, neurons), cache) for p in paths]


class LayerFiles:
    """The layers of a challenge network, read one at a time each time it is iterated.

    For :class:`kkpy.sparse.ChainStream`: memory holds the layers being used,
    not the network.  Every file must exist when it is made (a missing one
    is reported before any is parsed); each is parsed, through the binary
    cache as :func:`load_layers` does, when the iteration reaches it, and
    ``check(path, W)``, if given, runs on it then.

    Examples
    --------
    >>> import tempfile
    >>> from kkpy.dnn import generate
    >>> d = tempfile.mkdtemp()
    >>> generate(64, 3, 1, d)
    >>> files = LayerFiles(d, 64, 3, cache=False)
    >>> len(files), [W.shape for W in files]
    (3, [(64, 64), (64, 64), (64, 64)])
    """

    def __init__(self, data_dir, neurons, layers, *, cache=True, check=None):
        self.paths = challenge_paths(data_dir, neurons, layers).layers
        self.shape = (neurons, neurons)
        self.cache = cache
        self.check = check

    def __len__(self):
        return len(self.paths)

    def __iter__(self):
        for path in self.paths:
            W = _read(path, self.shape, self.cache)
            if self.check is not None:
                self.check(path, W)
            yield W


def _images_path(data_dir, neurons):
    return _resolve(os.path.join(os.fspath(data_dir), f"sparse-images-{neurons}.tsv"), csr=True)


def load_images(data_dir, neurons, images=None, rows=None, *, cache=True):
    """Read the input images (one per row) of a challenge problem.

    Parameters
    ----------
    data_dir : str or os.PathLike
    neurons : int
        Columns of the images file.
    images : int, optional
        The problem has this many images, the first rows of the file
        (default: up to the file's last nonempty row).  A TSV file cannot
        show empty rows at its end, so rows past the file's last are empty.
    rows : tuple of int, optional
        Return only rows ``[start, stop)`` of those (clipped), e.g. one MPI
        rank's share.  The other rows are never materialised: they are
        memory-mapped from the cache if it holds the file, else filtered
        out while streaming the text.
    cache : bool or path

    Returns
    -------
    scipy.sparse.csr_array
        float32, ``(stop - start) x neurons`` (all rows if ``rows`` is None).

    Raises
    ------
    FileNotFoundError, ParseError
    """
    path = _images_path(data_dir, neurons)
    if rows is None and images is None:
        return _read(path, (None, neurons), cache)
    start, stop = (0, images) if rows is None else (int(rows[0]), int(rows[1]))
    if images is not None:
        stop = min(stop, images)
    if start < 0:
        raise ValueError(f"rows must start at 0 or later, got {rows}")
    stop = max(start, stop)
    m = _read(path, (None, neurons), cache, rows=(start, stop))
    if images is not None and m.shape[0] < stop - start:
        m.resize((stop - start, neurons))
    return m


def image_row_nnz(data_dir, neurons, images=None, *, cache=True):
    """Nonzeros of each input row: what an MPI split balances.

    Reads the whole images file once (filling the cache, so that ranks can
    then load their own rows cheaply).

    Parameters
    ----------
    data_dir : str or os.PathLike
    neurons : int
    images : int, optional
        As for :func:`load_images`: the first ``images`` rows, padded with
        empty ones past the file's last row.
    cache : bool or path

    Returns
    -------
    ndarray of int64
    """
    path = _images_path(data_dir, neurons)
    if path.endswith(".csr"):  # the row pointer alone, checked; the rest stays on disk
        _csr_folder(path)
        indptr = _cache.read_indptr(path, CSR_FORMAT, (None, neurons))[1]
    else:
        indptr = _read(path, (None, neurons), cache).indptr
    counts = np.diff(indptr).astype(np.int64)
    if images is None:
        return counts
    out = np.zeros(int(images), np.int64)
    out[:min(images, counts.size)] = counts[:images]
    return out


def load_truth(path):
    """Read a categories (truth) file: 1-based row ids, one per line.

    Parameters
    ----------
    path : str or os.PathLike
        Plain or ``.gz``.

    Returns
    -------
    ndarray of int64
        Sorted, 0-based, without repeats.

    Raises
    ------
    ParseError
        A line that is not one positive integer.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "truth.tsv")
    >>> _ = open(p, "w").write("5\\n2\\n\\n9\\n")
    >>> load_truth(p)
    array([1, 4, 8])
    """
    name = os.fspath(path)
    ids = []
    with open_chunks(path, name) as chunks:
        text = b"".join(chunks)
    for lineno, line in enumerate(text.split(b"\n"), 1):
        word = line.strip()
        if not word:
            continue
        if not (word.isdigit() and len(word) <= 18 and int(word) >= 1):
            shown = word.decode("utf-8", "replace")
            raise ParseError(name, lineno, f"expected one positive row id, got {shown!r}")
        ids.append(int(word))
    return np.unique(np.array(ids, dtype=np.int64)) - 1


def embedded_available():
    """Whether the package's embedded real data file is present.

    Examples
    --------
    >>> embedded_available()
    True
    """
    return os.path.exists(EMBEDDED)


def load_embedded(path=EMBEDDED):
    """The real challenge data that ships with kkpy.

    The official 1024-neuron network (all 120 layers), the first 1200 of
    the 60000 official input images, and the 19 of them that are
    categories after 120 layers.  Converted losslessly from the public
    challenge files by ``tools/embed_real_data.py``.

    Parameters
    ----------
    path : str, optional
        Another file in the same format (the conversion script checks its
        output with this).

    Returns
    -------
    layers : list of scipy.sparse.csr_array
        120 float32 1024 x 1024 matrices, 32 entries of 1/16 per row.
    images : scipy.sparse.csr_array
        float32 1200 x 1024, entries 1.
    truth : ndarray of int64
        Sorted 0-based ids of the category rows.
    bias : float
        -0.3.
    neurons : int
        1024.

    Examples
    --------
    >>> layers, images, truth, bias, neurons = load_embedded()
    >>> len(layers), images.shape, truth.size, bias, neurons
    (120, (1200, 1024), 19, -0.3, 1024)
    """
    with np.load(path) as z:
        n = int(z["neurons"])
        idx = z["layer_indices"].astype(_INDEX)  # (layers, n, per_row), sorted rows
        per_row = idx.shape[2]
        indptr = np.arange(0, n * per_row + 1, per_row, dtype=_INDEX)
        value = z["layer_value"]
        layers = [scipy.sparse.csr_array((np.full(n * per_row, value, np.float32),
                                          idx[k].ravel(), indptr), shape=(n, n))
                  for k in range(idx.shape[0])]
        img_indices = z["image_indices"].astype(_INDEX)
        images = scipy.sparse.csr_array(
            (np.full(img_indices.size, z["image_value"], np.float32), img_indices,
             z["image_indptr"].astype(_INDEX)), shape=(int(z["images"]), n))
        truth = z["truth"].astype(np.int64)
        bias = float(z["bias"])
    return layers, images, truth, bias, n
