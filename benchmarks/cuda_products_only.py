"""Diagnostic, not a headline figure: the GPU chain timed as the old engine's bench timed itself.

The issue's "inputs already on the GPU" rates (2.93e13 at 1024 x 120) came
from the engine kkpy.sparse's chain replaced, whose bench loaded the inputs
into its dense batches and synchronised *before* starting the clock: it
timed the products and the categories only.  The public resident call
(``python -m kkpy.dnn._cuda_bench``) also checks the input ``DeviceCrs``,
finds its live rows and loads them.  This script times both in one
process, alternating: ``public`` is the public call; ``like_old`` starts
the clock at a ``cuda.synchronize()`` inserted just before the products'
CUDA graph is launched, as the old bench did.  It patches a private
function, so it is a measuring aid, not an API.

    python benchmarks/cuda_products_only.py 1024
"""
import sys
import time
import types

import numpy as np


def main(neurons=1024, repeat=9):
    from numba import cuda

    import kkpy
    from kkpy.dnn import _cuda_bench, categories, infer
    from kkpy.sparse import DeviceCrs, prepare_chain
    from kkpy.sparse.cuda import _chain

    a = types.SimpleNamespace(neurons=neurons, layers=120, images=60000, data=None, seed=0)
    layers, Y0, bias, _, _ = _cuda_bench._problem(a, 0)
    space = kkpy.Cuda()
    chain = prepare_chain(layers, space=space)
    resident = DeviceCrs.from_host(Y0.astype(np.float32))
    want = categories(infer(resident, chain, bias, space=space), space=space)
    replay, mark = _chain._replay, {}

    def synced(*args, **kw):
        cuda.synchronize()
        mark["t"] = time.perf_counter()
        return replay(*args, **kw)

    times = {"public": [], "like_old": []}
    try:
        for _ in range(repeat):
            for mode in times:
                _chain._replay = synced if mode == "like_old" else replay
                space.fence()
                t = time.perf_counter()
                got = categories(infer(resident, chain, bias, space=space), space=space)
                end = time.perf_counter()
                times[mode].append(end - (mark["t"] if mode == "like_old" else t))
                if not np.array_equal(got, want):
                    raise AssertionError("a timed run gave other categories")
    finally:
        _chain._replay = replay
    edges = a.images * chain.nnz
    for mode, v in times.items():
        m = float(np.median(v))
        print(f"{neurons} {mode}: {m * 1e3:.2f} ms {edges / m:.3e} edges/s "
              f"(all {[round(x * 1e3, 2) for x in v]})")


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    main(*(int(x) for x in sys.argv[1:]))
