"""kkpy.sparse's general kernels against scipy.sparse, side by side in one process.

Kernels: SpMV ``y = A @ x`` (mode "N") and ``y = A.T @ x`` (mode "T"),
transpose, COO -> CRS (``CrsMatrix.from_coo``), sort-and-merge
(``CrsMatrix.sort_and_merge``) and SpAdd ``A + B``, each through kkpy's
public functions, against scipy's one thread.

Problems (deterministic, seed 0): ``n x n`` with ``k`` random columns per row
(default 500000 x 500000, 10 per row: 5e6 entries), float64 or float32
values, int32 or int64 indices.  The COO input is the matrix's triples in a
random order, with about 1 % of them repeated; the sort-and-merge input is
the matrix with its rows shuffled in place and the same repeats.

Run with asv, or directly for one table of medians and ratios per thread
count (``python benchmarks/bench_kernels.py [--threads 1,2] [--repeat 7]
[--n 500000] [--k 10] [--dtype float64] [--index int32]``).
"""
from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp

try:  # one timing loop for every benchmark: the warm-up rationale lives there
    from .bench_sparse import _medians
except ImportError:  # run as a script
    from bench_sparse import _medians

#: Seconds of untimed calls before each timed call (see ``_medians``).
KERNELS = ("spmv_N", "spmv_T", "transpose", "from_coo", "sort_and_merge", "spadd")


def problem(n=500_000, k=10, dtype=np.float64, index=np.int32, seed=0):
    """A dict of inputs for every kernel, in scipy's and kkpy's forms."""
    rng = np.random.default_rng(seed)
    nnz = n * k
    cols = rng.integers(0, n, nnz).astype(index)
    indptr = np.arange(0, nnz + 1, k, dtype=index)
    vals = rng.random(nnz).astype(dtype)
    A = sp.csr_array((vals, cols, indptr), shape=(n, n))
    A.sum_duplicates()
    A.indices = A.indices.astype(index)
    A.indptr = A.indptr.astype(index)
    B = sp.csr_array((rng.random(nnz).astype(dtype), rng.integers(0, n, nnz).astype(index),
                      indptr.copy()), shape=(n, n))
    B.sum_duplicates()
    B.indices = B.indices.astype(index)
    B.indptr = B.indptr.astype(index)
    coo = A.tocoo()
    dup = rng.integers(0, coo.nnz, coo.nnz // 100)
    order = rng.permutation(coo.nnz + dup.size)
    r = np.concatenate([coo.row, coo.row[dup]])[order].astype(index)
    c = np.concatenate([coo.col, coo.col[dup]])[order].astype(index)
    v = np.concatenate([coo.data, coo.data[dup]])[order]
    # unsorted CRS with repeats: the COO triples grouped by row, in random order within rows
    by_row = np.argsort(r, kind="stable")
    u_ptr = np.zeros(n + 1, index)
    np.cumsum(np.bincount(r, minlength=n), out=u_ptr[1:])
    return dict(A=A, B=B, x=rng.random(n).astype(dtype), coo=(r, c, v),
                unsorted=(v[by_row], c[by_row], u_ptr))


def candidates(P, space, kernels=KERNELS):
    """``{kernel: (kkpy call, scipy call)}`` for problem ``P`` on ``space``."""
    import kkpy.sparse as ks

    A, B, x = P["A"], P["B"], P["x"]
    K, KB = ks.CrsMatrix.from_scipy(A), ks.CrsMatrix.from_scipy(B)
    n = A.shape[0]
    y = np.empty(n, x.dtype)
    r, c, v = P["coo"]
    uv, uc, up = P["unsorted"]
    U = ks.CrsMatrix(uv, uc, up, n)

    def scipy_sort_merge():
        S = sp.csr_array((uv.copy(), uc.copy(), up.copy()), shape=(n, n))
        S.sum_duplicates()
        return S

    table = {
        "spmv_N": (lambda: ks.spmv(1.0, K, x, 0.0, y, space=space), lambda: A @ x),
        "spmv_T": (lambda: ks.spmv(1.0, K, x, 0.0, y, mode="T", space=space), lambda: A.T @ x),
        "transpose": (lambda: ks.transpose(K, space=space), lambda: A.T.tocsr()),
        "from_coo": (lambda: ks.CrsMatrix.from_coo(r, c, v, (n, n), space=space),
                     lambda: sp.coo_array((v, (r, c)), shape=(n, n)).tocsr()),
        "sort_and_merge": (lambda: U.sort_and_merge(space=space), scipy_sort_merge),
        "spadd": (lambda: ks.spadd(1.0, K, 1.0, KB, space=space), lambda: A + B),
    }
    return {k: table[k] for k in kernels}


def compare(threads, repeat, kernels=KERNELS, **shape):
    """Medians (seconds) of kkpy and scipy per kernel, for each thread count."""
    import kkpy

    P = problem(**shape)
    out = {}
    for t in threads:
        space = kkpy.Threads(t)
        rows = {}
        for name, (kk, ref) in candidates(P, space, kernels).items():
            m = _medians({"kkpy": kk, "scipy": ref}, repeat)
            rows[name] = (m["kkpy"], m["scipy"])
        out[t] = rows
    return P, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", default=list(KERNELS))
    parser.add_argument("--threads", default="2", help="comma-separated list, e.g. 1,2,4,8,16")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--k", type=int, default=10, help="entries per row")
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument("--index", default="int32", choices=("int32", "int64"))
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    P, out = compare(threads, args.repeat, args.kernels, n=args.n, k=args.k,
                     dtype=np.dtype(args.dtype), index=np.dtype(args.index))
    print(f"n={args.n} nnz(A)={P['A'].nnz} {args.dtype} {args.index} repeat={args.repeat} "
          "(medians, seconds; ratio = scipy / kkpy, scipy on one thread)")
    for t, rows in out.items():
        print(f"threads={t}")
        print(f"{'kernel':>15} {'kkpy':>9} {'scipy':>9} {'ratio':>6}")
        for name, (kk, ref) in rows.items():
            print(f"{name:>15} {kk:9.4f} {ref:9.4f} {ref / kk:6.2f}", flush=True)


class Kernels:
    """asv: each kernel, kkpy on the default space and scipy, 500k x 500k with 5e6 entries."""

    params = [list(KERNELS)]
    param_names = ["kernel"]
    timeout = 600

    def setup_cache(self):
        return problem()

    def setup(self, P, name):
        import kkpy

        self.kk, self.ref = candidates(P, kkpy.DefaultExecutionSpace(), (name,))[name]
        self.kk()

    def time_kkpy(self, P, name):
        self.kk()

    def time_scipy(self, P, name):
        self.ref()


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    main()
