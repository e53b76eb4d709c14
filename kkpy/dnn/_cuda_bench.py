"""Edge rates of GPU inference on challenge-sized networks (``python -m kkpy.dnn._cuda_bench``).

Builds the network in memory (for 1024 neurons the official one, from
``--data`` or the copy kkpy ships; else ``kkpy-dnn generate``'s layers, made
one at a time as they go to the GPU), makes ``--images`` inputs as the
generator does from the real 1200 rows, and times the public path, median
of ``--repeat`` runs after a warm-up:

* **resident**: ``categories(infer(Y0, chain, bias, space=Cuda()))`` with the
  inputs already on the GPU (a ``DeviceCrs``), to the categories on the host;
* **end to end**: the same from the inputs as a host CSR.

``chain`` is ``kkpy.sparse.prepare_chain(layers, space=Cuda())``, made once
(untimed, like loading).  It checks the categories against the CPU (float64
scipy on a subset of rows: rows are independent, so a subset checks exactly
what it covers) and, for the official network, against the truth file.

The last line of output is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import scipy.sparse as sp

import kkpy

__all__ = ["main"]


def _problem(a, check_rows=0):
    """(layers, inputs, bias, truth, reference) for the command line ``a``.

    1024 neurons: the official network (``--data``, else the copy kkpy
    ships) with its truth for the first 1200 rows; other sizes: the
    generator's layers and inputs (``kkpy-dnn generate``).
    """
    from ._data import bias_for, challenge_paths, load_embedded, load_layers, load_truth
    from ._generate import GeneratedLayers, synthetic_images
    from ._peers import ScipyReference

    n = a.neurons
    bias = bias_for(n)
    truth = None
    if n == 1024 and a.data:
        layers = load_layers(a.data, 1024, a.layers)
        path = challenge_paths(a.data, 1024, a.layers).truth
        truth = load_truth(path) if path and a.layers == 120 else None
    elif n == 1024 and a.layers <= 120:
        layers, _, truth, _, _ = load_embedded()
        layers = layers[:a.layers]
        truth = truth if a.layers == 120 else None
    else:
        layers = GeneratedLayers(n, a.layers, a.seed)
    Y0 = sp.vstack([Y for _, Y in synthetic_images(n, a.images, a.seed)], format="csr")
    ref = ScipyReference(Y0[:check_rows], bias) if check_rows else None
    if ref is not None:
        if isinstance(layers, GeneratedLayers):
            layers.observe = ref
        else:
            for k, W in enumerate(layers):
                ref(k, W)
    return layers, Y0, bias, truth, ref


# -- run -----------------------------------------------------------------------------

def _run(chain, Y0, bias, space):
    """The public path: inference and the categories on the host."""
    from ._infer import categories, infer

    return categories(infer(Y0, chain, bias, space=space), space=space)


def _times(chain, Y0, bias, space, repeat, expect):
    times = []
    for _ in range(repeat):
        space.fence()
        t = time.perf_counter()
        got = _run(chain, Y0, bias, space)
        times.append(time.perf_counter() - t)
        if not np.array_equal(got, expect):
            raise AssertionError("a timed run gave other categories")
    return times


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m kkpy.dnn._cuda_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neurons", type=int, default=1024)
    p.add_argument("--layers", type=int, default=120)
    p.add_argument("--images", type=int, default=60000)
    p.add_argument("--data", default=None,
                   help="official files (1024-neuron network; default: the copy kkpy ships)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--check-rows", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-categories", default=None, help="write the categories (.npy)")
    p.add_argument("--mpi", action="store_true",
                   help="one rank per GPU: rows split by nonzeros; compare with --expect")
    p.add_argument("--expect", default=None, help="categories (.npy) the run must give")
    a = p.parse_args(argv)
    if a.mpi:
        return _main_mpi(a)
    from ..sparse import DeviceCrs, prepare_chain
    from ._infer import infer

    space = kkpy.Cuda()
    t0 = time.perf_counter()
    checked = min(a.check_rows, a.images)
    layers, Y0, bias, truth, ref = _problem(a, checked)
    chain = prepare_chain(layers, space=space)      # generated layers are made here
    t_make = time.perf_counter() - t0
    resident = DeviceCrs.from_host(Y0.astype(np.float32))
    cats = _run(chain, resident, bias, space)       # warm-up: compiles, captures the graph
    _run(chain, Y0, bias, space)
    stats = []
    infer(resident, chain, bias, space=space, callback=lambda k, s: stats.append(s))
    times = _times(chain, resident, bias, space, a.repeat, cats)
    times_e2e = _times(chain, Y0, bias, space, a.repeat, cats)
    edges = a.images * chain.nnz
    t, t_e2e = float(np.median(times)), float(np.median(times_e2e))
    ok_cpu = bool(np.array_equal(cats[cats < checked], ref.categories())) if ref else None
    ok_truth = None
    if truth is not None:
        ok_truth = bool(np.array_equal(cats[cats < 1200], truth))
    from numba import cuda

    name = getattr(cuda.get_current_device(), "name", "CUDA simulator")
    out = {"device": name.decode() if isinstance(name, bytes) else name,
           "neurons": a.neurons, "layers": a.layers, "images": a.images, "edges": edges,
           "seconds": t, "edges_per_second": edges / t, "seconds_all": times,
           "seconds_end_to_end": t_e2e, "edges_per_second_end_to_end": edges / t_e2e,
           "seconds_end_to_end_all": times_e2e,
           "gpu_layer_seconds": sum(s["seconds"] or 0.0 for s in stats),
           "graph_error": chain.graph_error,
           "categories": int(cats.size), "cpu_check_rows": checked, "cpu_match": ok_cpu,
           "truth_match": ok_truth, "setup_seconds": round(t_make, 2),
           "active_rows": [s["active_rows"] for s in stats],
           "layer_ms": [round((s["seconds"] or 0.0) * 1e3, 3) for s in stats]}
    print(f"{a.neurons} x {a.layers}, {a.images} rows: resident {t * 1e3:.2f} ms, "
          f"{edges / t:.3e} edges/s; from the host {t_e2e * 1e3:.2f} ms, "
          f"{edges / t_e2e:.3e} edges/s; {cats.size} categories, cpu match {ok_cpu}, "
          f"truth match {ok_truth}", file=sys.stderr)
    print(json.dumps(out))
    if a.save_categories:
        np.save(a.save_categories, cats)
    return 0 if ok_cpu is not False and ok_truth is not False else 1


def _main_mpi(a):
    """``mpiexec -n P``: rank r uses GPU r (mod the GPUs its node has) and a contiguous
    share of the rows with about 1/P of the work; the rate uses the slowest
    rank's time, as in the challenge."""
    from mpi4py import MPI
    from numba import cuda

    from ..sparse import prepare_chain
    from ._mpi import local_rank, split_rows

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    space = kkpy.Cuda(device_id=local_rank(comm) % len(cuda.gpus))
    layers, Y0, bias, _, _ = _problem(a)
    bounds = split_rows(np.diff(Y0.indptr), size)
    lo, hi = int(bounds[rank]), int(bounds[rank + 1])
    mine = Y0[lo:hi]
    chain = prepare_chain(layers, space=space)
    _run(chain, mine, bias, space)                  # warm-up: compile, capture
    times = []
    for _ in range(a.repeat):
        space.fence()
        comm.Barrier()
        t1 = time.perf_counter()
        cats = _run(chain, mine, bias, space) + lo
        times.append(time.perf_counter() - t1)
    alltimes = comm.gather(times, root=0)
    allcats = comm.gather(cats, root=0)
    if rank:
        return 0
    slowest = np.max(np.array(alltimes), axis=0)    # run by run, the slowest rank
    cats = np.sort(np.concatenate(allcats))
    t = float(np.median(slowest))
    edges = a.images * chain.nnz
    match = None
    if a.expect:
        match = bool(np.array_equal(cats, np.load(a.expect)))
    out = {"neurons": a.neurons, "layers": a.layers, "images": a.images, "ranks": size,
           "gpus": len(cuda.gpus), "seconds": t, "seconds_all": slowest.tolist(),
           "edges_per_second": edges / t, "categories": int(cats.size),
           "categories_match_one_gpu": match, "rows_per_rank": np.diff(bounds).tolist()}
    print(f"{size} ranks: {t * 1e3:.2f} ms, {edges / t:.3e} edges/s, match {match}",
          file=sys.stderr)
    print(json.dumps(out))
    if a.save_categories:
        np.save(a.save_categories, cats)
    return 0 if match is not False else 1


if __name__ == "__main__":
    sys.exit(main())
