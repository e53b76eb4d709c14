"""What kkpy-dnn's MPI mode costs beside the inference: the inputs of docs/scaling.md.

``kkpy-dnn run`` under ``mpiexec -n P`` splits the images over the ranks;
the ranks do not talk during the layers.  Around the timed inference each
rank does (``kkpy/dnn/_engine.py``): an ``allgather`` of a 16-character
digest of its arguments, its own load of the whole network, a ``bcast`` of
the row-block bounds (P + 1 integers), a parallel hash of the whole network
and a second digest ``allgather``, a ``Barrier``, and after the timed
inference a pickled ``gather`` to rank 0 of its categories, its times and
its per-layer statistics (L small dicts), which rank 0 unpickles and
merges; last, a ``bcast`` of the exit code.

This script measures, small and quick (a few seconds in all):

``batch``
    The inference time of the embedded official network (1024 x 120) on
    its 1200 real rows repeated 1, 2, 4 and 8 times, in this process, and
    an affine fit ``t(n) = t0 + n * b``; and the floor: one category row
    alone, which stays alive through all 120 layers (a run's fixed cost,
    whatever its batch).
``python``
    Rank 0's Python work on the final gather: unpickling one rank's
    payload and merging its per-layer statistics, for L = 120 and 1920;
    and the network hash every rank computes (entries a second).
``collectives``
    Under ``mpiexec -n 2`` (started by this script): ``Barrier``, the
    bounds ``bcast``, the digest ``allgather``, ``gather`` of category
    arrays, and ``gather`` of the engine's whole payload for L = 120 and
    1920; each the median over repeats of the slowest rank's time.
``startup``
    Wall-clock seconds of ``mpiexec -n P python -m kkpy.dnn run`` on the
    embedded problem (1200 images, one thread a rank) for P = 1 and 2,
    beside ``mpiexec -n P python -c 'from mpi4py import MPI'``, with the
    run's own load, warm-up and inference seconds from its JSON line.
    The first run in a new ``KKPY_CACHE_DIR`` compiles the kernels: run
    the script twice, or once with ``--only startup`` first.

The figures are one machine's (shared memory between the ranks: no
network), so they bound the software costs, not a cluster's latency; see
docs/scaling.md for how they are used.

Usage::

    python benchmarks/mpi_costs.py --threads 2 --out mpi_costs.json
    python benchmarks/mpi_costs.py --only collectives,startup
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

PARTS = ("batch", "python", "collectives", "startup")


try:  # one timing loop (a warm-up call, then the median) for the scripts here
    from .validation_cost import median_time as _median_time
except ImportError:  # run as a script
    from validation_cost import median_time as _median_time


# -- batch: the per-run fixed cost ---------------------------------------------------

def batch(threads, repeat, copies=(1, 2, 4, 8)):
    import scipy.sparse as sp

    from kkpy.dnn import _data, categories, infer
    from kkpy.dnn._engine import make_space
    from kkpy.sparse import prepare_chain

    layers, Y, truth, bias, n = _data.load_embedded()
    space = make_space("threads", threads)
    chain = prepare_chain(layers, space=space)
    edges = sum(W.nnz for W in layers)

    def timed(Ym):
        return _median_time(lambda: categories(infer(Ym, chain, bias, space=space), space=space),
                            repeat)

    # Whole copies of the 1200 rows, so that the work is exactly proportional
    # to the rows (a smaller slice holds a different share of live rows).
    rows = []
    for c in copies:
        Ym = sp.vstack([Y] * c, format="csr")
        t = timed(Ym)
        rows.append({"images": Ym.shape[0], "seconds": t,
                     "edges_per_second": Ym.shape[0] * edges / t})
        print(f"batch {Ym.shape[0]:6d} images: {t * 1e3:8.2f} ms, "
              f"{rows[-1]['edges_per_second']:.3g} edges/s", file=sys.stderr)
    m = np.array([r["images"] for r in rows], float)
    t = np.array([r["seconds"] for r in rows])
    b, t0 = np.polyfit(m, t, 1, w=1 / t)  # relative errors count alike
    # The floor: one category row alone stays alive through every layer, so
    # every layer runs, on the least work there is.
    floor = timed(Y[int(truth[0]): int(truth[0]) + 1])
    print(f"batch floor (one live row): {floor * 1e3:.2f} ms", file=sys.stderr)
    return {"threads": space.concurrency(), "layers": len(layers), "neurons": n,
            "points": rows, "fit_t0_seconds": float(t0), "fit_seconds_per_image": float(b),
            "floor_seconds": floor, "floor_per_layer_seconds": floor / len(layers)}


# -- python: rank 0's share of the gather, and the network hash ----------------------

def payload(layers, categories=19, seed=0):
    """What one rank sends in the engine's final gather (``_engine.run_challenge``)."""
    rng = np.random.default_rng(seed)
    found = np.sort(rng.choice(60000, categories, replace=False)).astype(np.int64)
    stats = [{"layer": k, "active_rows": int(rng.integers(900, 1100)),
              "nnz": int(rng.integers(10**5, 10**6)), "seconds": float(rng.random() * 1e-3)}
             for k in range(layers)]
    return (found, 0.123, stats, 1.5, 0.2, None)


def python_costs(threads, repeat):
    from kkpy.dnn import _data, _mpi
    from kkpy.dnn._engine import make_space

    out = {}
    for L in (120, 1920):
        blobs = [pickle.dumps(payload(L, seed=r)) for r in range(16)]

        def merge():
            got = [pickle.loads(b) for b in blobs]
            np.concatenate([g[0] for g in got])
            _mpi.combine_layer_stats([g[2] for g in got])

        t = _median_time(merge, repeat)
        out[f"root_merge_per_rank_L{L}_seconds"] = t / len(blobs)
        out[f"payload_bytes_L{L}"] = len(blobs[0])
    layers = _data.load_embedded()[0]
    space = make_space("threads", threads)
    t = _median_time(lambda: _mpi.network_digest(layers, space), repeat)
    out["network_hash_entries_per_second"] = sum(W.nnz for W in layers) / t
    out["network_hash_threads"] = space.concurrency()
    return out


# -- collectives: run under mpiexec -n 2 ---------------------------------------------

def _collective_times(comm, op, repeat):
    """Median over ``repeat`` runs of the slowest rank's seconds for ``op()``."""
    op()
    mine = []
    for _ in range(repeat):
        comm.Barrier()
        t0 = time.perf_counter()
        op()
        mine.append(time.perf_counter() - t0)
    every = comm.allgather(mine)
    return statistics.median(max(ts) for ts in zip(*every))


def collectives_here(repeat):
    """Under mpiexec: rank 0 prints one JSON line of median seconds."""
    from mpi4py import MPI

    from kkpy.dnn import _mpi

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    bounds = _mpi.split_rows(np.full(60000, 150), size)
    digest = _mpi.digest("arguments")
    res = {"ranks": size, "mpi": MPI.Get_library_version().splitlines()[0].strip()}
    res["barrier"] = _collective_times(comm, comm.Barrier, repeat)
    res["bcast_bounds"] = _collective_times(comm, lambda: comm.bcast(bounds if rank == 0 else None,
                                                                     root=0), repeat)
    res["allgather_digest"] = _collective_times(comm, lambda: comm.allgather(digest), repeat)
    for count in (19, 950, 60000 // size):
        cats = np.arange(count, dtype=np.int64) + rank * count
        res[f"gather_categories_{count}"] = _collective_times(
            comm, lambda: comm.gather(cats, root=0), repeat)
    for L in (120, 1920):
        mine = payload(L, seed=rank)
        res[f"gather_payload_L{L}"] = _collective_times(comm, lambda: comm.gather(mine, root=0),
                                                        max(5, repeat // 10))
    if rank == 0:
        print(json.dumps(res), flush=True)


def _mpiexec():
    exe = shutil.which("mpiexec") or shutil.which("mpirun")
    if exe is None:
        raise SystemExit("mpiexec not found (pip install mpich, or an MPI of the system)")
    return exe


def _json_line(stdout):
    lines = [ln for ln in stdout.splitlines() if ln.lstrip().startswith("{")]
    return json.loads(lines[-1][lines[-1].index("{"):]) if lines else None


def collectives(repeat, ranks=2):
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, os.path.abspath(__file__),
           "--collectives-here", "--repeat", str(repeat)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return _json_line(out.stdout)


# -- startup: whole runs under mpiexec -------------------------------------------------

def startup(repeat, ranks=(1, 2)):
    exe, py = _mpiexec(), sys.executable
    rows = []
    for P in ranks:
        for what, args in (("mpi4py import", ["-c", "from mpi4py import MPI"]),
                           ("kkpy-dnn run", ["-m", "kkpy.dnn", "run", "--threads", "1",
                                             "--quiet", "--json"])):
            walls, results = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                out = subprocess.run([exe, "-n", str(P), py, *args], capture_output=True,
                                     text=True, check=True)
                walls.append(time.perf_counter() - t0)
                results.append(_json_line(out.stdout))
            row = {"ranks": P, "what": what, "wall_seconds": statistics.median(walls),
                   "walls": walls}
            if results[0] is not None:
                for key in ("load_seconds", "warmup_seconds", "seconds"):
                    row[key] = statistics.median(r[key] for r in results)
                row["passed"] = all(r["passed"] for r in results)
            rows.append(row)
            print(f"startup -n {P} {what}: {row['wall_seconds']:.2f} s wall", file=sys.stderr)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="threads for batch and python")
    p.add_argument("--repeat", type=int, default=3,
                   help="repeats: batch and python medians and startup runs; the collectives "
                        "take 100 times as many (default: 3)")
    p.add_argument("--only", default=",".join(PARTS),
                   help=f"comma-separated parts to run (default: all of {','.join(PARTS)})")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--collectives-here", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.collectives_here:
        collectives_here(a.repeat)
        return 0
    parts = [s for s in a.only.split(",") if s]
    unknown = set(parts) - set(PARTS)
    if unknown:
        p.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}")
    res = {"host": os.uname().nodename, "cpus": os.cpu_count()}
    if "batch" in parts:
        res["batch"] = batch(a.threads, a.repeat)
    if "python" in parts:
        res["python"] = python_costs(a.threads, a.repeat)
    if "collectives" in parts:
        res["collectives"] = collectives(100 * a.repeat)
    if "startup" in parts:
        res["startup"] = startup(max(1, a.repeat - 1))
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    sys.exit(main())
