"""TSV reader and writer benchmarks: kkpy.sparse.io against numpy's text I/O.

Files of 1e6 lines ``row<TAB>col<TAB>value`` (random 1-based indices up to
65536, seed 0), made in a temporary directory at setup, never committed:

- ``challenge``: every value ``6.250000e-02``, as in the official layer files;
- ``random``: doubles written by ``repr`` (17 significant digits, so most
  values take the reader's exact slow path);
- ``challenge.gz``: the first, gzip'd.

Run with asv, or directly for medians and ratios measured in one process
(``python benchmarks/bench_io.py [--lines 1000000] [--repeat 7]``).
"""
from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time

import numpy as np
import scipy.sparse as sp

KINDS = ["challenge", "random", "challenge.gz"]


def make_files(directory, lines=10**6):
    rng = np.random.default_rng(0)
    r, c = rng.integers(1, 65537, lines), rng.integers(1, 65537, lines)
    values = {"challenge": ["6.250000e-02"] * lines,
              "random": [repr(float(x)) for x in rng.standard_normal(lines)]}
    for kind, vals in values.items():
        text = "".join(f"{a}\t{b}\t{v}\n" for a, b, v in zip(r, c, vals)).encode()
        with open(os.path.join(directory, f"{kind}.tsv"), "wb") as f:
            f.write(text)
        if kind == "challenge":
            with open(os.path.join(directory, "challenge.tsv.gz"), "wb") as f:
                f.write(gzip.compress(text, 6))
    return directory


def path_of(directory, kind):
    return os.path.join(directory, kind.replace("challenge.gz", "challenge.tsv.gz")
                        if kind.endswith(".gz") else f"{kind}.tsv")


def read(reader, path):
    if reader == "kkpy":
        from kkpy.sparse.io import read_tsv_coo

        return read_tsv_coo(path)
    return np.loadtxt(path, dtype=np.float32)


class ReadTSV:
    params = (KINDS, ["kkpy", "loadtxt"])
    param_names = ["file", "reader"]
    timeout = 600

    def setup_cache(self):
        return make_files(tempfile.mkdtemp(prefix="kkpy-bench-io-"))

    def setup(self, directory, kind, reader):
        read("kkpy", path_of(directory, "challenge.gz"))  # compile or load kernels

    def time_read(self, directory, kind, reader):
        read(reader, path_of(directory, kind))


def write(writer, path, matrix):
    if writer == "kkpy":
        from kkpy.sparse.io import write_tsv

        return write_tsv(path, matrix)
    coo = matrix.tocoo()
    np.savetxt(path, np.column_stack([coo.row + 1, coo.col + 1, coo.data]),
               fmt=["%d", "%d", "%.9g"], delimiter="\t")


class WriteTSV:
    params = ["kkpy", "savetxt"]
    param_names = ["writer"]
    timeout = 600

    def setup(self, writer):
        self.matrix = sp.random_array((65536, 65536), density=10**6 / 65536**2, rng=0,
                                      dtype=np.float32).tocsr()
        self.dir = tempfile.mkdtemp(prefix="kkpy-bench-io-")
        write("kkpy", os.path.join(self.dir, "warm.tsv"), self.matrix[:10])

    def time_write(self, writer):
        write(writer, os.path.join(self.dir, "out.tsv"), self.matrix)


def _medians(fns, repeat):
    """Median seconds of each function, runs interleaved so load hits all alike."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [float(np.median(ts)) for ts in times]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=10**6)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    directory = make_files(tempfile.mkdtemp(prefix="kkpy-bench-io-"), args.lines)
    read("kkpy", path_of(directory, "challenge.gz"))
    print(f"{'file':14s} {'MB':>6s} {'kkpy s':>8s} {'loadtxt s':>10s} {'ratio':>6s}")
    for kind in KINDS:
        p = path_of(directory, kind)
        ours, theirs = _medians([lambda: read("kkpy", p), lambda: read("loadtxt", p)],
                                args.repeat)
        print(f"{kind:14s} {os.path.getsize(p) / 1e6:6.1f} {ours:8.3f} {theirs:10.3f} "
              f"{theirs / ours:5.1f}x")


if __name__ == "__main__":
    main()
