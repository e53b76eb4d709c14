"""Thread scaling and MPI ranks x threads of ``kkpy-dnn`` on one many-core host.

Writes the real 1024-neuron network with its 1200 real input rows repeated to
``--images`` rows (the truth repeated with them) in the official layout, then
runs ``kkpy-dnn bench`` for 1, 2, 4, ... threads and ``mpiexec -n P kkpy-dnn
run --threads T`` for the ranks x threads combinations that fill the host.
Every result is one JSON line on stdout (and in ``--out``).

Usage::

    python benchmarks/scaling.py --images 60000 --max-threads 16 --out scaling.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np


def write_tiled_real(out_dir, images):
    """The embedded real problem with its inputs repeated to ``images`` rows, as files."""
    import scipy.sparse as sp

    from kkpy.dnn import _data
    from kkpy.sparse.io import write_tsv

    layers, Y, truth, bias, n = _data.load_embedded()
    os.makedirs(os.path.join(out_dir, f"neuron{n}"), exist_ok=True)
    for k, W in enumerate(layers, 1):
        path = os.path.join(out_dir, f"neuron{n}", f"n{n}-l{k}.tsv")
        if not os.path.exists(path):
            write_tsv(path, W)
    Ysp = sp.csr_array(Y.to_scipy() if hasattr(Y, "to_scipy") else Y)
    base = Ysp.shape[0]
    copies = -(-images // base)
    write_tsv(os.path.join(out_dir, f"sparse-images-{n}.tsv"),
              sp.vstack([Ysp] * copies, format="csr")[:images])
    ids = np.concatenate([np.asarray(truth) + c * base for c in range(copies)])
    ids = ids[ids < images]
    with open(os.path.join(out_dir, f"neuron{n}-l{len(layers)}-categories.tsv"), "w") as fh:
        fh.write("".join(f"{i + 1}\n" for i in ids))
    return n, len(layers)


def _run(cmd, env=None):
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    try:
        # other ranks' launchers may print after rank 0's JSON line
        last = [ln for ln in out.stdout.splitlines() if ln.lstrip().startswith("{")][-1]
        return json.loads(last[last.index("{"):])
    except (IndexError, ValueError):
        print(f"failed with exit code {out.returncode}:", out.stdout[-1000:], out.stderr[-2000:],
              file=sys.stderr)
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=60000)
    p.add_argument("--max-threads", type=int, default=os.cpu_count())
    p.add_argument("--data", default="scaling-data")
    p.add_argument("--peers", default="scipy", help="peers for the all-threads bench run")
    p.add_argument("--out")
    p.add_argument("--no-mpi", action="store_true")
    p.add_argument("--mpi-only", action="store_true")
    args = p.parse_args()
    n, L = write_tiled_real(args.data, args.images)
    py = sys.executable
    rows = []
    threads = [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= args.max_threads]
    if args.mpi_only:
        threads = []
    for t in threads:
        peers = args.peers if t == threads[-1] else ""
        res = _run([py, "-m", "kkpy.dnn", "bench", "--images", str(args.images), "--threads",
                    str(t), "--peers", peers, "--repeat", "3", "--json"])
        if res:
            rows.append({"kind": "threads", "ranks": 1, "threads": t, **res})
            print(json.dumps(rows[-1]), flush=True)
    mpiexec = shutil.which("mpiexec") or shutil.which("mpirun")
    if mpiexec and not args.no_mpi:
        for ranks in (2, 4, 8, 16):
            t = args.max_threads // ranks
            if t < 1:
                continue
            # Open MPI pins each rank to one core unless told otherwise, which
            # would leave numba a single thread per rank.
            env = dict(os.environ, OMPI_MCA_hwloc_base_binding_policy="none",
                       OMPI_MCA_rmaps_base_oversubscribe="1")
            res = _run([mpiexec, "-n", str(ranks), py, "-m", "kkpy.dnn", "run", "--data",
                        args.data, "--neurons", str(n), "--layers", str(L), "--threads", str(t),
                        "--quiet", "--json"], env=env)
            if res:
                res.pop("per_layer", None)
                res.pop("category_ids", None)
                rows.append({"kind": "mpi", "ranks": ranks, "threads": t, **res})
                print(json.dumps(rows[-1]), flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    main()
