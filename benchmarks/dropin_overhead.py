"""What the drop-in (``kkpy.sparse.matmul``) costs over the kernel it calls, on 1e6 nonzeros.

Prints the median time of ``matmul(S, x)`` against ``spmv`` into a
preallocated ``y``, and of ``matmul(S, S)`` against ``spgemm(K, K,
drop_zeros=True)`` on the same matrix already wrapped, side by side in one
process.  Run: ``python benchmarks/dropin_overhead.py [--n 100000] [--repeat 7]``.
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp

from kkpy import sparse


def median_time(f, repeat):
    f()  # compile / warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="rows (10 nonzeros each)")
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    S = sp.random_array((args.n, args.n), density=10 / args.n, format="csr",
                        rng=np.random.default_rng(0))
    K = sparse.as_crs(S)
    x, y = np.ones(args.n), np.empty(args.n)
    pairs = [("SpMV", lambda: sparse.matmul(S, x), lambda: sparse.spmv(1.0, K, x, 0.0, y)),
             ("SpGEMM", lambda: sparse.matmul(S, S), lambda: sparse.spgemm(K, K, drop_zeros=True))]
    print(f"{args.n} x {args.n}, nnz={S.nnz}, medians of {args.repeat}")
    for name, dropin, kernel in pairs:
        td, tk = median_time(dropin, args.repeat), median_time(kernel, args.repeat)
        print(f"{name:7s} matmul {td * 1e3:9.3f} ms  kernel {tk * 1e3:9.3f} ms  "
              f"overhead {100 * (td / tk - 1):+.1f}%")


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    main()
