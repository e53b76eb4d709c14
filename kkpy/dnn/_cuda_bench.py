"""Edge rates of GPU inference on challenge-sized networks (``python -m kkpy.dnn._cuda_bench``).

Builds the network in memory (for 1024 neurons the official one, from
``--data`` or the copy kkpy ships; else ``kkpy-dnn generate``'s layers, made
one at a time as they go to the GPU), makes ``--images`` inputs as the
generator does from the real 1200 rows, and times inference: from the inputs on the
GPU to the categories on the host, median of ``--repeat`` runs after a
warm-up.  It checks the categories against the CPU (float64 scipy on a subset
of rows: rows are independent, so a subset checks exactly what it covers) and,
for the official network, against the truth file.

The last line of output is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

__all__ = ["main"]

_BIAS = {1024: -0.3, 4096: -0.35, 16384: -0.4, 65536: -0.45}


# -- problem -------------------------------------------------------------------------

def _read_tsv(path, shape):
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as fh:
        a = np.loadtxt(fh, dtype=np.float64, ndmin=2)
    r, c = a[:, 0].astype(np.int64) - 1, a[:, 1].astype(np.int64) - 1
    if shape[0] is None:  # as many rows as the file has
        shape = (int(r.max()) + 1, shape[1])
    return sp.csr_array((a[:, 2].astype(np.float32), (r, c)), shape=shape)


def _find(data, name):
    for cand in (name, name + ".gz"):
        p = os.path.join(data, cand)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(os.path.join(data, name))


def _official(data, n, nlayers):
    """The official network, input rows and (if there) truth, 0-based."""
    layers = [_read_tsv(_find(data, f"neuron{n}/n{n}-l{k}.tsv"), (n, n))
              for k in range(1, nlayers + 1)]
    rows = _read_tsv(_find(data, f"sparse-images-{n}.tsv"), (None, n))
    truth = None
    tpath = os.path.join(data, f"neuron{n}-l{nlayers}-categories.tsv")
    if os.path.exists(tpath):
        truth = np.loadtxt(tpath, dtype=np.int64, ndmin=1) - 1
    return layers, rows, truth


class _Generated:
    """The layers of ``kkpy-dnn generate``, made one at a time as they are read.

    A 65536 x 1920 network is 4e9 weights: generating each layer as the GPU
    takes it keeps the host's memory to one layer; ``observe(k, W)`` sees
    each layer too (the CPU check follows along instead of a second pass).
    """

    def __init__(self, neurons, nlayers, seed, observe=None):
        self.neurons, self.nlayers, self.seed, self.observe = neurons, nlayers, seed, observe

    def __len__(self):
        return self.nlayers

    def __iter__(self):
        from ._generate import generate_layer

        for k in range(self.nlayers):
            W = generate_layer(self.neurons, k, self.seed)
            if self.observe is not None:
                self.observe(k, W)
            yield W


class _Reference:
    """Float64 scipy recurrence on a few rows, one layer at a time (the CPU check)."""

    def __init__(self, Y, bias, ymax=32.0):
        self.Y, self.bias, self.ymax = sp.csr_array(Y, dtype=np.float64), bias, ymax

    def __call__(self, k, W):
        from ._peers import scipy_infer

        self.Y = scipy_infer(self.Y, [W], self.bias, self.ymax, dtype=np.float64)

    def categories(self):
        return np.flatnonzero(self.Y.sum(axis=1))


def _problem(a, check_rows=0):
    """(layers, inputs, bias, truth, reference) for the command line ``a``.

    1024 neurons: the official network (``--data``, else the copy kkpy
    ships) with its truth for the first 1200 rows; other sizes: the
    generator's layers and inputs (``kkpy-dnn generate``).
    """
    from ._generate import synthetic_images

    n = a.neurons
    bias = _BIAS.get(n, -0.3)
    truth = None
    if n == 1024 and a.data:
        layers, _, truth = _official(a.data, 1024, a.layers)
    elif n == 1024 and a.layers <= 120:
        from ._data import load_embedded

        layers, _, truth, _, _ = load_embedded()
        layers = layers[:a.layers]
        truth = truth if a.layers == 120 else None
    else:
        layers = _Generated(n, a.layers, a.seed)
    Y0 = sp.vstack([Y for _, Y in synthetic_images(n, a.images, a.seed)], format="csr")
    ref = _Reference(Y0[:check_rows], bias) if check_rows else None
    if ref is not None:
        if isinstance(layers, _Generated):
            layers.observe = ref
        else:
            for k, W in enumerate(layers):
                ref(k, W)
    return layers, Y0, bias, truth, ref


# -- run -----------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m kkpy.dnn._cuda_bench", description=__doc__)
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
    from ._infer_cuda import CudaNetwork

    t0 = time.perf_counter()
    checked = min(a.check_rows, a.images)
    layers, Y0, bias, truth, ref = _problem(a, checked)
    net = CudaNetwork(layers, bias, 32.0)         # generated layers are made here
    t_make = time.perf_counter() - t0
    state = net.upload(Y0)
    net.launch(state)                               # warm-up: compiles the kernels
    cats = net.categories(state)
    stats = net.layer_stats(state)
    times = {"direct": [], "graph": []}
    enqueue = []
    for mode in ("direct", "graph") * a.repeat:
        state = net.upload(Y0)
        net.synchronize()
        t1 = time.perf_counter()
        net.launch(state, timed=False, graph=mode == "graph")
        if mode == "direct":
            enqueue.append(time.perf_counter() - t1)
        got = net.categories(state)
        times[mode].append(time.perf_counter() - t1)
        if not np.array_equal(got, cats):
            raise AssertionError(f"{mode} run gave other categories")
    best = min(("direct", "graph"), key=lambda m: np.median(times[m]))
    edges = a.images * net.nnz
    t = float(np.median(times[best]))
    ok_cpu = bool(np.array_equal(cats[cats < checked], ref.categories())) if ref else None
    ok_truth = None
    if truth is not None:
        ok_truth = bool(np.array_equal(cats[cats < 1200], truth))
    from numba import cuda

    name = getattr(cuda.get_current_device(), "name", "CUDA simulator")
    out = {"device": name.decode() if isinstance(name, bytes) else name,
           "neurons": a.neurons, "layers": a.layers, "images": a.images, "edges": edges,
           "seconds": t, "launch": best, "seconds_all": times, "edges_per_second": edges / t,
           "gpu_layer_seconds": sum(s["seconds"] or 0.0 for s in stats),
           "host_enqueue_seconds": float(np.median(enqueue)),
           "graph_error": net._graph_failed,
           "categories": int(cats.size), "cpu_check_rows": checked, "cpu_match": ok_cpu,
           "truth_match": ok_truth, "setup_seconds": round(t_make, 2),
           "active_rows": [s["active_rows"] for s in stats],
           "layer_ms": [round((s["seconds"] or 0.0) * 1e3, 3) for s in stats]}
    print(f"{a.neurons} x {a.layers}, {a.images} rows: {t * 1e3:.2f} ms, "
          f"{edges / t:.3e} edges/s, {cats.size} categories, cpu match {ok_cpu}, "
          f"truth match {ok_truth}", file=sys.stderr)
    print(json.dumps(out))
    if a.save_categories:
        np.save(a.save_categories, cats)
    return 0 if ok_cpu is not False and ok_truth is not False else 1


def _main_mpi(a):
    """``mpiexec -n P``: rank r uses GPU r (mod the GPUs it sees) and a contiguous
    share of the rows with about 1/P of the input nonzeros; the rate uses the
    slowest rank's time, as in the challenge."""
    from mpi4py import MPI
    from numba import cuda

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    cuda.select_device(rank % len(cuda.gpus))
    from ._infer_cuda import CudaNetwork

    layers, Y0, bias, _, _ = _problem(a)
    nnz = np.asarray(Y0.indptr)
    cuts = np.searchsorted(nnz, np.linspace(0, nnz[-1], size + 1)[1:-1])
    bounds = [0, *cuts.tolist(), Y0.shape[0]]
    lo, hi = bounds[rank], bounds[rank + 1]
    mine = Y0[lo:hi]
    net = CudaNetwork(layers, bias, 32.0)
    state = net.upload(mine)
    net.launch(state, timed=False, graph=True)      # warm-up: compile, capture
    net.categories(state)
    times = []
    for _ in range(a.repeat):
        state = net.upload(mine)
        net.synchronize()
        comm.Barrier()
        t1 = time.perf_counter()
        net.launch(state, timed=False, graph=True)
        cats = net.categories(state) + lo
        times.append(time.perf_counter() - t1)
    alltimes = comm.gather(times, root=0)
    allcats = comm.gather(cats, root=0)
    if rank:
        return 0
    slowest = np.max(np.array(alltimes), axis=0)    # run by run, the slowest rank
    cats = np.sort(np.concatenate(allcats))
    t = float(np.median(slowest))
    edges = a.images * net.nnz
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
