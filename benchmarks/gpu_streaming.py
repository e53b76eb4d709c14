"""The GPU chain with its network resident against the same network streamed from the host.

``prepare_chain(layers, space=kkpy.Cuda(), resident=...)``, the public
call: ``True`` uploads every layer once; ``False`` keeps them on the host
and streams each one up as the products reach it (what a network larger
than the GPU does past what fits).  Both run ``kkpy.dnn.infer`` on the
same inputs from host CSR, alternating, median of ``--repeat``; the
categories must agree.  One JSON line per mode.

    python benchmarks/gpu_streaming.py --neurons 65536 --layers 120 --images 60000
"""
import argparse
import json
import time
import types

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=120)
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import kkpy
    from kkpy.dnn import _cuda_bench, categories, infer
    from kkpy.sparse import prepare_chain

    # the problem kkpy-dnn bench --space cuda runs (the official network at 1024)
    layers, Y0, bias, _, _ = _cuda_bench._problem(types.SimpleNamespace(
        neurons=args.neurons, layers=args.layers, images=args.images, data=None, seed=0))
    layers = list(layers)                       # prepared twice below
    space = kkpy.Cuda()
    chains, prepared = {}, {}
    for resident in (True, False):
        t = time.perf_counter()
        chains[resident] = prepare_chain(layers, space=space, resident=resident)
        prepared[resident] = time.perf_counter() - t
    times, want = {True: [], False: []}, None
    for _ in range(args.repeat + 1):            # the first round warms up
        for resident, chain in chains.items():
            space.fence()
            t = time.perf_counter()
            got = categories(infer(Y0, chain, bias, space=space), space=space)
            times[resident].append(time.perf_counter() - t)
            if want is None:
                want = got
            elif not np.array_equal(got, want):
                raise AssertionError("resident and streamed chains gave other categories")
    edges = args.images * chains[True].nnz
    for resident, v in times.items():
        m = float(np.median(v[1:]))
        print(json.dumps({"neurons": args.neurons, "layers": args.layers, "images": args.images,
                          "resident": resident, "streamed": chains[resident].streamed,
                          "seconds": m, "edges_per_second": edges / m,
                          "prepare_seconds": prepared[resident], "categories": int(want.size),
                          "all": [round(x, 5) for x in v[1:]]}))


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    main()
