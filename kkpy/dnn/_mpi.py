"""The distributed engine: input rows split across MPI ranks.

Inference is independent per input row, so ranks never talk during the
layers: each one reads every layer and only its own block of rows, runs
:func:`~kkpy.dnn.infer` on it, and rank 0 gathers the categories and the
per-layer statistics at the end.  Blocks are contiguous and balanced by the
rows' nonzeros (the work of the first layers is proportional to them), not
by row count.

mpi4py is imported only when a launcher says there are several ranks, so a
plain run needs no MPI at all.
"""
from __future__ import annotations

import os
import sys

import numpy as np

__all__ = ["world", "split_rows", "abort", "combine_layer_stats", "check_same", "network_digest"]

# Rank counts that launchers put in each process's environment: MPICH's
# Hydra, Intel MPI and Slurm's PMI (PMI_SIZE), Open MPI, MVAPICH.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launcher_size(environ=None) -> int:
    """Number of ranks the MPI launcher started, 1 when not under one.

    Examples
    --------
    >>> launcher_size({}), launcher_size({"PMI_SIZE": "4"})
    (1, 4)
    """
    environ = os.environ if environ is None else environ
    for var in _SIZE_VARS:
        raw = environ.get(var, "")
        if raw.strip().isdigit():
            return max(1, int(raw))
    return 1


def world():
    """``MPI.COMM_WORLD`` when launched on several ranks, else ``None``.

    Raises
    ------
    RuntimeError
        Several ranks were launched but mpi4py is not installed.
    """
    size = launcher_size()
    if size <= 1:
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError(f"launched on {size} MPI ranks but mpi4py is not installed "
                           "(pip install 'kkpy-kokkos[mpi]')") from None
    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def local_size(comm) -> int:
    """How many ranks share this node (they share its cores)."""
    return _on_node(comm, "Get_size")


def local_rank(comm) -> int:
    """This rank's number among the ranks of its node (which GPU it takes)."""
    return _on_node(comm, "Get_rank")


def _on_node(comm, what):
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return getattr(node, what)()
    finally:
        node.Free()


def split_rows(row_nnz, nranks):
    """Contiguous row blocks, one per rank, with about equal work each.

    A row's work is taken as its nonzeros plus one (so that empty rows still
    spread out instead of all landing on one rank).

    Parameters
    ----------
    row_nnz : array of int
        Nonzeros of each input row.
    nranks : int

    Returns
    -------
    numpy.ndarray of int64
        ``nranks + 1`` boundaries: rank ``r`` owns rows ``[b[r], b[r + 1])``.

    Examples
    --------
    >>> split_rows([9, 1, 1, 1, 1, 1, 1, 1, 1, 1], 2).tolist()
    [0, 3, 10]
    >>> split_rows([], 3).tolist()
    [0, 0, 0, 0]
    """
    work = np.asarray(row_nnz, np.int64) + 1
    cum = np.zeros(work.size + 1, np.int64)
    np.cumsum(work, out=cum[1:])
    targets = cum[-1] * np.arange(nranks + 1, dtype=np.float64) / nranks
    bounds = np.searchsorted(cum, targets, side="left").astype(np.int64)
    bounds[0], bounds[-1] = 0, work.size
    return np.maximum.accumulate(bounds)


def combine_layer_stats(per_rank):
    """Whole-job per-layer statistics from every rank's list.

    Rows and nonzeros add up; a layer takes as long as its slowest rank.

    Examples
    --------
    >>> a = [{"layer": 1, "active_rows": 3, "nnz": 30, "seconds": 0.5}]
    >>> b = [{"layer": 1, "active_rows": 2, "nnz": 10, "seconds": 0.7}]
    >>> combine_layer_stats([a, b])
    [{'layer': 1, 'active_rows': 5, 'nnz': 40, 'seconds': 0.7}]
    """
    out = []
    for rows in zip(*per_rank):
        out.append({"layer": rows[0]["layer"],
                    "active_rows": sum(r["active_rows"] for r in rows),
                    "nnz": sum(r["nnz"] for r in rows),
                    "seconds": max(r["seconds"] for r in rows)})
    return out


#: Seconds a failing rank waits between writing its error line and aborting the job.
ABORT_GRACE = 0.5


def digest(*parts):
    """A short hex digest of ``repr(parts)``: what ranks compare.

    Examples
    --------
    >>> digest("a", 1) == digest("a", 1) != digest("a", 2)
    True
    """
    import hashlib

    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def network_digest(layers, space):
    """A digest of every layer's shape, structure and values (one parallel pass over each).

    The layers are read into host memory, so a GPU ``space`` hashes them
    with the host's default space instead: a Cuda kernel cannot take host
    arrays.
    """
    from .. import DefaultHostExecutionSpace, HostSpace, RangePolicy, parallel_reduce
    from ..sparse import as_crs
    from ..sparse.extending import element_hash, fingerprint

    if space.memory_space != HostSpace:
        space = DefaultHostExecutionSpace()
    parts = []
    for W in layers:
        W = as_crs(W)
        vals = np.asarray(W.values)
        bits = vals.view(np.int32 if vals.itemsize == 4 else np.int64)
        h = parallel_reduce("kkpy.dnn.network_digest", RangePolicy(space, 0, bits.shape[0]),
                            element_hash, bits)
        parts.append((fingerprint(W, space), int(h)))
    return digest(parts)


def check_same(comm, what, value):
    """Raise ValueError on every rank unless all ranks hold the same ``value`` (a digest)."""
    values = comm.allgather(value)
    differ = [r for r, v in enumerate(values) if v != values[0]]
    if differ:
        raise ValueError(f"ranks {', '.join(map(str, differ))} differ from rank 0 in their "
                         f"{what}; start every rank with the same arguments and files")


def abort(comm, message, code):
    """Print ``message`` as this rank's one line on stderr and end every rank.

    ``MPI_Abort`` takes the other ranks down even when they wait in a
    collective, so one failing rank can never leave the job hanging.
    """
    import time

    sys.stderr.write(f"kkpy-dnn: rank {comm.Get_rank()}: {message}\n")
    sys.stderr.flush()
    # The launcher forwards stderr through a pipe: give it time to pass the line on
    # before MPI_Abort ends the job (without it the line was lost in 3 of 20 runs).
    time.sleep(ABORT_GRACE)
    comm.Abort(code)
    os._exit(code)  # MPICH's Abort may return before the launcher kills this process
