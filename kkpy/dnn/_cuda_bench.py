"""Edge rates of GPU inference on challenge-sized networks (``python -m kkpy.dnn._cuda_bench``).

Builds the network in memory (the official 1024-neuron one when ``--data``
points at the official files, else generated), makes ``--images`` inputs from
the real 1200 rows, uploads both, and times inference: from the inputs on the
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


def _layers(n, nlayers, seed):
    """The challenge's layers for ``n`` neurons (the rule measured on the public files).

    B = n/16; layers come in blocks of log2(B); in layer k of a block, row i
    connects to columns {(r - 2^k) mod B, r} + B*m, m = 0..15, r = P(i) mod B,
    with P a random row permutation per block (the identity in the first);
    every weight is 1/16.
    """
    b = n // 16
    per_block = int(np.log2(b))
    rng = np.random.default_rng(seed)
    perm = np.arange(n)
    out = []
    for layer in range(nlayers):
        block, k = divmod(layer, per_block)
        if k == 0 and block > 0:
            perm = rng.permutation(n)
        r = perm % b
        pair = np.stack([(r - 2**k) % b, r], axis=1)
        cols = np.sort((pair[:, :, None] + b * np.arange(16)).reshape(n, 32), axis=1)
        out.append(sp.csr_array((np.full(32 * n, 1 / 16, np.float32), cols.ravel(),
                                 np.arange(0, 32 * n + 1, 32)), shape=(n, n)))
    return out


def _real_rows(data):
    try:
        from ._data import load_embedded

        return load_embedded()[1]
    except ImportError:
        return _read_tsv(_find(data, "sparse-images-1024.tsv"), (None, 1024))


def _inputs(real, n, m, seed):
    """``m`` rows of ``n`` pixels made from the 32x32 real images: each pixel
    becomes a block (nearest-neighbour upscaling to sqrt(n) per side); rows
    beyond the real ones are copies shifted by up to 2 pixels (synthetic)."""
    side = int(round(np.sqrt(n)))
    s = side // 32
    real = sp.csr_array(real)
    d = np.arange(s)
    base = []
    for k in range(real.shape[0]):
        y, x = np.divmod(real.indices[real.indptr[k]:real.indptr[k + 1]], 32)
        yy = np.broadcast_to((y * s)[:, None, None] + d[None, :, None], (y.size, s, s)).ravel()
        xx = np.broadcast_to((x * s)[:, None, None] + d[None, None, :], (y.size, s, s)).ravel()
        order = np.argsort(yy * side + xx)     # a shift keeps this order
        base.append((yy[order], xx[order]))
    rng = np.random.default_rng(seed)
    cols = []
    for i in range(m):
        yy, xx = base[i % len(base)]
        if i >= len(base):
            dy, dx = rng.integers(-2, 3, 2)
            yy, xx = yy + dy, xx + dx
            keep = (yy >= 0) & (yy < side) & (xx >= 0) & (xx < side)
            yy, xx = yy[keep], xx[keep]
        cols.append((yy * side + xx).astype(np.int32))
    indptr = np.zeros(m + 1, np.int64)
    np.cumsum([c.size for c in cols], out=indptr[1:])
    return sp.csr_array((np.ones(indptr[-1], np.float32), np.concatenate(cols), indptr),
                        shape=(m, n))


def _reference_categories(Y, layers, bias, ymax=32.0):
    """Float64 scipy recurrence: bias only on nonzeros, ReLU, cap, drop zeros."""
    Y = sp.csr_array(Y, dtype=np.float64)
    for W in layers:
        Z = sp.csr_array(Y @ sp.csr_array(W, dtype=np.float64))
        Z.data = np.where(Z.data != 0, np.clip(Z.data + bias, 0, ymax), 0)
        Z.eliminate_zeros()
        Y = Z
    return np.flatnonzero(Y.sum(axis=1))


# -- run -----------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m kkpy.dnn._cuda_bench", description=__doc__)
    p.add_argument("--neurons", type=int, default=1024)
    p.add_argument("--layers", type=int, default=120)
    p.add_argument("--images", type=int, default=60000)
    p.add_argument("--data", default=None, help="official files (1024-neuron network)")
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
    truth = None
    if a.neurons == 1024 and a.data:
        layers, real, truth = _official(a.data, 1024, a.layers)
    else:
        layers = _layers(a.neurons, a.layers, a.seed)
        real = _real_rows(a.data)
    Y0 = _inputs(real, a.neurons, a.images, a.seed)
    bias = _BIAS.get(a.neurons, -0.3)
    t_make = time.perf_counter() - t0
    net = CudaNetwork(layers, bias, 32.0)
    t_upload = time.perf_counter() - t0 - t_make
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
    checked = min(a.check_rows, a.images)
    ref = _reference_categories(Y0[:checked], layers, bias)
    ok_cpu = bool(np.array_equal(cats[cats < checked], ref))
    ok_truth = None
    if truth is not None:
        ok_truth = bool(np.array_equal(cats[cats < real.shape[0]], truth))
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
           "upload_seconds": round(t_upload, 2),
           "active_rows": [s["active_rows"] for s in stats],
           "layer_ms": [round((s["seconds"] or 0.0) * 1e3, 3) for s in stats]}
    print(f"{a.neurons} x {a.layers}, {a.images} rows: {t * 1e3:.2f} ms, "
          f"{edges / t:.3e} edges/s, {cats.size} categories, cpu match {ok_cpu}, "
          f"truth match {ok_truth}", file=sys.stderr)
    print(json.dumps(out))
    if a.save_categories:
        np.save(a.save_categories, cats)
    return 0 if ok_cpu and ok_truth is not False else 1


def _problem(a):
    if a.neurons == 1024 and a.data:
        layers, real, _ = _official(a.data, 1024, a.layers)
    else:
        layers = _layers(a.neurons, a.layers, a.seed)
        real = _real_rows(a.data)
    return layers, _inputs(real, a.neurons, a.images, a.seed), _BIAS.get(a.neurons, -0.3)


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

    layers, Y0, bias = _problem(a)
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
    return 0 if match is not False else 1


if __name__ == "__main__":
    sys.exit(main())
