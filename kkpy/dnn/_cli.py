"""``kkpy-dnn``: run, generate (and benchmark) Sparse DNN Graph Challenge problems.

Exit codes: 0 when the categories match the truth (or there is no truth),
1 when they do not, 2 for a mistake in the arguments or the data, reported
as one line on stderr without a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
import warnings

from ._options import (OneLineParser, add_problem_options, add_space_options,
                       check_images, count_arg, nonnegative_arg)

__all__ = ["main", "build_parser"]

PROG = "kkpy-dnn"


def build_parser():
    """The argument parser (exposed so that docs and tests can inspect it)."""
    from .._version import __version__

    parser = OneLineParser(
        prog=PROG, description="Sparse DNN Graph Challenge inference on kkpy.",
        epilog="Install: pip install kkpy-kokkos (the distribution's name; kkpy on the "
               "package index is another project). 'kkpy-dnn COMMAND --help' for a command.")
    parser.add_argument("--version", action="version",
                        version=f"{PROG} (kkpy-kokkos) {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{run,generate,sweep,bench,cache}")

    run = sub.add_parser(
        "run", help="run inference and check the categories",
        description="Run a challenge network on its inputs and check the categories. "
                    "Without --data, runs the official 1024-neuron, 120-layer network on "
                    "the first 1200 official images, embedded in kkpy. "
                    "Under 'mpiexec -n P' the images are split across the P ranks.")
    add_problem_options(run, "use only the first M images (default: all)")
    run.add_argument("--truth", metavar="FILE",
                     help="categories to check (default: DIR/neuronN-lL-categories.tsv if present; "
                          "the embedded truth without --data)")
    run.add_argument("--categories-out", metavar="FILE",
                     help="write the categories found, 1-based, one per line (default: none)")
    add_space_options(run, "threads per rank (default: NUMBA_NUM_THREADS, all cores, shared "
                           "out among the ranks of a node)")
    run.add_argument("--json", action="store_true",
                     help="end stdout with one line of JSON holding the results and their "
                          "provenance (default: off)")
    run.add_argument("--per-layer", action="store_true",
                     help="add each layer's active rows, nonzeros and seconds to the JSON "
                          "(default: off)")
    run.add_argument("--quiet", action="store_true",
                     help="no status lines, compile notices or progress bar on stderr "
                          "(default: off; status lines and the bar are drawn only on a "
                          "terminal)")
    run.add_argument("--stream", action="store_true",
                     help="with --data: read each layer while the earlier ones compute, a few "
                          "ahead, instead of loading the network first; memory holds a few "
                          "layers whatever the depth, and the timed inference includes the "
                          "reading it cannot hide (host only; default: off)")
    run.add_argument("--plot", metavar="FILE",
                     help="PNG of active rows, nonzeros and time per layer; needs matplotlib "
                          "(default: none)")
    run.set_defaults(func=_cmd_run)

    gen = sub.add_parser(
        "generate", help="write a challenge-shaped network and synthetic inputs",
        description="Write a network with the official networks' structure and synthetic "
                    "inputs derived from the official images, in the official layout.")
    gen.add_argument("--neurons", metavar="N", type=count_arg, required=True,
                     help="neurons per layer, 16 times a power of two (required)")
    gen.add_argument("--layers", metavar="L", type=count_arg, required=True,
                     help="number of layers (required)")
    gen.add_argument("--images", metavar="M", type=count_arg, required=True,
                     help="number of synthetic input images (required)")
    gen.add_argument("--out", metavar="DIR", required=True,
                     help="where to write the official layout, made if missing (required)")
    gen.add_argument("--seed", metavar="S", type=nonnegative_arg, default=0,
                     help="seeds the block permutations and the image shifts (default: 0)")
    gen.add_argument("--format", choices=("tsv", "gz", "csr"), default=None,
                     help="tsv: plain text, as published; gz: .tsv.gz; csr: kkpy's binary "
                          "layout, a folder of .npy arrays per file, about half the size of "
                          "tsv and read without parsing (run --data reads all three; "
                          "default: tsv)")
    gen.add_argument("--gzip", action="store_true",
                     help="the same as --format gz (default: off)")
    gen.set_defaults(func=_cmd_generate)

    sw = sub.add_parser(
        "sweep", help="run several challenge networks; a table and a plot, resumable",
        description="Run generated challenge networks (the twelve, or those named), each "
                    "streamed layer by layer on the host, and write sweep.json, sweep.csv "
                    "and sweep.png (with matplotlib) to --out after each; networks already "
                    "in sweep.json with the same images, seed, space, threads and ranks are "
                    "skipped, so an interrupted sweep resumes.  Under 'mpiexec -n P' the "
                    "images are split across the P ranks.")
    sw.add_argument("--networks", metavar="LIST", default="all",
                    help="'all' (the twelve) or NxL,... e.g. 1024x120,4096x480 (default: all)")
    sw.add_argument("--images", metavar="M", type=count_arg, default=1000,
                    help="synthetic input images per network (default: 1000)")
    sw.add_argument("--out", metavar="DIR", required=True,
                    help="where the table and the plot go, made if missing (required)")
    sw.add_argument("--seed", metavar="S", type=nonnegative_arg, default=0,
                    help="the generator's seed (default: 0)")
    sw.add_argument("--check-rows", metavar="R", type=nonnegative_arg, default=100,
                    help="compare the categories among the first R rows with a float64 scipy "
                         "recurrence, made again layer by layer (default: 100; 0: none)")
    add_space_options(sw, "threads (default: NUMBA_NUM_THREADS, all cores)")
    sw.add_argument("--quiet", action="store_true", help="no status lines (default: off)")
    sw.set_defaults(func=_cmd_sweep)

    cache = sub.add_parser("cache", help="show (--info) or empty (--clear) kkpy's cache",
                           description="Show where kkpy keeps parsed files and compiled code, "
                                       "and their size (--info, the default), or remove them.")
    cache.add_argument("--info", action="store_true", help="show the cache (the default)")
    cache.add_argument("--clear", action="store_true", help="remove every cached file")
    cache.set_defaults(func=_cmd_cache)

    bench = sub.add_parser("bench", help="kkpy, scipy and GraphBLAS side by side "
                                         "('kkpy-dnn bench --help')", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=_cmd_bench)
    return parser


def _error(message):
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return 2


def _fail(comm, message):
    """:func:`_error`; under MPI (``comm``) every rank stops with that one line."""
    if comm is not None:
        from . import _mpi

        _mpi.abort(comm, message, 2)
    return _error(message)


# -- run --------------------------------------------------------------------------

def check_output_path(option, path):
    """Raise UserError now, before a long run, if ``path`` cannot take an output file.

    The file itself is written at the end, atomically (a temporary file in
    the same directory, renamed over it).
    """
    from ._engine import UserError, path_error

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"{option} {path}: is a directory; name a file")
    if os.path.lexists(path) and not os.path.exists(path):
        problem = path_error(path)  # a dangling link is fine; a loop is not
        if "symbolic links" in problem:
            raise UserError(f"{option} {problem}")
    if not os.path.isdir(folder):
        raise UserError(f"{option} {path}: its directory does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: cannot write in {folder}")


def _check_outputs(args):
    """Fail before a long run, not after it, on outputs that cannot be written."""
    from ._engine import UserError

    check_images(args.images)

    for option, path in (("--categories-out", args.categories_out), ("--plot", args.plot)):
        if path:
            check_output_path(option, path)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError("--plot needs matplotlib (pip install 'kkpy-kokkos[plot]')") from None


def _figure(result):
    """The per-layer figure of a run: active rows, nonzeros and time, with the run's parameters."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    per_layer = result["per_layer"]
    layers = [s["layer"] for s in per_layer]
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(7, 7))
    # Rows and nonzeros fall by orders of magnitude as inputs die, and a
    # layer's time with them: only a log axis shows the late layers.
    for ax, key, label, scale in zip(
            axes, ("active_rows", "nnz", "seconds"),
            ("active rows", "nonzeros", "ms"), (1, 1, 1e3)):
        values = [scale * s[key] for s in per_layer]
        ax.plot(layers, values)
        ax.set_ylabel(label)
        if any(v > 0 for v in values):
            ax.set_yscale("log")
    axes[-1].set_xlabel("layer")
    where = "embedded official data" if result["data"] == "embedded" else result["data"]
    fig.suptitle(f"kkpy-dnn run: {result['neurons']} neurons, {result['layers']} layers, "
                 f"{result['images']} images ({where})\n{result['space']} space, "
                 f"{result['threads']} thread(s) x {result['ranks']} rank(s), "
                 f"inference {result['seconds']:.3g} s", fontsize=10)
    fig.tight_layout()
    return fig


def _plot(path, result):
    import matplotlib.pyplot as plt

    from ..sparse.extending import atomic_write

    fig = _figure(result)
    with atomic_write(path, compress=False) as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def _write_categories(path, ids):
    from ..sparse.extending import atomic_write

    with atomic_write(path, compress=False) as f:
        f.write("".join(f"{i + 1}\n" for i in ids.tolist()).encode())


def _summary(r):
    rate = r["edges_per_second"]
    where = "embedded official data" if r["data"] == "embedded" else r["data"]
    verdict = {None: "no truth to check", True: "PASSED", False: "FAILED"}[r["passed"]]
    return "\n".join([
        f"{r['neurons']} neurons, {r['layers']} layers, {r['images']} images ({where})",
        f"{r['space']} space, {r['threads']} thread(s) x {r['ranks']} rank(s)",
        f"inference {r['seconds']:.4f} s, {rate:.4g} edges/s" if rate else
        f"inference {r['seconds']:.4f} s",
        f"{r['categories']} categories: {verdict}",
    ])


def _public(result, args):
    """The JSON line: the results, where they came from, and per-layer detail if asked."""
    from ._provenance import peak_rss_bytes, provenance

    hidden = {"category_ids"} | (set() if args.per_layer else {"per_layer"})
    public = {k: v for k, v in result.items() if k not in hidden}
    public["peak_rss_bytes"] = peak_rss_bytes()
    public["provenance"] = provenance(result["space"])
    return public


def _cmd_run(args):
    from ..core import extending
    from . import _mpi
    from ._engine import UserError, run_challenge
    from ._progress import Progress

    try:
        comm = _mpi.world()
    except RuntimeError as err:
        return _error(str(err))
    rank = comm.Get_rank() if comm is not None else 0
    try:
        _check_outputs(args)
        bar = status = None
        if rank == 0 and not args.quiet:
            bar = Progress(0, "layers")
        if bar is not None and bar.enabled:
            # Like the bar, for a person at a terminal: logs and pipes keep
            # their one-line errors (the compile notices still reach them).
            def status(message):
                sys.stderr.write(f"{PROG}: {message}\n")
                sys.stderr.flush()

        def on_layer(k, stats, total):
            bar.total = total
            bar.step()

        with extending.compile_notices_silenced() if args.quiet else contextlib.nullcontext():
            result = run_challenge(
                args.data, args.neurons, args.layers, args.images, args.truth,
                space=args.space, threads=args.threads, comm=comm,
                on_layer=on_layer if bar is not None and bar.enabled else None, status=status,
                stream=args.stream)
        if bar is not None:
            bar.close()
        code = 0
        if result is not None:
            code = 1 if result["passed"] is False else 0
            if args.categories_out:
                _write_categories(args.categories_out, result["category_ids"])
            if args.plot:
                _plot(args.plot, result)
            print(_summary(result))
            if args.json:
                print(json.dumps(_public(result, args)))
            sys.stdout.flush()
    except UserError as err:
        return _fail(comm, str(err))
    except OSError as err:  # writing an output file
        from ._engine import _one_line

        return _fail(comm, _one_line(err))
    except MemoryError as err:
        from ..sparse.extending import too_large_message

        return _fail(comm, too_large_message(err))
    except Exception:
        if comm is not None:
            traceback.print_exc()
            _mpi.abort(comm, "failed; see the traceback above", 1)
        raise
    if comm is not None:
        code = comm.bcast(code, root=0)
    return code


# -- generate and bench -------------------------------------------------------------

def _cmd_generate(args):
    from ._generate import generate

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        return _error(f"--out {args.out}: exists and is not a directory")
    if args.gzip and args.format not in (None, "gz"):
        return _error(f"--gzip means --format gz, not {args.format}: give one of them")
    layout = "gz" if args.gzip else args.format or "tsv"
    try:
        generate(args.neurons, args.layers, args.images, args.out, seed=args.seed, layout=layout)
    except (ValueError, OSError) as err:
        from ._engine import _one_line

        return _error(_one_line(err))
    print(f"wrote {args.neurons} neurons x {args.layers} layers and {args.images} synthetic "
          f"images to {args.out} ({layout})")
    return 0


def _cmd_sweep(args):
    from . import _mpi
    from ._engine import UserError, _one_line
    from ._sweep import parse_networks, plot, sweep

    try:
        networks = parse_networks(args.networks)
        check_images(args.images)
        comm = _mpi.world()
    except (ValueError, RuntimeError, UserError) as err:
        return _error(str(err))
    rank = comm.Get_rank() if comm is not None else 0
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        return _error(f"--out {args.out}: exists and is not a directory")

    def status(message):
        if not args.quiet:
            sys.stderr.write(f"{PROG}: {message}\n")
            sys.stderr.flush()

    try:
        rows = sweep(networks, args.images, args.out, space=args.space, threads=args.threads,
                     seed=args.seed, check_rows=args.check_rows, status=status, comm=comm)
    except UserError as err:
        return _fail(comm, str(err))
    except (ValueError, OSError) as err:
        return _fail(comm, _one_line(err))
    except MemoryError as err:   # one line on every rank, as run gives
        from ..sparse.extending import too_large_message

        return _fail(comm, too_large_message(err))
    except Exception:
        if comm is not None:
            traceback.print_exc()
            _mpi.abort(comm, "failed; see the traceback above", 1)
        raise
    code = 0
    if rank == 0:
        try:
            plot(os.path.join(args.out, "sweep.png"), rows)
        except ImportError:
            status("no matplotlib: the table only (pip install 'kkpy-kokkos[plot]' for the "
                   "plot)")
        print(f"{'network':>12} {'images':>7} {'seconds':>9} {'edges/s':>10} {'check':>6}")
        for r in rows:
            check = "-" if r["check"] is None else ("ok" if r["check"] else "DIFFER")
            print(f"{r['neurons']:>6} x {r['layers']:<4} {r['images']:>7} {r['seconds']:>9.3f} "
                  f"{r['edges_per_second']:>10.3e} {check:>6}")
        code = 1 if any(r["check"] is False for r in rows) else 0
    if comm is not None:
        code = comm.bcast(code, root=0)
    return code


def _cmd_cache(args):
    from ._cache import command

    return command(empty=args.clear)


def _cmd_bench(args):
    try:
        from ._bench import main as bench_main
    except ImportError:
        return _error("bench is not available in this version")
    return bench_main(args.rest)


def main(argv=None):
    """Entry point of ``kkpy-dnn`` and ``python -m kkpy.dnn``; returns the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # The GPU chain launches small grids on purpose (the few rows left alive,
    # one block's bookkeeping); numba-cuda's low-occupancy warning for each
    # would bury the run's own lines.
    warnings.filterwarnings("ignore", message=r".*Grid size \d+ will likely result in GPU "
                            r"under-utilization")
    if argv[:1] == ["bench"]:
        # bench has its own parser; argparse's REMAINDER would not pass on its options
        from ._bench import main as bench_main

        try:
            return bench_main(argv[1:])
        except MemoryError as err:
            from ..sparse.extending import too_large_message

            return _error(too_large_message(err))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        return _error("choose a command: run, generate or bench")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except MemoryError as err:
        from ..sparse.extending import too_large_message

        return _error(too_large_message(err))
