"""Challenge-style networks and inputs of any size, written in the official layout.

The layers follow the structure measured on the public networks.  With
``B = N / 16``, layers come in blocks of ``log2(B)``; in layer ``k`` of a
block (k = 0, 1, ...), row ``i`` connects to the 32 columns
``{(r - 2**k) mod B, r} + B*m`` for m = 0..15, where ``r = P(i) mod B``, all
weights 1/16.  ``P`` is a row permutation fixed for the whole block: the
identity in the first block, random (seeded) after.  So layer index ``j``
(0-based: ``j = 0`` is the file ``nN-l1.tsv``) is layer ``j mod log2(B)`` of
block ``j // log2(B)``.  The first block equals the public one exactly;
later public blocks equal ours up to their own (unpublished) permutation.

The inputs are synthetic: real 32 x 32 images (the 1200 that ship with
kkpy) resized to the network's size and shifted at random.
"""

import os

import numpy as np
import scipy.sparse

from ..sparse.extending import atomic_write, write_triples
from ._data import LAYOUTS, check_neurons, load_embedded, remove_path, write_csr, write_csr_rows

__all__ = ["block_length", "block_permutation", "generate_layer", "layer_indices",
           "image_shape", "synthetic_images", "generate", "GeneratedLayers"]

PER_ROW = 32
GROUPS = 16  # columns {a, b} repeat in 16 groups of B
WEIGHT = np.float32(1 / 16)
REAL_SIDE = 32  # the real images are 32 x 32


def block_length(neurons):
    """Layers per block, ``log2(neurons / 16)``.

    Examples
    --------
    >>> block_length(1024), block_length(65536)
    (6, 12)
    """
    check_neurons(neurons)
    return (int(neurons) // GROUPS).bit_length() - 1


def _stream(seed, *key):
    """An independent random stream per purpose, all from one seed."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def block_permutation(neurons, block, seed=0):
    """The row permutation of ``block``: identity for block 0, else seeded.

    Examples
    --------
    >>> block_permutation(64, 0)[:5]
    array([0, 1, 2, 3, 4])
    >>> np.array_equal(block_permutation(64, 3, seed=7), block_permutation(64, 3, seed=7))
    True
    """
    check_neurons(neurons)
    if block == 0:
        return np.arange(neurons)
    return _stream(seed, 1, int(block)).permutation(neurons)


def layer_indices(neurons, layer_index, perm):
    """Column indices of a layer, ``(neurons, 32)``, each row sorted.

    Parameters
    ----------
    neurons : int
    layer_index : int
        0-based layer number (its position in its block is what matters).
    perm : ndarray of int
        The block's row permutation.

    Examples
    --------
    >>> layer_indices(32, 0, np.arange(32))[0, :4].tolist()
    [0, 1, 2, 3]
    """
    B = neurons // GROUPS
    shift = 1 << (layer_index % block_length(neurons))
    r = np.asarray(perm) % B
    a = (r - shift) % B
    lo, hi = np.minimum(a, r), np.maximum(a, r)
    groups = B * np.arange(GROUPS)
    idx = np.empty((neurons, PER_ROW), np.int32)
    idx[:, 0::2] = lo[:, None] + groups
    idx[:, 1::2] = hi[:, None] + groups
    return idx


def _as_perm(neurons, layer_index, rng_or_perm):
    block = layer_index // block_length(neurons)
    if rng_or_perm is None or isinstance(rng_or_perm, (int, np.integer)):
        return block_permutation(neurons, block, 0 if rng_or_perm is None else int(rng_or_perm))
    if isinstance(rng_or_perm, np.random.Generator):
        return np.arange(neurons) if block == 0 else rng_or_perm.permutation(neurons)
    perm = np.asarray(rng_or_perm)
    if perm.shape != (neurons,) or not np.array_equal(np.sort(perm), np.arange(neurons)):
        raise ValueError(f"expected a permutation of range({neurons})")
    return perm


def generate_layer(neurons, layer_index, rng_or_perm=0):
    """One challenge-style layer as a ``csr_array`` (float32, sorted indices).

    Parameters
    ----------
    neurons : int
        16 * 2**k, k >= 1.
    layer_index : int
        0-based (0 is the file ``nN-l1.tsv``).
    rng_or_perm : int, numpy Generator or ndarray
        The block's row permutation: an int seed gives
        :func:`block_permutation` (the same for every layer of a block, as
        :func:`generate` writes); a Generator draws a fresh permutation
        (identity in block 0), so reuse its result within a block; an array
        is the permutation itself.

    Returns
    -------
    scipy.sparse.csr_array

    Examples
    --------
    >>> W = generate_layer(1024, 0)
    >>> W.shape, W.nnz, set(W.sum(axis=0)) == set(W.sum(axis=1)) == {2.0}
    ((1024, 1024), 32768, True)
    >>> W.indices[:4].tolist()  # row 0 of the public layer 1
    [0, 63, 64, 127]
    """
    check_neurons(neurons)
    if layer_index < 0:
        raise ValueError(f"layer_index must be >= 0, got {layer_index}")
    idx = layer_indices(neurons, layer_index, _as_perm(neurons, layer_index, rng_or_perm))
    indptr = np.arange(0, neurons * PER_ROW + 1, PER_ROW, dtype=np.int32)
    return scipy.sparse.csr_array(
        (np.full(idx.size, WEIGHT), idx.ravel(), indptr), shape=(neurons, neurons))


def image_shape(neurons):
    """Height and width of an input image: square when log2(neurons) is even.

    Examples
    --------
    >>> image_shape(1024), image_shape(2048), image_shape(65536)
    ((32, 32), (32, 64), (256, 256))
    """
    check_neurons(neurons)
    h = 1 << ((int(neurons).bit_length() - 1) // 2)
    return h, neurons // h


def _resize(img, axis, size):
    """Scale one axis by a power of two: repeat pixels up, any-of-block down.

    Taking any pixel of a block (not one sample) when shrinking keeps thin
    strokes, so no image becomes empty.
    """
    old = img.shape[axis]
    if size >= old:
        return img.repeat(size // old, axis=axis)
    shape = img.shape[:axis] + (size, old // size) + img.shape[axis + 1:]
    return img.reshape(shape).any(axis=axis + 1)


def _resized_real(neurons):
    """The real images resized to :func:`image_shape`: ``(count, h, w)`` bool."""
    _, images, *_ = load_embedded()
    real = images.toarray().reshape(-1, REAL_SIDE, REAL_SIDE) != 0
    h, w = image_shape(neurons)
    return _resize(_resize(real, 1, h), 2, w)


def _shift(img, dy, dx):
    """``img`` moved by (dy, dx) pixels, zero-filled."""
    out = np.zeros_like(img)
    h, w = img.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        img[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def synthetic_images(neurons, images, seed=0, chunk=None):
    """Synthetic inputs, in row blocks: yields ``(first_row, csr_array)``.

    Image ``i`` is real image ``i mod 1200`` (one of the official inputs
    kkpy ships) resized to :func:`image_shape` (each pixel repeated to grow,
    each output pixel the OR of its block to shrink); from
    the second round on (i >= 1200) it is also shifted by a random offset
    of up to 1/16 of the side (at least one pixel, never zero).  So for
    1024 neurons the first 1200 rows are exactly the real ones.

    Parameters
    ----------
    neurons, images : int
    seed : int
        Seeds the shifts.
    chunk : int, optional
        Rows per block (default: about 32 MB of dense pixels).

    Examples
    --------
    >>> (start, Y), = synthetic_images(1024, 5)
    >>> from kkpy.dnn._data import load_embedded
    >>> start, Y.shape, (Y != load_embedded()[1][:5]).nnz
    (0, (5, 1024), 0)
    """
    base = _resized_real(neurons)
    h, w = base.shape[1:]
    reach = max(1, h // 16)
    offsets = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)
               if dy or dx]
    picks = _stream(seed, 2).integers(0, len(offsets), images)
    chunk = chunk or max(1, (1 << 25) // neurons)
    for first in range(0, images, chunk):
        stop = min(images, first + chunk)
        block = np.empty((stop - first, h, w), bool)
        for i in range(first, stop):
            img = base[i % len(base)]
            block[i - first] = img if i < len(base) else _shift(img, *offsets[picks[i]])
        # One flat search: 2-D nonzero is several times slower here.
        r, c = np.divmod(np.flatnonzero(block), neurons)
        indptr = np.zeros(stop - first + 1, np.int64)
        np.cumsum(np.bincount(r, minlength=stop - first), out=indptr[1:])
        yield first, scipy.sparse.csr_array(
            (np.ones(c.size, np.float32), c.astype(np.int32), indptr),
            shape=(stop - first, neurons))


def generate(neurons, layers, images, out_dir, seed=0, compress=False, layout=None):
    """Write a challenge-style problem in the official layout.

    Writes ``out_dir/neuronN/nN-lK.tsv`` for K = 1..layers and
    ``out_dir/sparse-images-N.tsv`` (``.tsv.gz`` with ``compress``, or a
    ``.csr`` folder of ``.npy`` arrays with ``layout="csr"``, see
    :func:`~kkpy.dnn.write_csr`), one layer or block of images at a time,
    so memory stays small even for the 65536-neuron, 1920-layer network.
    Each file (folder) is replaced atomically, and the same file in the
    other layouts is removed, so that a reader finds only the new one.
    There is no truth file: the categories come from running inference (a
    stale ``neuronN-lL-categories.tsv`` in ``out_dir`` is removed).

    Parameters
    ----------
    neurons : int
        16 * 2**k, k >= 1 (the challenge uses 1024, 4096, 16384, 65536).
    layers, images : int
        At least 1.
    out_dir : str or os.PathLike
        Created if needed.
    seed : int
        Seeds the block permutations and the image shifts.
    compress : bool
        Gzip the files: the same as ``layout="gz"``.
    layout : {"tsv", "gz", "csr"}, optional
        Plain TSV (the default), gzip'd TSV, or kkpy's binary ``.csr``
        folders: about half the size of the TSV, read without parsing.

    Examples
    --------
    >>> import tempfile
    >>> from kkpy.dnn._data import load_layers
    >>> d = tempfile.mkdtemp()
    >>> generate(64, 2, 3, d)
    >>> (load_layers(d, 64, 2, cache=False)[1] != generate_layer(64, 1)).nnz
    0
    >>> generate(64, 2, 3, d, layout="csr")
    >>> sorted(os.listdir(os.path.join(d, "neuron64")))
    ['n64-l1.csr', 'n64-l2.csr']
    """
    check_neurons(neurons)
    for name, value in (("layers", layers), ("images", images)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer of at least 1, got {value}")
    if layout is None:
        layout = "gz" if compress else "tsv"
    if layout not in LAYOUTS or (compress and layout != "gz"):
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}"
                         + (" (compress means gz)" if compress else "") + f", got {layout!r}")
    from ..sparse.extending import fits

    # the images' draws are made at once (8 bytes each), before anything is written
    fits(8 * images, f"images={images}")
    out = os.fspath(out_dir)
    net = os.path.join(out, f"neuron{neurons}")
    os.makedirs(net, exist_ok=True)
    per_block = block_length(neurons)
    rows = np.repeat(np.arange(neurons, dtype=np.int32), PER_ROW)
    vals = np.full(rows.size, WEIGHT)
    for j in range(layers):
        path = _replacing(os.path.join(net, f"n{neurons}-l{j + 1}"), layout)
        if layout == "csr":
            write_csr(path, generate_layer(neurons, j, seed))
            continue
        perm = block_permutation(neurons, j // per_block, seed)
        cols = layer_indices(neurons, j, perm).ravel()
        with atomic_write(path) as f:
            write_triples(f, rows, cols, vals)
    path = _replacing(os.path.join(out, f"sparse-images-{neurons}"), layout)
    blocks = synthetic_images(neurons, images, seed)
    if layout == "csr":
        write_csr_rows(path, (Y for _, Y in blocks), neurons)
    else:
        with atomic_write(path) as f:
            for first, Y in blocks:
                r = np.repeat(np.arange(first, first + Y.shape[0], dtype=np.int64),
                              np.diff(Y.indptr))
                write_triples(f, r, Y.indices, Y.data)
    for suffix in ("", ".gz"):
        stale = os.path.join(out, f"neuron{neurons}-l{layers}-categories.tsv{suffix}")
        if os.path.exists(stale):
            os.unlink(stale)


def _replacing(base, layout):
    """``base`` in ``layout``, its copies in the other layouts removed (a reader
    looks for .tsv first: a stale one would hide the new .csr)."""
    for other, ext in LAYOUTS.items():
        if other != layout:
            remove_path(base + ext)
    return base + LAYOUTS[layout]


class GeneratedLayers:
    """The layers of ``kkpy-dnn generate``, made one at a time each time it is iterated.

    A 65536 x 1920 network is 4e9 weights: generating each layer as the
    products take it (:class:`kkpy.sparse.ChainStream`, or a GPU upload)
    keeps the host's memory to a few layers; ``observe(k, W)`` sees each
    layer too (a CPU check follows along instead of a second pass).

    Examples
    --------
    >>> layers = GeneratedLayers(64, 3, seed=0)
    >>> len(layers), [W.nnz for W in layers]
    (3, [2048, 2048, 2048])
    """

    def __init__(self, neurons, nlayers, seed=0, observe=None):
        self.neurons, self.nlayers, self.seed, self.observe = neurons, nlayers, seed, observe

    def __len__(self):
        return self.nlayers

    def __iter__(self):
        for k in range(self.nlayers):
            W = generate_layer(self.neurons, k, self.seed)
            if self.observe is not None:
                self.observe(k, W)
            yield W
