"""What the sparse entries' input validation costs, next to the kernels it guards.

For a random matrix with ``--nnz`` entries, prints the median time of:

* the O(nnz) structure check alone (:func:`kkpy.sparse._validate.structure`);
* ``spmv`` on a CrsMatrix checked once (the memo; no per-call pass), on a
  scipy matrix (checked at every call) and with the check skipped
  (``unsafe_skip_validation``), the kernel alone;
* ``spgemm`` (``A @ A``) with and without the check;

and the check's cost as a fraction of each kernel.  Everything runs in one
process, side by side; rerun alone on a quiet host for final figures.

Usage::

    python benchmarks/validation_cost.py --nnz 2000000 --threads 2 --repeats 15
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def median_time(fn, repeats):
    fn()  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nnz", type=int, default=2_000_000)
    ap.add_argument("--row-nnz", type=int, default=16, help="entries per row (SpMV)")
    ap.add_argument("--gemm-row-nnz", type=int, default=8, help="entries per row (SpGEMM)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)

    import scipy.sparse as sp

    import kkpy
    from kkpy import sparse
    from kkpy.sparse import _validate

    space = kkpy.Threads(num_threads=args.threads) if args.threads else kkpy.DefaultExecutionSpace()

    def random_csr(row_nnz):
        n = args.nnz // row_nnz
        rng = np.random.default_rng(0)
        cols = rng.integers(0, n, size=n * row_nnz).astype(np.int32)
        indptr = np.arange(0, n * row_nnz + 1, row_nnz, dtype=np.int32)
        return sp.csr_array((rng.random(n * row_nnz), cols, indptr), shape=(n, n))

    S = random_csr(args.row_nnz)
    A = sparse.CrsMatrix.from_scipy(S).copy()  # owns its arrays: checked once
    x = np.ones(S.shape[1])
    y = np.zeros(S.shape[0])
    rm, ent, val = (np.asarray(a) for a in (A.row_map, A.entries, A.values))

    check = median_time(lambda: _validate.structure("bench", "A", rm, ent, val, A.ncols,
                                                             space=space),
                        args.repeats)

    def spmv_skip():
        with sparse.unsafe_skip_validation():
            sparse.spmv(1.0, A, x, 0.0, y, space=space)

    t_skip = median_time(spmv_skip, args.repeats)
    t_memo = median_time(lambda: sparse.spmv(1.0, A, x, 0.0, y, space=space), args.repeats)
    t_scipy = median_time(lambda: sparse.spmv(1.0, S, x, 0.0, y, space=space), args.repeats)
    print(f"nnz={A.nnz}, {A.nrows} rows, index {A.index_dtype}, {space.concurrency()} threads")
    print(f"structure check alone             {check * 1e3:8.3f} ms")
    print(f"spmv, check skipped (kernel)      {t_skip * 1e3:8.3f} ms")
    print(f"spmv, CrsMatrix checked once      {t_memo * 1e3:8.3f} ms  "
          f"({(t_memo / t_skip - 1) * 100:+.1f}% vs kernel)")
    print(f"spmv, scipy matrix (checked/call) {t_scipy * 1e3:8.3f} ms  "
          f"({(t_scipy / t_skip - 1) * 100:+.1f}% vs kernel)")
    print(f"check / spmv kernel               {check / t_skip * 100:8.1f} %")

    G = random_csr(args.gemm_row_nnz)
    B = sparse.CrsMatrix.from_scipy(G).copy()
    g_rm, g_ent, g_val = (np.asarray(a) for a in (B.row_map, B.entries, B.values))
    g_check = median_time(lambda: _validate.structure("bench", "B", g_rm, g_ent, g_val, B.ncols,
                                                               space=space),
                          max(3, args.repeats // 3))

    def gemm_skip():
        with sparse.unsafe_skip_validation():
            sparse.spgemm(G, G, space=space)

    t_gskip = median_time(gemm_skip, max(3, args.repeats // 3))
    t_gscipy = median_time(lambda: sparse.spgemm(G, G, space=space), max(3, args.repeats // 3))
    print(f"spgemm A@A nnz(A)={B.nnz}: check skipped {t_gskip * 1e3:8.1f} ms, scipy input "
          f"checked {t_gscipy * 1e3:8.1f} ms ({(t_gscipy / t_gskip - 1) * 100:+.1f}%); "
          f"two checks / kernel {2 * g_check / t_gskip * 100:.2f} %")


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    main()
