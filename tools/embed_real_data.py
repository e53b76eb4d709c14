"""Convert the real Graph Challenge data into the file kkpy ships.

Reads the official 1024-neuron network (120 layers), the first 1200 input
rows and their truth from a challenge data directory (by default the
shared copy beside the repository) and writes
``kkpy/dnn/data/graphchallenge-1024.npz``, which is committed: it is the
real data the package embeds, not generated data.

The format is compact but lossless.  Every layer row has exactly 32
entries, all 1/16, so a layer is stored as its column indices in CSR
order, ``(layers, 1024, 32)`` uint16, plus the one value; the images are
CSR with uint16 column indices and their one value (1).  The script checks
each of those facts before relying on it, and reads its output back to
compare with the source, exactly.

Usage::

    python tools/embed_real_data.py [DATA_DIR] [OUT]
"""

import argparse
import os
import sys

import numpy as np

from kkpy.dnn._data import BIASES, EMBEDDED, challenge_paths, load_embedded, load_truth
from kkpy.sparse.io import read_tsv
from kkpy.sparse.io._atomic import atomic_write

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "graphchallenge")
NEURONS, LAYERS, IMAGES, PER_ROW = 1024, 120, 1200, 32


def fail(msg):
    sys.exit(f"embed_real_data: {msg}")


def read_source(data_dir):
    paths = challenge_paths(data_dir, NEURONS, LAYERS)
    if paths.truth is None:
        fail(f"{data_dir}: no truth file for {NEURONS} neurons, {LAYERS} layers")
    layers = [read_tsv(p, shape=(NEURONS, NEURONS)).to_scipy() for p in paths.layers]
    images = read_tsv(paths.images, shape=(IMAGES, NEURONS)).to_scipy()
    return layers, images, load_truth(paths.truth)


def pack(layers, images, truth):
    value = layers[0].data[:1]
    for k, m in enumerate(layers, 1):
        if not (m.has_sorted_indices and np.all(np.diff(m.indptr) == PER_ROW)):
            fail(f"layer {k}: rows do not all have {PER_ROW} entries")
        if not np.all(m.data == value):
            fail(f"layer {k}: entries are not all {value[0]}")
    if not (images.has_sorted_indices and np.all(images.data == 1)):
        fail("images: entries are not all 1")
    if NEURONS > np.iinfo(np.uint16).max + 1:
        fail("column indices do not fit uint16")
    return dict(
        neurons=np.int64(NEURONS), bias=np.float64(BIASES[NEURONS]),
        layer_indices=np.stack([m.indices.reshape(NEURONS, PER_ROW) for m in layers])
        .astype(np.uint16),
        layer_value=value.astype(np.float32)[0],
        images=np.int64(images.shape[0]), image_indptr=images.indptr.astype(np.int32),
        image_indices=images.indices.astype(np.uint16), image_value=np.float32(1),
        truth=truth.astype(np.int64))


def same(a, b):
    return (a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", nargs="?", default=DEFAULT_DATA)
    ap.add_argument("out", nargs="?", default=EMBEDDED)
    args = ap.parse_args(argv)
    layers, images, truth = read_source(args.data_dir)
    with atomic_write(args.out, compress=False) as f:
        np.savez_compressed(f, **pack(layers, images, truth))
    got = load_embedded(args.out)
    if not (len(got[0]) == LAYERS and all(map(same, got[0], layers)) and same(got[1], images)
            and np.array_equal(got[2], truth) and got[3] == BIASES[NEURONS]):
        os.unlink(args.out)
        fail("round trip differs from the source; nothing written")
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
