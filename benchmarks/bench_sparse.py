"""SpGEMM benchmarks: kkpy against scipy, SuiteSparse:GraphBLAS and Intel MKL.

The peers are scipy (one thread), python-graphblas and ``sparse-dot-mkl``
(``dot_product_mkl`` with the ``mkl`` wheel), each skipped when absent;
GraphBLAS and MKL get as many threads as kkpy.  Problems (all deterministic):

- ``W1024``, ``W65536``: ``W @ W`` for a Sparse DNN Graph Challenge layer
  (N x N, 32 entries per row and column, weights 1/16);
- ``powerlaw``: ``A @ A`` for a square Chung-Lu power-law matrix with about
  1e6 entries (exponent 3, seed 0);
- ``YW``: ``Y @ W`` with the 1200 real challenge input rows tiled to 60000
  (float32) and the first real 1024-neuron layer;
- ``poisson``: ``A @ A`` for the 5-point 2D Laplacian on a 700 x 700 grid
  (a low-flop product: 25 products and 13 entries per row of ``C``);
- ``uniform``: ``A @ A`` for a 200000 x 200000 matrix with 6 uniformly
  random entries per row (seed 0);
- ``tallskinny``: ``A @ B`` with ``A`` 500000 x 500000, 4 random entries
  per row, and ``B`` 500000 x 64 (tall and skinny), 2 per row (seed 0).

Run with asv, or directly for a table of medians and ratios measured in one
process (``python benchmarks/bench_sparse.py [--threads 1,2] [--repeat 5]``):
one table per thread count, with the best peer and the geometric mean.
"""
from __future__ import annotations

import argparse
import gzip
import os
import time

import numpy as np
import scipy.sparse as sp

SHARED = os.environ.get("KKPY_CHALLENGE_DATA", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "graphchallenge"))


def challenge_layer(neurons):
    """A challenge layer: from the generator when it exists, else the same structure here.

    Row ``i`` connects to columns ``{(r - 1) mod B, r} + B*m`` (``m < 16``,
    ``r = i mod B``, ``B = N/16``), the first layer of the public networks.
    """
    try:
        from kkpy.dnn._generate import generate_layer

        return sp.csr_array(generate_layer(neurons, 0, np.random.default_rng(0)),
                            dtype=np.float32)
    except ImportError:
        pass
    B = neurons // 16
    r = np.arange(neurons) % B
    base = np.stack([(r - 1) % B, r], axis=1)
    cols = (base[:, :, None] + B * np.arange(16)).reshape(neurons, 32)
    cols.sort(axis=1)
    return sp.csr_array((np.full(cols.size, 1 / 16, np.float32), cols.ravel(),
                         np.arange(0, cols.size + 1, 32)), shape=(neurons, neurons))


def power_law(n=100_000, nnz=1_050_000, exponent=3.0, seed=0):
    """A Chung-Lu random matrix: row and column degrees follow a power law."""
    rng = np.random.default_rng(seed)
    weight = np.arange(1, n + 1) ** (-1 / (exponent - 1))
    p = weight / weight.sum()
    rows, cols = rng.choice(n, nnz, p=p), rng.choice(n, nnz, p=p)
    A = sp.csr_array((rng.random(nnz), (rows, cols)), shape=(n, n))
    A.sum_duplicates()
    return A


def _tsv(path, shape):
    with gzip.open(path) as fh:
        d = np.loadtxt(fh)
    return sp.csr_array((d[:, 2].astype(np.float32), (d[:, 0].astype(np.int64) - 1,
                                                      d[:, 1].astype(np.int64) - 1)), shape=shape)


def images_and_layer(rows=60_000):
    """The 1200 real input rows tiled to ``rows`` rows, and the first real layer."""
    try:
        from kkpy.dnn._data import load_embedded

        layers, images, *_ = load_embedded()
        Y, W = sp.csr_array(images, dtype=np.float32), sp.csr_array(layers[0], dtype=np.float32)
    except ImportError:
        if not os.path.isdir(SHARED):
            raise NotImplementedError("no challenge data (embedded or shared)")
        Y = _tsv(os.path.join(SHARED, "sparse-images-1024.tsv.gz"), (1200, 1024))
        W = _tsv(os.path.join(SHARED, "neuron1024", "n1024-l1.tsv.gz"), (1024, 1024))
    reps = -(-rows // Y.shape[0])
    return sp.csr_array(sp.vstack([Y] * reps, format="csr")[:rows]), W


def poisson2d(n=700):
    """The 5-point Laplacian on an ``n`` x ``n`` grid (``n**2`` rows, 5 entries per row)."""
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(n, n))
    eye = sp.eye_array(n)
    return sp.csr_array(sp.kron(T, eye) + sp.kron(eye, T))


def uniform(nrows, ncols, per_row, seed=0):
    """``nrows`` x ``ncols`` with ``per_row`` uniformly random columns per row (duplicates summed)."""
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, ncols, nrows * per_row)
    rows = np.repeat(np.arange(nrows), per_row)
    A = sp.csr_array((rng.random(cols.size), (rows, cols)), shape=(nrows, ncols))
    A.sum_duplicates()
    return A


PROBLEMS = {
    "W1024": lambda: (challenge_layer(1024),) * 2,
    "W65536": lambda: (challenge_layer(65536),) * 2,
    "powerlaw": lambda: (power_law(),) * 2,
    "YW": images_and_layer,
    "poisson": lambda: (poisson2d(),) * 2,
    "uniform": lambda: (uniform(200_000, 200_000, 6),) * 2,
    "tallskinny": lambda: (uniform(500_000, 500_000, 4), uniform(500_000, 64, 2, seed=1)),
}
_cache: dict = {}


def problem(name):
    if name not in _cache:
        _cache[name] = PROBLEMS[name]()
    return _cache[name]


def _graphblas(A, B, threads):
    import graphblas as gb

    gb.ss.config["nthreads"] = threads
    gA, gB = gb.io.from_scipy_sparse(A), gb.io.from_scipy_sparse(B)

    def run():
        C = gA.mxm(gB).new()
        C.wait()  # GraphBLAS may defer work (e.g. sorting); count all of it
        # A python-graphblas Matrix sits in a reference cycle, so dropping it frees
        # nothing until the garbage collector runs: results piled up (1 GB a round
        # on the power law) and slowed every library.  Free it here, as kkpy's and
        # scipy's results are freed when the timed call drops them.
        C.clear()

    return run


def _mkl_module():
    """``sparse_dot_mkl``, pointed at the ``mkl`` wheel's runtime if it cannot find one."""
    import sys

    if "MKL_RT" not in os.environ:
        for lib in ("libmkl_rt.so.2", "libmkl_rt.so.3", "libmkl_rt.so"):
            path = os.path.join(sys.prefix, "lib", lib)
            if os.path.exists(path):
                os.environ["MKL_RT"] = path
    try:
        import sparse_dot_mkl
    except (ImportError, OSError) as err:  # not installed, or no MKL runtime
        raise ImportError(str(err)) from err
    return sparse_dot_mkl


def _mkl(A, B, threads):
    mkl = _mkl_module()
    mkl.mkl_set_num_threads(threads)
    A, B = sp.csr_matrix(A), sp.csr_matrix(B)

    def run():
        return mkl.dot_product_mkl(A, B)

    return run


def peers(A, B, threads):
    """The peers' timed calls that can run here: scipy, and GraphBLAS and MKL if present."""
    fns = {"scipy": lambda: A @ B}
    for name, make in (("graphblas", _graphblas), ("mkl", _mkl)):
        try:
            fns[name] = make(A, B, threads)
        except ImportError:
            pass
    return fns


class SpGEMM:
    """asv: one-shot products, and the symbolic/numeric phases, on 2 threads."""

    params = list(PROBLEMS)
    param_names = ["problem"]
    timeout = 600

    def setup(self, name):
        import kkpy
        from kkpy import sparse

        self.A, self.B = problem(name)
        self.space = kkpy.Threads(min(2, kkpy.Threads().concurrency()))
        self.kA, self.kB = sparse.as_crs(self.A), sparse.as_crs(self.B)
        self.handle = sparse.SpGEMMHandle()
        self.C = sparse.spgemm_symbolic(self.handle, self.kA, self.kB, space=self.space)
        sparse.spgemm(self.kA, self.kB, space=self.space)  # compile / load outside timing

    def time_kkpy_spgemm(self, name):
        from kkpy import sparse

        sparse.spgemm(self.kA, self.kB, space=self.space)

    def time_kkpy_symbolic_numeric(self, name):
        from kkpy import sparse

        h = sparse.SpGEMMHandle()
        C = sparse.spgemm_symbolic(h, self.kA, self.kB, space=self.space)
        sparse.spgemm_numeric(h, self.kA, self.kB, C, space=self.space)

    def time_kkpy_numeric_reuse(self, name):
        from kkpy import sparse

        sparse.spgemm_numeric(self.handle, self.kA, self.kB, self.C, space=self.space)

    def time_scipy(self, name):
        self.A @ self.B


class _PeerSetup:
    """asv setup of one peer's product on 2 threads (``make``: the peer's factory)."""

    params = list(PROBLEMS)
    param_names = ["problem"]
    timeout = 600

    def setup(self, name):
        try:
            self.run = self.make(*problem(name), 2)
        except ImportError:
            raise NotImplementedError(f"{type(self).__name__}: the peer is not installed")
        self.run()


class SpGEMMGraphBLAS(_PeerSetup):
    """asv: SuiteSparse:GraphBLAS on 2 threads, for comparison."""

    make = staticmethod(_graphblas)

    def time_graphblas(self, name):
        self.run()


class SpGEMMMKL(_PeerSetup):
    """asv: Intel MKL (sparse-dot-mkl) on 2 threads, for comparison."""

    make = staticmethod(_mkl)

    def time_mkl(self, name):
        self.run()


#: Seconds each function runs, untimed, before each timed call of it.
WARM = 0.05


def _medians(fns, repeat):
    """Median seconds of each function, taking turns so that load changes hit all alike.

    Each timed call comes after ``WARM`` seconds (at least one call) of the
    same function, so that every library is timed in its steady state, as
    asv times repeated calls.  Measured on the 2-core VM, kkpy's W @ W (1024
    neurons, 1.6 ms back to back) otherwise took:

    - 2.8 ms straight after GraphBLAS: kkpy (numba's OpenMP pool) and
      GraphBLAS (the OpenMP runtime its wheel bundles) each leave worker
      threads spinning for milliseconds after a parallel region, and the
      library timed next loses a core to them;
    - 2.6-3.4 ms after 30 ms of idling, even after 5 untimed calls: an idle
      virtual core takes tens of milliseconds of load to run at full speed
      again (50 ms brought it back to 1.7 ms).
    """
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            while time.perf_counter() - start < WARM:
                fn()
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


def compare(names, threads, repeat):
    """Medians (seconds) for every problem on ``threads`` threads, all measured in this process."""
    import kkpy
    from kkpy import sparse

    space = kkpy.Threads(threads)
    rows = []
    for name in names:
        A, B = problem(name)
        kA, kB = sparse.as_crs(A), sparse.as_crs(B)
        h = sparse.SpGEMMHandle()
        C = sparse.spgemm_symbolic(h, kA, kB, space=space)
        one_shot = lambda: sparse.spgemm(kA, kB, space=space)  # noqa: E731
        ref = A @ B
        for got in (one_shot(), sparse.spgemm_numeric(h, kA, kB, C, space=space)):
            got = got.to_scipy()
            assert got.shape == ref.shape and abs(got - ref).max() <= 1e-4 * abs(ref).max()

        def sym_num():
            hh = sparse.SpGEMMHandle()
            CC = sparse.spgemm_symbolic(hh, kA, kB, space=space)
            sparse.spgemm_numeric(hh, kA, kB, CC, space=space)

        fns = {"kkpy": one_shot, "sym+num": sym_num,
               "numeric": lambda: sparse.spgemm_numeric(h, kA, kB, C, space=space),
               **peers(A, B, threads)}
        for fn in fns.values():
            fn()  # warm up: compile, load caches, fault pages in
        t = _medians(fns, repeat)
        rows.append((name, A.nnz, ref.nnz, h.accumulator, t))
    return rows


PEERS = ("scipy", "graphblas", "mkl")


def table(rows):
    """The lines of one thread count's table: times, ratios, best peer, geometric means."""
    head = ("problem", "nnz(A)", "nnz(C)", "acc", "kkpy", "sym+num", "numeric", *PEERS,
            "best", "best/kkpy", "scipy/kkpy", "gb/kkpy", "mkl/kkpy", "(s+n)/num")
    lines = [("{:>10} " * len(head)).format(*head)]
    ratios = []
    for name, nnz, cnnz, acc, t in rows:
        peer = {k: t.get(k, float("nan")) for k in PEERS}
        best = min((k for k in PEERS if k in t), key=t.get)
        r = [t[best] / t["kkpy"]] + [peer[k] / t["kkpy"] for k in PEERS]
        r.append(t["sym+num"] / t["numeric"])
        ratios.append(r)
        times = " ".join(f"{t[k]:10.4f}" for k in ("kkpy", "sym+num", "numeric"))
        lines.append(f"{name:>10} {nnz:>10} {cnnz:>10} {acc:>10} {times} "
                     + " ".join(f"{peer[k]:10.4f}" for k in PEERS) + f" {best:>10} "
                     + " ".join(f"{x:10.2f}" for x in r))
    with np.errstate(invalid="ignore"):
        gm = np.exp(np.mean(np.log(np.array(ratios)), axis=0))
        low = np.min(np.array(ratios), axis=0)
    lines.append(f"{'geomean':>10} " + " " * 10 * 12 + " ".join(f"{x:10.2f}" for x in gm))
    lines.append(f"{'worst':>10} " + " " * 10 * 12 + " ".join(f"{x:10.2f}" for x in low))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--threads", default="2",
                        help="thread counts, comma-separated (one table each), e.g. 1,2,4")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    for threads in (int(x) for x in args.threads.split(",")):
        print(f"threads={threads} repeat={args.repeat} (medians, seconds; scipy has one "
              "thread, the other peers as many as kkpy)")
        for line in table(compare(args.problems, threads, args.repeat)):
            print(line, flush=True)


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    main()
