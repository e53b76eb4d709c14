"""``kkpy-dnn``: run, generate (and benchmark) Sparse DNN Graph Challenge problems.

Exit codes: 0 when the categories match the truth (or there is no truth),
1 when they do not, 2 for a mistake in the arguments or the data, reported
as one line on stderr without a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

__all__ = ["main", "build_parser"]

PROG = "kkpy-dnn"


def _count(text, minimum=1):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
    return value


def build_parser():
    """The argument parser (exposed so that docs and tests can inspect it)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Sparse DNN Graph Challenge inference on kkpy.")
    sub = parser.add_subparsers(dest="command", metavar="{run,generate,bench,cache}")

    run = sub.add_parser(
        "run", help="run inference and check the categories",
        description="Run a challenge network on its inputs and check the categories. "
                    "Without --data, runs the official 1024-neuron, 120-layer network on "
                    "the first 1200 official images, embedded in kkpy. "
                    "Under 'mpiexec -n P' the images are split across the P ranks.")
    run.add_argument("--data", metavar="DIR", help="directory in the official layout")
    run.add_argument("--neurons", metavar="N", type=_count, help="neurons per layer")
    run.add_argument("--layers", metavar="L", type=_count, help="number of layers")
    run.add_argument("--images", metavar="M", type=_count, help="use only the first M images")
    run.add_argument("--truth", metavar="FILE",
                     help="categories to check (default: DIR/neuronN-lL-categories.tsv)")
    run.add_argument("--categories-out", metavar="FILE",
                     help="write the categories found, 1-based, one per line")
    run.add_argument("--threads", metavar="T", type=_count, help="threads (per rank)")
    run.add_argument("--space", choices=("serial", "threads", "cuda"), default="threads",
                     help="execution space (default: threads)")
    run.add_argument("--json", action="store_true",
                     help="end stdout with one line of JSON holding the results")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--plot", metavar="FILE",
                     help="PNG of active rows and time per layer (needs matplotlib)")
    run.set_defaults(func=_cmd_run)

    gen = sub.add_parser(
        "generate", help="write a challenge-shaped network and synthetic inputs",
        description="Write a network with the official networks' structure and synthetic "
                    "inputs derived from the official images, in the official layout.")
    gen.add_argument("--neurons", metavar="N", type=_count, required=True,
                     help="neurons per layer, 16 times a power of two")
    gen.add_argument("--layers", metavar="L", type=_count, required=True)
    gen.add_argument("--images", metavar="M", type=_count, required=True)
    gen.add_argument("--out", metavar="DIR", required=True)
    gen.add_argument("--seed", metavar="S", type=lambda t: _count(t, 0), default=0,
                     help="seeds the block permutations and the image shifts (default: 0)")
    gen.add_argument("--gzip", action="store_true", help="write .tsv.gz files")
    gen.set_defaults(func=_cmd_generate)

    cache = sub.add_parser("cache", help="show (--info) or empty (--clear) kkpy's cache",
                           description="Show where kkpy keeps parsed files and compiled code, "
                                       "and their size (--info, the default), or remove them.")
    cache.add_argument("--info", action="store_true", help="show the cache (the default)")
    cache.add_argument("--clear", action="store_true", help="remove every cached file")
    cache.set_defaults(func=_cmd_cache)

    bench = sub.add_parser("bench", help="benchmarks", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=_cmd_bench)
    return parser


def _error(message):
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return 2


# -- run --------------------------------------------------------------------------

def _check_outputs(args):
    """Fail before a long run, not after it, on outputs that cannot be written."""
    from ._engine import UserError

    for path in (args.categories_out, args.plot):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise UserError(f"{path}: its directory does not exist")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError("--plot needs matplotlib (pip install 'kkpy[plot]')") from None


def _plot(path, per_layer):
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    from ..sparse.io._atomic import atomic_write

    layers = [s["layer"] for s in per_layer]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
    top.plot(layers, [s["active_rows"] for s in per_layer])
    top.set_ylabel("active rows")
    bottom.plot(layers, [1e3 * s["seconds"] for s in per_layer])
    bottom.set_ylabel("ms")
    bottom.set_xlabel("layer")
    fig.tight_layout()
    with atomic_write(path, compress=False) as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def _write_categories(path, ids):
    from ..sparse.io._atomic import atomic_write

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


def _cmd_run(args):
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
        bar = None
        if rank == 0 and not args.quiet:
            bar = Progress(0, "layers")

        def on_layer(k, stats, total):
            bar.total = total
            bar.step()

        result = run_challenge(args.data, args.neurons, args.layers, args.images, args.truth,
                               space=args.space, threads=args.threads, comm=comm,
                               on_layer=on_layer if bar is not None and bar.enabled else None)
        if bar is not None:
            bar.close()
        code = 0
        if result is not None:
            code = 1 if result["passed"] is False else 0
            if args.categories_out:
                _write_categories(args.categories_out, result["category_ids"])
            if args.plot:
                _plot(args.plot, result["per_layer"])
            print(_summary(result))
            if args.json:
                public = {k: v for k, v in result.items() if k != "category_ids"}
                print(json.dumps(public))
            sys.stdout.flush()
    except UserError as err:
        if comm is not None:
            _mpi.abort(comm, str(err), 2)
        return _error(str(err))
    except OSError as err:  # writing an output file
        from ._engine import _one_line

        message = _one_line(err)
        if comm is not None:
            _mpi.abort(comm, message, 2)
        return _error(message)
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

    try:
        generate(args.neurons, args.layers, args.images, args.out, seed=args.seed,
                 compress=args.gzip)
    except (ValueError, OSError) as err:
        from ._engine import _one_line

        return _error(_one_line(err))
    print(f"wrote {args.neurons} neurons x {args.layers} layers and {args.images} synthetic "
          f"images to {args.out}")
    return 0


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
    if argv[:1] == ["bench"]:
        # bench has its own parser; argparse's REMAINDER would not pass on its options
        from ._bench import main as bench_main

        return bench_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        return _error("choose a command: run, generate or bench")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
