"""SpGEMM benchmarks: kkpy against scipy and SuiteSparse:GraphBLAS (python-graphblas).

Problems (all deterministic):

- ``W1024``, ``W65536``: ``W @ W`` for a Sparse DNN Graph Challenge layer
  (N x N, 32 entries per row and column, weights 1/16);
- ``powerlaw``: ``A @ A`` for a square Chung-Lu power-law matrix with about
  1e6 entries (exponent 3, seed 0);
- ``YW``: ``Y @ W`` with the 1200 real challenge input rows tiled to 60000
  (float32) and the first real 1024-neuron layer.

Run with asv, or directly for a table of medians and ratios measured in one
process (``python benchmarks/bench_sparse.py [--threads 2] [--repeat 5]``).
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


PROBLEMS = {
    "W1024": lambda: (challenge_layer(1024),) * 2,
    "W65536": lambda: (challenge_layer(65536),) * 2,
    "powerlaw": lambda: (power_law(),) * 2,
    "YW": images_and_layer,
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


class SpGEMMGraphBLAS:
    """asv: SuiteSparse:GraphBLAS on 2 threads, for comparison."""

    params = list(PROBLEMS)
    param_names = ["problem"]
    timeout = 600

    def setup(self, name):
        try:
            self.run = _graphblas(*problem(name), 2)
        except ImportError:
            raise NotImplementedError("python-graphblas is not installed")
        self.run()

    def time_graphblas(self, name):
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
    """Medians (seconds) and ratios for every problem, all measured in this process."""
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
        got = one_shot().to_scipy()
        assert got.shape == ref.shape and abs(got - ref).max() <= 1e-4 * abs(ref).max()

        def sym_num():
            hh = sparse.SpGEMMHandle()
            CC = sparse.spgemm_symbolic(hh, kA, kB, space=space)
            sparse.spgemm_numeric(hh, kA, kB, CC, space=space)

        fns = {"kkpy": one_shot, "sym+num": sym_num,
               "numeric": lambda: sparse.spgemm_numeric(h, kA, kB, C, space=space),
               "scipy": lambda: A @ B}
        try:
            fns["graphblas"] = _graphblas(A, B, threads)
        except ImportError:
            pass
        for fn in fns.values():
            fn()  # warm up: compile, load caches, fault pages in
        t = _medians(fns, repeat)
        rows.append((name, A.shape, A.nnz, ref.nnz, h.accumulator, t))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"threads={args.threads} repeat={args.repeat} (medians, seconds)")
    head = ("problem", "nnz(A)", "nnz(C)", "acc", "kkpy", "sym+num", "numeric", "scipy",
            "graphblas", "scipy/kkpy", "gb/kkpy", "(s+n)/num")
    print(("{:>9} " * len(head)).format(*head))
    for name, shape, nnz, cnnz, acc, t in compare(args.problems, args.threads, args.repeat):
        gb = t.get("graphblas", float("nan"))
        print(f"{name:>9} {nnz:>9} {cnnz:>9} {acc:>9} {t['kkpy']:9.4f} {t['sym+num']:9.4f} "
              f"{t['numeric']:9.4f} {t['scipy']:9.4f} {gb:9.4f} {t['scipy'] / t['kkpy']:9.2f} "
              f"{gb / t['kkpy']:9.2f} {t['sym+num'] / t['numeric']:9.2f}", flush=True)


if __name__ == "__main__":
    main()
