"""``kkpy-dnn bench``: kkpy, the scipy reference and SuiteSparse:GraphBLAS side by side.

All implementations run in one process on the same inputs, one after the
other, so their ratios are fair on a noisy machine; each reports seconds
(median of ``--repeat`` runs), edges per second and peak memory, and the
categories of all of them must agree.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time

import numpy as np

__all__ = ["main", "run_bench"]


class _PeakRSS:
    """Peak resident memory above the starting point, sampled from /proc while a run lasts.

    tracemalloc cannot see memory that compiled kernels or GraphBLAS allocate,
    so the whole process is watched instead.
    """

    def __init__(self, interval=0.002):
        self.interval = interval

    @staticmethod
    def rss():
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return 0

    def __enter__(self):
        self.base = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())
        self.bytes = self.peak - self.base
        return False


def _timed(fn, repeat):
    times, result, peak = [], None, 0
    for _ in range(repeat):
        with _PeakRSS() as mem:
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        peak = max(peak, mem.bytes)
    return result, statistics.median(times), peak


def _scipy_layers(layers):
    """The layers as scipy ``csr_array``s, for the peers and the reference check."""
    import scipy.sparse as sp

    return [sp.csr_array(W.to_scipy() if hasattr(W, "to_scipy") else W) for W in layers]


def _tile_rows(Y, copies):
    import scipy.sparse as sp

    return sp.vstack([Y] * copies, format="csr")


def run_bench(data=None, neurons=None, layers=None, images=None, space="threads", threads=None,
              repeat=3, peers=("scipy", "graphblas"), peer_repeat=1, generate=None,
              check_rows=0, distinct=False):
    """Run kkpy and its peers on one problem; returns a dict of the results.

    Without ``data`` the embedded real problem is used; ``images`` larger than
    its 1200 rows repeats them (the truth repeats with them), which is how
    the 60000-image figures are made from the real data.  With ``generate``
    (a seed), ``kkpy-dnn generate``'s network and inputs, made in memory.
    With ``distinct``, the embedded problem's rows past its 1200 are the
    real ones shifted by small random offsets (as ``generate`` makes them,
    seed 0), not repeats: repeated rows flatter every code's caches.  The
    truth then covers the first 1200 rows, the real ones.
    ``check_rows`` first rows are checked against the scipy reference
    algorithm, in float32 as the network is (rows are independent: a subset
    checks exactly what it covers; float64 may differ where a sum cancels
    the bias to within float32's rounding).  On a Cuda
    space kkpy is also timed with its inputs already on the GPU.
    """
    import scipy.sparse as sp

    import kkpy

    from . import _engine, _peers
    from ._infer import categories, infer

    exec_space = _engine.make_space(space, threads)
    embedded = data is None and generate is None
    problem = _engine._load(data, neurons, layers, None if embedded else images, None, None,
                            exec_space, generate=generate)
    Y0 = sp.csr_array(problem.Y0.to_scipy() if hasattr(problem.Y0, "to_scipy") else problem.Y0)
    truth = problem.truth
    truth_rows = None   # rows the truth speaks for, when not all of them
    if embedded and distinct and images is not None and images != Y0.shape[0]:
        from ._generate import synthetic_images

        Y0 = sp.vstack([Y for _, Y in synthetic_images(Y0.shape[1], images)], format="csr")
        truth_rows = min(images, problem.Y0.shape[0])
        if truth is not None:
            truth = np.asarray(truth)[np.asarray(truth) < truth_rows]
    elif embedded and images is not None and images != Y0.shape[0]:
        base = Y0.shape[0]
        copies = -(-images // base)
        Y0 = _tile_rows(Y0, copies)[:images]
        if truth is not None:
            truth = np.concatenate([np.asarray(truth) + c * base for c in range(copies)])
            truth = truth[truth < images]
    layers_ = problem.layers
    nimages = Y0.shape[0]
    truth_rows = truth_rows or nimages
    edges = int(sum(W.nnz for W in layers_))
    _engine._warm_up(problem, exec_space)

    results = {}

    def record(name, cats, seconds, peak):
        results[name] = {"seconds": seconds, "edges_per_second": nimages * edges / seconds,
                         "peak_bytes": int(peak), "categories": int(len(cats)),
                         "_ids": np.sort(np.asarray(cats))}

    # The network is prepared once for the space (transposed on the host,
    # uploaded to a GPU), as loading does: the timed part is the public path
    # from the host input to the categories on the host.
    chain = problem.chain
    run_kkpy = lambda: categories(infer(Y0, chain, problem.bias, space=exec_space),  # noqa: E731
                                  space=exec_space)
    cats, sec, peak = _timed(run_kkpy, repeat)
    record("kkpy", cats, sec, peak)
    if exec_space.memory_space == kkpy.CudaSpace:
        from ..sparse import DeviceCrs

        resident = DeviceCrs.from_host(Y0.astype(np.float32))
        run_resident = lambda: categories(  # noqa: E731
            infer(resident, chain, problem.bias, space=exec_space), space=exec_space)
        run_resident()  # its own warm-up: a graph is captured for its buffers
        got, sec, peak = _timed(run_resident, repeat)
        record("kkpy-resident", got, sec, peak)
        resident = None
    checked = None
    if check_rows:
        k = min(check_rows, nimages)
        Ys = _scipy_layers(layers_)
        ref = _peers.scipy_infer(Y0[:k], Ys, problem.bias)
        checked = {"rows": k, "match": bool(np.array_equal(np.flatnonzero(ref.sum(axis=1)),
                                                           cats[cats < k]))}
        Ys = ref = None
    # Each peer gets the memory kkpy no longer needs: its result and the dense
    # buffers a prepared chain keeps for its next call (GBs at 65536 neurons).
    Y = None
    if hasattr(getattr(problem, "chain", None), "release"):
        problem.chain.release()
    if "scipy" in peers:
        Ys = _scipy_layers(layers_)
        Y, sec, peak = _timed(lambda: _peers.scipy_infer(Y0, Ys, problem.bias), peer_repeat)
        record("scipy", np.flatnonzero(Y.sum(axis=1)), sec, peak)
        Y = Ys = None
    if "graphblas" in peers and _peers.graphblas_available():
        Ys = _scipy_layers(layers_)
        prepared = _peers.graphblas_prepare(Y0, Ys, problem.bias)
        Ys = None
        nthreads = exec_space.concurrency()
        Y, sec, peak = _timed(lambda: _peers.graphblas_infer(prepared, nthreads=nthreads),
                              peer_repeat)
        record("graphblas", np.flatnonzero(Y.sum(axis=1)), sec, peak)

    ref = results["kkpy"]["_ids"]
    agree = all(np.array_equal(r["_ids"], ref) for r in results.values())
    for name, r in results.items():
        r["speedup_of_kkpy"] = r["seconds"] / results["kkpy"]["seconds"]
        del r["_ids"]
    return {
        "neurons": problem.neurons, "layers": problem.nlayers, "images": nimages,
        "edges": edges, "space": exec_space.name.lower(), "threads": exec_space.concurrency(),
        "data": problem.source, "repeat": repeat, "agree": agree,
        # whether every input row differs: the generator's do, the embedded
        # problem's only with --distinct; a file's are what it holds
        "distinct": (True if distinct or generate is not None
                     or (embedded and nimages <= problem.Y0.shape[0])
                     else False if embedded else None),
        "passed": None if truth is None else bool(np.array_equal(ref[ref < truth_rows],
                                                                 np.sort(truth))),
        "checked": checked, "results": results,
    }


def _format(res):
    lines = [f"kkpy-dnn bench: {res['neurons']} neurons x {res['layers']} layers, "
             f"{res['images']} images, {res['space']} x {res['threads']} threads ({res['data']})",
             f"{'implementation':<15}{'seconds':>10}{'edges/s':>12}{'peak MB':>10}"
             f"{'kkpy is x faster':>18}"]
    for name, r in res["results"].items():
        lines.append(f"{name:<15}{r['seconds']:>10.4f}{r['edges_per_second']:>12.3e}"
                     f"{r['peak_bytes'] / 2**20:>10.1f}{r['speedup_of_kkpy']:>18.2f}")
    lines.append("categories agree: " + ("yes" if res["agree"] else "NO"))
    if res.get("checked"):
        c = res["checked"]
        lines.append(f"scipy reference on the first {c['rows']} rows: "
                     + ("same categories" if c["match"] else "OTHER CATEGORIES"))
    if res["passed"] is not None:
        lines.append("truth: " + ("PASSED" if res["passed"] else "FAILED"))
    return "\n".join(lines)


PEERS = ("scipy", "graphblas")

#: The embedded images, tiled, cost about this many times ``ROW_BYTES`` per
#: row (their ~100 nonzeros of 12 bytes each, in the tiles and the stacked copy).
TILED_ROW_FACTOR = 128


def _peer_list(text):
    """``--peers a,b``: the peers named, each one of :data:`PEERS`."""
    peers = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peer {unknown[0]!r}; choose from "
                                         f"{', '.join(PEERS)} (comma-separated, or empty)")
    return peers


def main(argv=None):
    """``kkpy-dnn bench [--data DIR --neurons N --layers L] [--images M] ...``; returns the exit code."""
    from ._options import (OneLineParser, add_problem_options, add_space_options,
                           check_images, count_arg, nonnegative_arg)
    from ._engine import UserError

    p = OneLineParser(
        prog="kkpy-dnn bench",
        description="kkpy, the scipy reference algorithm and SuiteSparse:GraphBLAS on the same "
                    "data in one process, one after the other, with the ratios and a check "
                    "that all of them find the same categories. Without --data, the embedded "
                    "official problem (1024 neurons, 120 layers).",
        epilog="GraphBLAS needs python-graphblas: pip install 'kkpy-kokkos[bench]'.")
    add_problem_options(p, "first M images; without --data, the 1200 real ones repeated up "
                           "to M (default: all)")
    add_space_options(p, "threads of kkpy and GraphBLAS (default: NUMBA_NUM_THREADS, all cores)")
    p.add_argument("--repeat", metavar="R", type=count_arg, default=3,
                   help="kkpy runs; the median is reported (default: 3)")
    p.add_argument("--peer-repeat", metavar="R", type=count_arg, default=1,
                   help="runs of each peer; the median is reported (default: 1)")
    p.add_argument("--peers", default="scipy,graphblas", type=_peer_list,
                   help="comma-separated peers to run, empty for none (default: scipy,graphblas)")
    p.add_argument("--generate", action="store_true",
                   help="kkpy-dnn generate's network and inputs of --neurons x --layers, made "
                        "in memory, --images of them (default: off; images default 60000)")
    p.add_argument("--seed", metavar="S", type=nonnegative_arg, default=0,
                   help="seed of --generate (default: 0)")
    p.add_argument("--check-rows", metavar="C", type=nonnegative_arg, default=0,
                   help="check the first C rows' categories against the scipy reference "
                        "(default: 0, none); without peers, the only check of a generated "
                        "network")
    p.add_argument("--distinct", action="store_true",
                   help="without --data: images past the 1200 real ones are real ones shifted "
                        "by small random offsets, not repeats (the truth checks the first "
                        "1200) (default: off)")
    p.add_argument("--json", action="store_true",
                   help="end stdout with one JSON line, with provenance (default: off)")
    args = p.parse_args(argv)
    try:
        check_images(args.images)
        if args.data is None and not args.generate and args.images is not None:  # tiled
            check_images(args.images * TILED_ROW_FACTOR, f"--images {args.images} (tiled)")
        if args.generate and args.data is not None:
            raise UserError("--generate and --data: choose one")
        if args.distinct and (args.generate or args.data is not None):
            raise UserError("--distinct applies to the embedded problem only (--generate's "
                            "inputs are distinct already)")
        res = run_bench(args.data, args.neurons, args.layers, args.images, args.space,
                        args.threads, args.repeat, args.peers, args.peer_repeat,
                        args.seed if args.generate else None, args.check_rows,
                        args.distinct)
    except UserError as err:
        sys.stderr.write(f"kkpy-dnn bench: error: {err}\n")
        return 2
    print(_format(res))
    if args.json:
        from ._provenance import peak_rss_bytes, provenance

        print(json.dumps({**res, "peak_rss_bytes": peak_rss_bytes(),
                          "provenance": provenance(res["space"])}))
    ok = res["agree"] and res["passed"] is not False
    return 0 if ok and (res["checked"] or {}).get("match") is not False else 1
