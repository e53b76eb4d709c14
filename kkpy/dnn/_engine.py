"""One challenge run, end to end, on one process or on every rank of an MPI job.

Load (untimed), warm up the compiled kernels (untimed), infer (timed), check
the categories against the truth.  The command line is a thin layer over
:func:`run_challenge`; benchmarks call it too.
"""
from __future__ import annotations

import contextlib
import os
import time

import numpy as np

import kkpy

from . import _mpi
from ..sparse import ChainStream, prepare_chain
from ._infer import categories, infer

__all__ = ["UserError", "make_space", "run_challenge"]

#: Input rows of the warm-up run: few enough to be quick, yet taking the
#: paths (dense or sparse rows, rows dying) that the whole input will.
WARMUP_ROWS = 16
#: Most (zero) entries of the warm-up's long row: past the few chunks of
#: 16384 entries after which kkpy.sparse checks a structure on the threads
#: (``kkpy.sparse.warmup`` compiles that form with two such chunks).
WARMUP_ZEROS = 1 << 17


class UserError(Exception):
    """A mistake in the user's arguments or data: one line, exit code 2."""


def make_space(name="threads", threads=None, comm=None):
    """The execution space for ``--space NAME --threads T``.

    Under MPI, ranks on one node share its cores: by default each gets an
    equal share.
    """
    try:
        if name == "threads":
            if threads is None and comm is not None:
                import numba

                threads = max(1, numba.config.NUMBA_NUM_THREADS // _mpi.local_size(comm))
            return kkpy.Threads(num_threads=threads)
        if threads not in (None, 1):
            raise UserError(f"--threads {threads} needs --space threads")
        if name == "cuda" and comm is not None:
            # ranks on one node take its GPUs in turn, not all GPU 0
            from numba import cuda

            return kkpy.Cuda(device_id=_mpi.local_rank(comm) % max(1, len(cuda.gpus)))
        return kkpy.space_from_name(name)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001  (e.g. no GPU or numba-cuda missing)
        raise UserError(f"--space {name}: {str(err).splitlines()[0]}") from None


def path_error(path):
    """``"PATH: why it cannot be opened"``, e.g. a symlink loop named as such."""
    try:
        os.stat(path)
    except OSError as err:
        return f"{path}: {err.strerror or err}"
    return f"{path}: not usable"


def _one_line(err):
    """A user-facing message from a data error, naming the file where known."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


#: Inputs of a generated problem unless ``--images`` says otherwise: the
#: challenge's 60000.
GENERATED_IMAGES = 60000


class _Problem:
    """What one rank needs: all layers, its block of input rows, the truth on rank 0."""

    source = neurons = nlayers = bias = chain = None
    layers = ()
    Y0 = None
    first_row = nimages = 0
    truth = truth_path = None


def _rows(Y, start, stop):
    """Rows ``[start, stop)`` of a scipy or CrsMatrix input, as CRS."""
    from ..sparse import CrsMatrix, as_crs

    Y = as_crs(Y)
    row_map = np.asarray(Y.row_map)
    lo, hi = int(row_map[start]), int(row_map[stop])
    return CrsMatrix(np.asarray(Y.values)[lo:hi], np.asarray(Y.entries)[lo:hi],
                     row_map[start: stop + 1] - lo, Y.ncols)


def _row_nnz(Y):
    from ..sparse import as_crs

    return np.diff(np.asarray(as_crs(Y).row_map))


def _embedded(problem, neurons, nlayers, images, truth, comm):
    from . import _data

    layers, Y, real_truth, bias, n = _data.load_embedded()
    if neurons not in (None, n):
        raise UserError(f"--neurons {neurons}: the embedded network has {n} neurons; "
                        "give --data DIR for other sizes")
    if nlayers is not None and nlayers > len(layers):
        raise UserError(f"--layers {nlayers}: the embedded network has {len(layers)} layers")
    total = _row_nnz(Y).size
    if images is not None and images > total:
        raise UserError(f"--images {images}: the embedded data has {total} images")
    problem.source = "embedded"
    problem.neurons, problem.bias = n, bias
    problem.nlayers = nlayers or len(layers)
    problem.layers = layers[: problem.nlayers]
    problem.nimages = images or total
    if truth is None and problem.nlayers == len(layers):
        problem.truth, problem.truth_path = real_truth, "embedded"
    bounds = _split(comm, lambda: _row_nnz(Y)[: problem.nimages])
    r = comm.Get_rank() if comm else 0
    problem.first_row = int(bounds[r])
    problem.Y0 = _rows(Y, bounds[r], bounds[r + 1])
    return bounds


def _split(comm, row_nnz):
    """Row-block boundaries, computed on rank 0 and shared with every rank."""
    if comm is None:
        return np.array([0, row_nnz().size])
    bounds = _mpi.split_rows(row_nnz(), comm.Get_size()) if comm.Get_rank() == 0 else None
    return comm.bcast(bounds, root=0)


def _check_fills(path, W, neurons):
    """Refuse a layer whose weights never reach the last neuron: a wrong ``--neurons``.

    A challenge layer is N x N with 32 weights in every row and column, so
    its largest index is N; files of a smaller network under a larger
    ``--neurons`` would otherwise run as a padded network, without a word.
    """
    last_row = np.flatnonzero(np.diff(W.indptr))[-1:].max(initial=-1)
    top = max(int(W.indices.max(initial=-1)), int(last_row))
    if top + 1 < neurons:
        raise UserError(f"{path}: its largest neuron is {top + 1}, but --neurons is {neurons}; "
                        f"a challenge layer uses all {neurons} (is --neurons right?)")


def _from_files(problem, data, neurons, nlayers, images, truth, comm, stream=False):
    from . import _data

    if neurons is None or nlayers is None:
        raise UserError("--data needs --neurons N and --layers L")
    if not os.path.isdir(data):
        if os.path.exists(data):
            raise UserError(f"{data}: not a directory")
        raise UserError(path_error(data) if os.path.lexists(data) else f"{data}: no such directory")
    problem.source = os.fspath(data)
    problem.neurons, problem.nlayers = neurons, nlayers
    problem.bias = _data.bias_for(neurons)
    paths = _data.challenge_paths(data, neurons, nlayers)  # every file there, before parsing
    # Rank 0 reads first so that it alone parses the text and writes the
    # binary cache; the others then load from the cache.
    rank = comm.Get_rank() if comm else 0
    if rank != 0:
        comm.Barrier()
    if stream:  # each layer read when the products reach it (see kkpy.sparse.ChainStream)
        def check(path, W):
            _check_fills(path, W, neurons)

        problem.layers = _data.LayerFiles(data, neurons, nlayers, check=check)
        # the kernels compile per type, not per layer: two layers warm them all up
        problem.warm_layers = _data.LayerFiles(data, neurons, min(2, nlayers), check=check)
    else:
        problem.layers = _data.load_layers(data, neurons, nlayers)
        for path, W in zip(paths.layers, problem.layers):
            _check_fills(path, W, neurons)
    counts = None
    if rank == 0:
        counts = _data.image_row_nnz(data, neurons)
        if images is not None and images > counts.size:
            # Rows past the file's last would be empty images: they cost
            # nothing and would inflate the rate.
            raise UserError(f"--images {images}: {paths.images} holds {counts.size} images")
        counts = counts[:images]
    if rank == 0 and comm is not None:
        comm.Barrier()
    bounds = _split(comm, lambda: counts)
    problem.nimages = int(bounds[-1])
    problem.first_row = int(bounds[rank])
    problem.Y0 = _data.load_images(data, neurons, problem.nimages,
                                   rows=(problem.first_row, int(bounds[rank + 1])))
    if truth is None:
        truth = paths.truth
    problem.truth_path = truth
    return bounds


def _generated(problem, neurons, nlayers, images, seed, comm, stream=False):
    """``kkpy-dnn generate``'s network and inputs (seed ``seed``), made in memory, or
    with ``stream`` each layer made when the products reach it."""
    import scipy.sparse as sp

    from . import _data
    from ._generate import GeneratedLayers, synthetic_images

    if neurons is None or nlayers is None:
        raise UserError("--generate needs --neurons N and --layers L")
    _data.check_neurons(neurons)
    problem.source = f"generated, seed {seed}"
    problem.neurons, problem.nlayers = neurons, nlayers
    problem.bias = _data.bias_for(neurons)
    # made again each time they are read (a few ms a layer), never all held:
    # 65536 x 1920 is 32 GB of CSR, and a chain keeps its own layout of them
    problem.layers = GeneratedLayers(neurons, nlayers, seed)
    if stream:
        problem.warm_layers = GeneratedLayers(neurons, min(2, nlayers), seed)
    Y = sp.vstack([Y for _, Y in synthetic_images(neurons, images, seed)], format="csr")
    bounds = _split(comm, lambda: np.diff(Y.indptr))
    r = comm.Get_rank() if comm else 0
    problem.nimages = images
    problem.first_row = int(bounds[r])
    problem.Y0 = _rows(Y, bounds[r], bounds[r + 1])
    return bounds


def _load(data, neurons, nlayers, images, truth, comm, space=None, generate=None,
          stream=False):
    """The problem one rank runs: from ``data``, the embedded files, or, with
    ``generate`` (a seed), the generator; ``stream`` reads ``data``'s layers
    as the products reach them."""
    from . import _data

    problem = _Problem()
    try:
        if generate is not None:
            _generated(problem, neurons, nlayers, images or GENERATED_IMAGES, generate, comm,
                       stream)
        elif data is None:
            _embedded(problem, neurons, nlayers, images, truth, comm)
        else:
            _from_files(problem, data, neurons, nlayers, images, truth, comm, stream)
        if truth is not None:
            problem.truth_path = truth
        # Preparing the chain (the weights transposed on the host, uploaded to a
        # GPU) is part of loading the network, like parsing it, not of
        # inference: done once, untimed.
        if stream:
            problem.chain = ChainStream(problem.layers, length=len(problem.layers))
            problem.warm_chain = ChainStream(problem.warm_layers,
                                             length=len(problem.warm_layers))
        else:
            problem.chain = prepare_chain(problem.layers, space=space)
        if problem.truth_path not in (None, "embedded") and (comm is None or comm.Get_rank() == 0):
            problem.truth = _data.load_truth(problem.truth_path)
    except UserError:
        raise
    except (OSError, ValueError) as err:  # ParseError is a ValueError
        raise UserError(_one_line(err)) from None
    return problem


def _same(comm, what, value):
    try:
        _mpi.check_same(comm, what, value)
    except ValueError as err:
        raise UserError(str(err)) from None


@contextlib.contextmanager
def _layer_errors(stream):
    """A streamed layer that cannot be read, met while the products run (warm-up,
    inference, the MPI digest), as the one line a load gives, not a traceback."""
    try:
        yield
    except (OSError, ValueError) as err:
        if not stream:
            raise
        raise UserError(_one_line(err)) from None


def _warm_up(problem, space):
    """Compile (or load from the disk cache) every kernel the timed run will call.

    The chain switches kernels as rows thin out, die or fill up, at any
    layer, so the warm-up goes through every layer: with one single-entry
    row, which takes the sparse path that thin rows take, and with the
    first input rows.  On a GPU the first rows are the whole input: what
    the first run of a size sets up (the working buffers, pinned staging,
    the chain's CUDA graph) is then ready for the timed run, as it is for a
    second run, for the cost of one more inference, which is short there.
    """
    import scipy.sparse as sp

    one = (np.ones(1, np.float32), (np.zeros(1, np.int32), np.zeros(1, np.int32)))
    thin = sp.csr_array(one, shape=(1, problem.neurons))
    on_gpu = space.memory_space != kkpy.HostSpace
    first = problem.Y0.shape[0] if on_gpu else min(WARMUP_ROWS, problem.Y0.shape[0])
    Y = _rows(problem.Y0, 0, first)
    # One row of (zero) entries as long as the input, up to WARMUP_ZEROS:
    # checking an input's structure takes the threads past a size, so the few
    # rows above compile only its one-thread form (the other cost 0.8 s
    # inside a first run's timing); a row of zeros dies at once.  Capped:
    # the entries all name one column, which a GPU loads by atomic adds one
    # after another (uncapped, 65536 x 120 with 60000 inputs made a row of
    # 3.9e8 entries).
    nnz = min(max(int(problem.Y0.nnz), 1), WARMUP_ZEROS)
    zeros = sp.csr_array((np.zeros(nnz, np.float32), np.zeros(nnz, np.int32),
                          np.array([0, nnz])), shape=(1, problem.neurons))
    chain = getattr(problem, "warm_chain", problem.chain)
    # the input last: a GPU chain keeps the buffers of its last call's split
    for Y in (thin, zeros, Y):
        categories(infer(Y, chain, problem.bias, space=space), space=space)


def run_challenge(data=None, neurons=None, layers=None, images=None, truth=None,
                  space="threads", threads=None, comm=None, on_layer=None, status=None,
                  per_layer=False, stream=False, generate=None):
    """Run one challenge problem; every rank of ``comm`` calls it.

    Parameters
    ----------
    data : str, optional
        Directory in the official layout; ``None`` runs the embedded real
        problem (1024 neurons, 120 layers, 1200 images).
    neurons, layers, images : int, optional
        Problem size; ``images`` keeps the first rows only.
    truth : str, optional
        Truth file; by default ``DIR/neuronN-lL-categories.tsv`` when present.
    space, threads : str, int
        Execution space name and thread count.
    comm : mpi4py communicator, optional
        Split the images across its ranks.
    on_layer : callable, optional
        ``on_layer(layer_index, stats, nlayers)`` after each layer on this
        rank, as :func:`~kkpy.dnn.infer`'s callback (its time is not counted).
    status : callable, optional
        ``status(message)`` before and after each slow phase (load, warm-up
        with its first-run compile, inference): one line for a person.
    per_layer : bool
        Collect per-layer figures on a GPU too (they are always collected on
        the host): each layer is then timed alone instead of the whole
        chain being replayed as one CUDA graph.
    stream : bool
        Read ``data``'s layers (or make ``generate``'s) while the earlier ones
        compute, a few ahead (:class:`kkpy.sparse.ChainStream`), instead of
        loading the network first: memory then holds a few layers whatever
        the depth, and the timed inference includes the reading it does not
        hide.  Host only.
    generate : int, optional
        Instead of ``data``, ``kkpy-dnn generate``'s network and inputs made
        with this seed (``images`` of them).

    Returns
    -------
    dict or None
        On rank 0 the result (see ``kkpy-dnn run --json``) plus
        ``category_ids`` (0-based); ``None`` on other ranks.  On a GPU space
        it also holds ``devices``: each rank's CUDA device id, in rank order.

    Raises
    ------
    UserError
        Bad arguments or data, with a one-line message.
    """
    from ..core import extending

    say = status or (lambda message: None)
    if stream and data is None and generate is None:
        raise UserError("--stream reads the layers of --data DIR as they are needed; the "
                        "embedded network is in memory already")
    exec_space = make_space(space, threads, comm)
    if stream and exec_space.memory_space != kkpy.HostSpace:
        raise UserError("--stream runs on the host; a GPU keeps what fits of the network in "
                        "its memory and streams the rest from the host by itself (leave "
                        "--stream out)")
    what = (f"a generated network (seed {generate})" if generate is not None
            else "the embedded official problem" if data is None else data)
    say(f"loading {what} ...")
    if comm is not None:  # ranks started differently would silently compute different things
        _same(comm, "arguments", _mpi.digest(data and os.path.abspath(data), neurons, layers,
                                             images, truth, space, threads, generate,
                                             stream))
    t = time.perf_counter()
    problem = _load(data, neurons, layers, images, truth, comm, exec_space, generate=generate,
                    stream=stream)
    load_seconds = time.perf_counter() - t
    if comm is not None:
        with _layer_errors(stream):
            digest = _mpi.network_digest(problem.layers, exec_space)
        _same(comm, "network (layer files)", digest)
    say(f"loaded {problem.neurons} neurons x {problem.nlayers} layers, {problem.nimages} "
        f"images in {load_seconds:.1f} s")
    say("warming up: the first run in a new environment compiles the kernels (a minute "
        "or more); later runs load them from the cache ...")
    compiled = dict(extending.compile_stats)
    t = time.perf_counter()
    with _layer_errors(stream):
        _warm_up(problem, exec_space)
    warmup_seconds = time.perf_counter() - t
    count = extending.compile_stats["count"] - compiled["count"]
    say(f"warm-up done in {warmup_seconds:.1f} s"
        + (f" ({count} kernel(s) compiled, cached for next time)" if count else "")
        + "; timed inference ...")

    stats, spent = [], [0.0]

    def callback(k, s):
        t = time.perf_counter()
        stats.append(s)
        if on_layer is not None:
            on_layer(k, s, problem.nlayers)
        spent[0] += time.perf_counter() - t

    if comm is not None:
        comm.Barrier()
    t0 = time.perf_counter()
    # Per-layer figures cost nothing on the host; on a GPU they mean timing each
    # layer with events instead of replaying the whole chain as one graph.
    want = per_layer or on_layer is not None or exec_space.memory_space == kkpy.HostSpace
    with _layer_errors(stream):
        Y = infer(problem.Y0, problem.chain, problem.bias, space=exec_space,
                  callback=callback if want else None)
    found = categories(Y, space=exec_space) + problem.first_row
    seconds = time.perf_counter() - t0 - spent[0]
    # Which GPU each rank took (None on the host): rank r's entry of "devices".
    devices = [getattr(exec_space, "device_id", None)]

    if comm is not None:
        gathered = comm.gather((found, seconds, stats, load_seconds, warmup_seconds,
                                devices[0]), root=0)
        if comm.Get_rank() != 0:
            return None
        found = np.concatenate([g[0] for g in gathered])
        seconds = max(g[1] for g in gathered)
        load_seconds = max(g[3] for g in gathered)
        warmup_seconds = max(g[4] for g in gathered)
        stats = _mpi.combine_layer_stats([g[2] for g in gathered])
        devices = [g[5] for g in gathered]
    truth_ids = problem.truth
    if truth_ids is not None:
        truth_ids = np.asarray(truth_ids, np.int64)
        truth_ids = truth_ids[truth_ids < problem.nimages]  # rows are independent
    # every chain counts its matrices' entries (a stream: those of its last pass, all of them)
    edges = int(problem.chain.nnz)
    # A GPU run also says which device each rank used (rank order), so that a
    # multi-GPU node's spread of ranks over its GPUs can be checked afterwards.
    gpu = {} if exec_space.memory_space == kkpy.HostSpace else {"devices": devices}
    return {
        "neurons": problem.neurons, "layers": problem.nlayers, "images": problem.nimages,
        "edges": edges, "seconds": seconds, "load_seconds": load_seconds,
        "warmup_seconds": warmup_seconds,
        "edges_per_second": problem.nimages * edges / seconds if seconds > 0 else None,
        "categories": int(found.size),
        "passed": None if truth_ids is None else bool(np.array_equal(np.sort(found), truth_ids)),
        "ranks": comm.Get_size() if comm is not None else 1,
        "threads": exec_space.concurrency(), "space": exec_space.name.lower(),
        "data": problem.source, "truth": problem.truth_path, "streamed": bool(stream),
        "per_layer": stats, "category_ids": np.sort(found), **gpu,
    }
