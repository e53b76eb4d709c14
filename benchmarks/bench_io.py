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


# -- TSV reading beside the readers a scipy/pandas user already has -----------------
# pandas (C parser and pyarrow engine), pyarrow.csv, and scipy.io.mmread of
# the same triples as a MatrixMarket file; each peer is skipped where it is
# not installed (pip install -e ".[bench]" brings pandas and pyarrow).

def _mtx_of(tsv):
    """The same triples as a MatrixMarket file beside ``tsv`` (made once)."""
    mtx = tsv.replace(".tsv", ".mtx").replace(".gz", "")
    if not os.path.exists(mtx):
        import scipy.io

        r, c, v = np.loadtxt(tsv, dtype=np.float64, unpack=True)
        n = int(max(r.max(), c.max()))
        scipy.io.mmwrite(mtx, sp.coo_array((v, (r.astype(np.int64) - 1, c.astype(np.int64) - 1)),
                                           shape=(n, n)))
    return mtx


def read_peer(peer, path):
    """Read ``path``'s triples with ``peer``; returns (rows, cols, vals) or a sparse matrix."""
    if peer == "pandas":
        import pandas as pd

        df = pd.read_csv(path, sep="\t", header=None, dtype={0: np.int64, 1: np.int64,
                                                            2: np.float32}, engine="c")
        return df[0].to_numpy() - 1, df[1].to_numpy() - 1, df[2].to_numpy()
    if peer == "pandas-pyarrow":
        import pandas as pd

        df = pd.read_csv(path, sep="\t", header=None, engine="pyarrow")
        return df[0].to_numpy() - 1, df[1].to_numpy() - 1, df[2].to_numpy(np.float32)
    if peer == "pyarrow":
        import pyarrow.csv as pacsv

        t = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                           parse_options=pacsv.ParseOptions(delimiter="\t"))
        return (t.column(0).to_numpy() - 1, t.column(1).to_numpy() - 1,
                t.column(2).to_numpy().astype(np.float32))
    if peer == "scipy.io":
        import scipy.io

        return scipy.io.mmread(_mtx_of(path))
    raise ValueError(f"unknown peer {peer!r}")


def _peer_available(peer):
    import importlib.util

    module = {"pandas": "pandas", "pandas-pyarrow": "pyarrow", "pyarrow": "pyarrow"}.get(peer)
    return module is None or importlib.util.find_spec(module) is not None


PEERS = ["pandas", "pandas-pyarrow", "pyarrow", "scipy.io"]


class ReadTSVPeers:
    """``read_tsv_coo`` against pandas, pyarrow and scipy.io on the same triples."""

    params = (KINDS, ["kkpy"] + PEERS)
    param_names = ["file", "reader"]
    timeout = 600

    def setup_cache(self):
        return make_files(tempfile.mkdtemp(prefix="kkpy-bench-io-"))

    def setup(self, directory, kind, reader):
        if reader != "kkpy" and not _peer_available(reader):
            raise NotImplementedError(f"{reader} is not installed")  # asv: skipped
        path = path_of(directory, kind)
        if reader == "scipy.io":
            _mtx_of(path)  # the conversion is set-up, not reading
        read("kkpy", path_of(directory, "challenge.gz"))

    def time_read(self, directory, kind, reader):
        if reader == "kkpy":
            read("kkpy", path_of(directory, kind))
        else:
            read_peer(reader, path_of(directory, kind))


def peers_main(argv=None):
    """Medians of kkpy and each installed peer on the same files, in one process."""
    ap = argparse.ArgumentParser(description=ReadTSVPeers.__doc__)
    ap.add_argument("--lines", type=int, default=10**6)
    ap.add_argument("--repeat", type=int, default=7)
    args, _ = ap.parse_known_args(argv)
    directory = make_files(tempfile.mkdtemp(prefix="kkpy-bench-io-"), args.lines)
    read("kkpy", path_of(directory, "challenge.gz"))
    peers = [p for p in PEERS if _peer_available(p)]
    print(f"{'file':14s} {'kkpy s':>8s} " + " ".join(f"{p + ' s':>16s}" for p in peers)
          + "  (kkpy is x faster than each)")
    for kind in KINDS:
        p = path_of(directory, kind)
        _mtx_of(p)
        fns = [lambda: read("kkpy", p)] + [lambda q=q: read_peer(q, p) for q in peers]
        ours, *theirs = _medians(fns, args.repeat)
        print(f"{kind:14s} {ours:8.3f} " + " ".join(f"{t:9.3f} ({t / ours:4.1f}x)"
                                                   for t in theirs))


# -- MatrixMarket: kkpy.sparse.io against scipy.io, both ways ---------------------

def mtx_matrix(nnz=10**6):
    """200k x 200k (or nnz / 5 square) random CSR of uniform doubles, seed 0."""
    n = max(10, nnz // 5)
    return sp.random_array((n, n), density=nnz / n / n, rng=np.random.default_rng(0),
                           format="csr")


class MatrixMarket:
    """``read_mtx`` / ``write_mtx`` against ``scipy.io.mmread`` / ``mmwrite``.

    The file is scipy's own (``mmwrite``: shortest round-trip digits).
    Reading into COO compares like with like (``mmread`` returns COO);
    ``read_mtx`` builds a CrsMatrix, against ``mmread(...).tocsr()``.
    """

    params = (["read-coo", "read-csr", "write"], ["kkpy", "scipy"])
    param_names = ["op", "library"]
    timeout = 600

    def setup_cache(self):
        import scipy.io

        directory = tempfile.mkdtemp(prefix="kkpy-bench-mtx-")
        scipy.io.mmwrite(os.path.join(directory, "a.mtx"), mtx_matrix())
        return directory

    def setup(self, directory, op, library):
        self.a = mtx_matrix()
        self.path = os.path.join(directory, "a.mtx")
        self.out = os.path.join(directory, f"out-{library}.mtx")
        mtx_op(op, library, self.path, self.out, self.a)  # compiles on first use

    def time_mtx(self, directory, op, library):
        mtx_op(op, library, self.path, self.out, self.a)


def mtx_op(op, library, path, out, a):
    import scipy.io

    from kkpy.sparse import io as kio

    if op == "read-coo":
        return kio.read_mtx_coo(path) if library == "kkpy" else scipy.io.mmread(path)
    if op == "read-csr":
        return kio.read_mtx(path) if library == "kkpy" else scipy.io.mmread(path).tocsr()
    return kio.write_mtx(out, a) if library == "kkpy" else scipy.io.mmwrite(out, a)


def mtx_main(argv=None):
    """Medians of kkpy and scipy.io on one MatrixMarket file, in one process."""
    import scipy.io

    ap = argparse.ArgumentParser(description=MatrixMarket.__doc__.split("\n\n")[0])
    ap.add_argument("--nnz", type=int, default=10**6)
    ap.add_argument("--repeat", type=int, default=7)
    args, _ = ap.parse_known_args(argv)
    directory = tempfile.mkdtemp(prefix="kkpy-bench-mtx-")
    a = mtx_matrix(args.nnz)
    path = os.path.join(directory, "a.mtx")
    scipy.io.mmwrite(path, a)
    print(f"MatrixMarket, {a.shape[0]}x{a.shape[1]}, {a.nnz} entries, "
          f"{os.path.getsize(path) / 1e6:.1f} MB")
    print(f"{'op':10s} {'kkpy s':>8s} {'scipy s':>8s} {'scipy/kkpy':>10s}")
    for op in MatrixMarket.params[0]:
        outs = [os.path.join(directory, f"out-{lib}.mtx") for lib in ("kkpy", "scipy")]
        fns = [lambda lib=lib, o=o: mtx_op(op, lib, path, o, a)
               for lib, o in zip(("kkpy", "scipy"), outs)]
        ours, theirs = _medians(fns, args.repeat)
        print(f"{op:10s} {ours:8.3f} {theirs:8.3f} {theirs / ours:9.2f}x")


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    main()
    peers_main()
    mtx_main()
