"""``spgemm_chain``: push a sparse matrix through a chain of SpGEMMs with an epilogue.

``Y_{k+1} = drop_zeros(epilogue(Y_k @ B_k))`` for every ``B_k`` in turn, where
the epilogue is applied to every nonzero of the product.  This is the inner
loop of sparse neural-network inference, and of any iterated sparse
propagation (graph diffusion with a threshold, k-hop frontiers with pruning).

Rows that become empty are dropped from later products: their work is gone
for good.  Live rows are held densely, in blocks of ``block_rows`` rows, when
they are dense enough for a vectorised sparse-times-dense product to beat
sparse accumulation; the result is the same either way.
"""
from __future__ import annotations

import threading
import time

import numpy as np

import kkpy
from . import _dispatch, _tuning
from ._chain_prep import csr_parts, prepare_matrix
from ._stream import ChainStream
from .host import _chain_kernels as K

__all__ = ["spgemm_chain", "prepare_chain"]


class _Workspace:
    """Dense block buffers reused from layer to layer and from call to call.

    Fresh memory costs a page fault per page on first touch, which for a
    60000 x 1024 float32 layer is a large part of the layer's time; the
    layers ping-pong between two buffers instead, and a prepared chain keeps
    them for its next call (like a Kokkos Kernels handle keeps its workspace).
    """

    def __init__(self):
        self._flat = [None, None]
        self.lock = threading.Lock()

    def take(self, slot, shape, dtype):
        size = int(np.prod(shape))
        flat = self._flat[slot]
        if flat is None or flat.dtype != dtype or flat.size < size:
            flat = self._flat[slot] = np.empty(max(size, 1), dtype)
        return flat[:size].reshape(shape)

    def release(self):
        self._flat = [None, None]


class PreparedChain:
    """The chain's matrices transposed once (column access), reusable across inputs.

    It also keeps the dense working buffers of its last call, so repeated
    calls do not pay for fresh memory again; :meth:`release` frees them.
    """

    def __init__(self, mats, dtype):
        self.workspace = _Workspace()
        self.shapes = []
        self.transposed = []
        self.mats = []
        self.nnz = 0
        if isinstance(mats, ChainStream):  # its worker prepares them: keep them all
            if mats.dtype != dtype:
                raise ValueError(f"prepare_chain: the stream prepares {mats.dtype}, not {dtype}")
            prepared = iter(mats)
        else:
            prepared = (prepare_matrix(m, n, dtype, self.shapes[-1] if self.shapes else None)
                        for n, m in enumerate(mats))
        for shape, m, t in prepared:
            self.mats.append(m)
            self.transposed.append(t)
            self.shapes.append(shape)
            self.nnz += m.nnz

    def __len__(self):
        return len(self.shapes)

    def __iter__(self):
        """``(shape, csr, transposed)`` of each matrix, in order (as a ChainStream yields)."""
        return zip(self.shapes, self.mats, self.transposed)

    def release(self):
        """Free the working buffers kept from the last call."""
        self.workspace.release()


def prepare_chain(mats, dtype=np.float32, space=None, *, resident=None):
    """Prepare the chain's matrices once; pass the result to :func:`spgemm_chain` again and again.

    On the host the matrices are transposed once (the chain reads columns);
    on a Cuda space they are uploaded once, with the column groups the GPU
    kernels use, and the result is a ``kkpy.sparse.cuda.CudaChain``.  A
    chain larger than the GPU's memory keeps the matrices that do not fit
    on the host and streams each one up as the products reach it.

    Parameters
    ----------
    mats : iterable of CrsMatrix or scipy.sparse matrix, or a :class:`~kkpy.sparse.ChainStream`
        A stream's matrices are kept as its worker prepares them.
    dtype : numpy dtype, default float32
        Value type of the computation.
    space : ExecutionSpace, optional
        Where the chain will run (default: the default space).
    resident : bool or None, optional
        Cuda space only.  ``True``: every matrix in GPU memory.  ``False``:
        every matrix on the host, each streamed up (asynchronous copies
        into a few slots of GPU memory, overlapping the products before
        it) as the products reach it.  ``None`` (default): the matrices
        stay in GPU memory while they fit in half of what is free when the
        chain is prepared, and the rest stream.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import prepare_chain
    >>> chain = prepare_chain([sp.eye(3, format="csr")] * 2)
    >>> len(chain), chain.shapes
    (2, [(3, 3), (3, 3)])
    """
    gpu = _dispatch.on_gpu(space)
    if gpu:
        return _cuda_chain(mats, dtype, gpu, resident)
    if resident is not None:
        raise ValueError("prepare_chain: resident= chooses where a Cuda space keeps the "
                         "matrices; on the host leave it out")
    return PreparedChain(mats, np.dtype(dtype))


def _cuda_chain(mats, dtype, gpu, resident=None):
    """``mats`` (matrices, a host PreparedChain or a ChainStream) uploaded to ``gpu``."""
    if isinstance(mats, PreparedChain):
        mats = mats.mats
    elif isinstance(mats, ChainStream):  # uploaded as it is read
        mats = (m for _, m, _ in mats)
    return _dispatch.cuda().CudaChain(mats, dtype, gpu, resident)


def _launch(space, label, n, kern, *args):
    kkpy.parallel_for(label, kkpy.RangePolicy(space, 0, n), kern, *args)


def spgemm_chain(A, mats, epilogue, epilogue_args=(), *, space=None, dtype=np.float32,
                 block_rows=_tuning.CHAIN_BLOCK_ROWS, max_bytes=_tuning.CHAIN_MAX_BYTES,
                 dense_fraction=_tuning.CHAIN_DENSE_FRACTION, callback=None):
    """Multiply ``A`` through ``mats`` with an elementwise epilogue after each product.

    Parameters
    ----------
    A : CrsMatrix or scipy.sparse matrix
        The input, ``m x n0``.
    mats : sequence of CrsMatrix or scipy.sparse, a result of :func:`prepare_chain`, or a :class:`~kkpy.sparse.ChainStream`
        ``B_0 (n0 x n1), B_1 (n1 x n2), ...``.  A stream is read as the
        products go, on the host; a Cuda space reads it whole first (into GPU
        memory, and the host's for the matrices that do not fit there).
    epilogue : kernel
        ``epilogue(z, j, *args) -> value``, applied to every nonzero ``z`` of
        a product, ``j`` its column.  Entries that come out as 0 are dropped.
    epilogue_args : tuple, list of tuples (one per matrix), or callable
        Extra arguments of the epilogue, e.g. a bias vector.  Arrays among
        them are read-only inputs: an epilogue must not write to them (on
        a Cuda space a host array goes up again only when its bytes have
        changed since the last call).  A callable ``f(k, shape) -> tuple``
        gives matrix ``k``'s arguments when that matrix (of ``shape``)
        arrives, for a :class:`~kkpy.sparse.ChainStream` whose matrices are
        not known in advance.
    space : ExecutionSpace, optional
        Where to run (default: the default space).  On a Cuda space the
        result is a :class:`~kkpy.sparse.DeviceCrs` in GPU memory, ``A``
        may be one too, ``mats`` should be prepared for that space (else
        they are uploaded at every call), and the epilogue's array
        arguments may be host arrays (uploaded) or device arrays.
        ``block_rows``, ``max_bytes`` and ``dense_fraction`` apply to the
        host only: the GPU keeps every live row dense, 32 rows to a warp.
    dtype : numpy dtype, default float32
        Value type of the computation (float32 or float64 on a Cuda space,
        where a prepared chain's own dtype must match).
    block_rows : int, default 32
        Rows per dense block (the vector length of the inner loop).
    max_bytes : int, default 2 GiB
        Memory budget of the dense working set; inputs with more rows are
        processed in batches of rows that fit (rows are independent).
    dense_fraction : float, default 1/32
        Live rows are held densely while their average density is at least
        this (and go back to sparse storage below half of it, so that they do
        not flip at every product).  The defaults, and the half, are in
        ``kkpy/sparse/_tuning.py``.  A dense product costs about
        ``ncols * avg_col_nnz / vector_width`` per row against
        ``row_nnz * avg_row_nnz`` scattered updates for sparse accumulation,
        which breaks even near 1/32 on AVX2 hardware.
    callback : callable, optional
        ``callback(k, stats)`` after product ``k`` with ``stats`` a dict of
        ``active_rows``, ``nnz`` and ``seconds``.

    Returns
    -------
    CrsMatrix
        ``m x n_last``, columns sorted; rows that died are empty.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, kkpy
    >>> from kkpy.sparse import spgemm_chain, epilogues
    >>> A = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> B = sp.csr_array(np.array([[1.0, -1.0], [1.0, 1.0]]))
    >>> relu = epilogues.bias_relu_cap
    >>> Y = spgemm_chain(A, [B, B], relu, (np.zeros(2, np.float32), np.float32(1e9)))
    >>> Y.toarray()
    array([[1., 0.],
           [4., 0.]], dtype=float32)
    """
    dtype = np.dtype(dtype)
    gpu = _dispatch.on_gpu(space)
    cuda_chain = getattr(type(mats), "__name__", "") == "CudaChain"
    stream = isinstance(mats, ChainStream)
    if stream and mats.dtype != dtype:
        raise ValueError(f"spgemm_chain: the stream prepares {mats.dtype}, not {dtype}")
    if gpu:
        if not cuda_chain:  # the GPU keeps the whole chain (a stream goes up as it is read)
            mats = _cuda_chain(mats, dtype, gpu)
        elif mats.dtype != dtype:
            raise ValueError(f"spgemm_chain: the chain was prepared for {mats.dtype}, not "
                             f"{dtype}")
        if callable(epilogue_args):
            epilogue_args = [tuple(epilogue_args(k, shape))
                             for k, shape in enumerate(mats.shapes)]
        return _dispatch.cuda().run_chain(mats, A, epilogue, epilogue_args, callback)
    if cuda_chain:
        raise ValueError("spgemm_chain: the chain was prepared for a Cuda space; pass that "
                         "space, or prepare_chain(mats) for the host")
    space = space or kkpy.DefaultExecutionSpace()
    row_map, entries, values, shape = csr_parts(A)
    if stream:
        chain = mats
        widest = shape[1]  # later matrices unknown: the buffers grow if one is wider
    else:
        chain = mats if isinstance(mats, PreparedChain) else PreparedChain(mats, dtype)
        if chain.shapes and shape[1] != chain.shapes[0][0]:
            raise ValueError(f"spgemm_chain: A has {shape[1]} columns but the first matrix "
                             f"has {chain.shapes[0][0]} rows")
        if not len(chain):
            return _canonical(space, values, entries, row_map, shape[1], dtype)
        widest = max([shape[1]] + [s[1] for s in chain.shapes])
    R = int(block_rows)
    # two dense buffers (input and output of a layer) must fit the budget
    batch = max(R, (int(max_bytes) // (2 * widest * dtype.itemsize)) // R * R)
    nrows = shape[0]
    stats = []

    def merge(k, st):
        while len(stats) <= k:
            stats.append(None)
        if stats[k] is None:
            stats[k] = dict(st)
        else:
            for key in st:
                stats[k][key] += st[key]

    parts = []
    starts = range(0, max(nrows, 1), batch)
    if stream and chain.one_shot and len(starts) > 1:
        raise ValueError(f"spgemm_chain: {nrows} rows need {len(starts)} passes over the "
                         "chain (max_bytes), but the ChainStream's source is a one-shot "
                         "iterator; give it a re-iterable source")
    # With one batch (the usual case) each product is reported as it ends, so
    # a progress bar can follow; batches' statistics are only known summed.
    live = callback if len(starts) == 1 else None
    for lo in starts:
        hi = min(nrows, lo + batch)
        sub = row_map[lo:hi + 1]
        parts.append(_run_batch(space, chain, shape[1], sub - sub[0], entries[sub[0]:sub[-1]],
                                values[sub[0]:sub[-1]], hi - lo, epilogue, epilogue_args,
                                dtype, R, live or merge, dense_fraction))
    if parts[0] is None:  # a stream of no matrices
        return _canonical(space, values, entries, row_map, shape[1], dtype)
    if callback is not None and live is None:
        for k, st in enumerate(stats):
            callback(k, st if st is not None else {"active_rows": 0, "nnz": 0, "seconds": 0.0})
    if len(parts) == 1:
        return parts[0]
    return _stack(parts)


def _canonical(space, values, entries, row_map, ncols, dtype):
    """A chain of no matrices: the input itself, in the canonical form a product
    would have (the layer code would count its stored entries before merging them)."""
    from ._crs import CrsMatrix

    return CrsMatrix(values.astype(dtype, copy=False), entries, row_map,
                     ncols).sort_and_merge(space)


def _run_batch(space, chain, width, row_map, entries, values, nrows, epilogue, epilogue_args,
               dtype, R, record, dense_fraction):
    per_layer = isinstance(epilogue_args, list)
    # a chain used by two threads at once gives the second its own buffers (and a
    # stream, made for one call, gets its own)
    own = getattr(chain, "workspace", None)
    ws = own if own is not None and own.lock.acquire(blocking=False) else _Workspace()
    try:
        return _layers(space, chain, ws, row_map, entries, values, nrows, epilogue,
                       epilogue_args, per_layer, width, dtype, R, record, dense_fraction)
    finally:
        if ws is own:
            ws.lock.release()


def _layers(space, chain, ws, row_map, entries, values, nrows, epilogue, epilogue_args,
            per_layer, width, dtype, R, record, dense_fraction):
    from ._crs import CrsMatrix
    from ._spgemm import spgemm

    slot = 0  # the workspace buffer holding the live dense rows
    row_nnz = np.diff(row_map)
    live = np.flatnonzero(row_nnz).astype(np.int64)  # input ids of live rows
    values = values.astype(dtype, copy=False)
    dense = len(values) >= dense_fraction * len(live) * width
    if dense:
        src, counts = _densify(space, ws, slot, row_map.astype(np.int64), entries, values,
                               live, width, R, dtype)
    else:
        Y = _compact_crs(CrsMatrix(values, entries, row_map, width), row_nnz)
    k = -1
    n_last = width
    layers = iter(chain)
    for k, (shape, mat, transposed) in enumerate(layers):
        if k == 0 and shape[0] != width:
            raise ValueError(f"spgemm_chain: A has {width} columns but the first matrix has "
                             f"{shape[0]} rows")
        t0 = time.perf_counter()
        eargs = tuple(epilogue_args(k, shape) if callable(epilogue_args)
                      else epilogue_args[k] if per_layer else epilogue_args)
        n_out = n_last = shape[1]
        if dense:
            wt_ptr, wt_idx, wt_val = transposed
            kern = K.layer_kernel(epilogue, len(eargs), R)
            nb = src.shape[0]
            dst = ws.take(1 - slot, (nb, n_out, R), dtype)
            counts = np.empty((nb, R), np.int64)
            _launch(space, "spgemm_chain:layer", nb, kern, src, dst, counts, wt_ptr, wt_idx,
                    wt_val, *eargs)
            flat = counts.reshape(-1)[:len(live)]
            alive = flat > 0
            if alive.all():
                src, slot = dst, 1 - slot
            else:
                keep = np.flatnonzero(alive)
                live = live[keep]
                nb = -(-len(live) // R)
                src = ws.take(slot, (nb, n_out, R), dtype)
                _launch(space, "spgemm_chain:repack", nb, K.repack, dst, src, keep)
                counts = np.zeros(nb * R, np.int64)
                counts[:len(live)] = flat[keep]
                counts = counts.reshape(nb, R)
            nnz = int(counts.sum())
            if len(live) and nnz < _tuning.CHAIN_SPARSE_SHARE * dense_fraction * len(live) * n_out:
                Y = _sparsify(space, src, counts, len(live), n_out, dtype)
                dense = False
        else:
            ep = K.nonzero_only(epilogue, len(eargs))
            Z = spgemm(Y, mat, epilogue=ep, epilogue_args=eargs, drop_zeros=True,
                       space=space)
            rc = np.diff(np.asarray(Z.row_map))
            live = live[rc > 0]
            Y = _compact_crs(Z, rc)
            nnz = int(Y.nnz)
            if len(live) and nnz >= dense_fraction * len(live) * n_out:
                src, counts = _densify(space, ws, slot, np.asarray(Y.row_map).astype(np.int64),
                                       np.asarray(Y.entries), np.asarray(Y.values),
                                       np.arange(len(live), dtype=np.int64), n_out, R, dtype)
                dense = True
        record(k, {"active_rows": int(len(live)), "nnz": nnz,
                   "seconds": time.perf_counter() - t0})
        if len(live) == 0:
            # the later products are empty; a stream still reads them (their count, and
            # every matrix's entries, are part of the result's statistics)
            for rest, (shape, _, _) in enumerate(layers, k + 1):
                n_last = shape[1]
                record(rest, {"active_rows": 0, "nnz": 0, "seconds": 0.0})
            break
    if k < 0:
        return None
    if dense:
        Y = _sparsify(space, src, counts, len(live), n_last, dtype)
    return _expand(Y, live, nrows, n_last)


def _stack(parts):
    """Stack row batches (CrsMatrix) into one CrsMatrix."""
    from ._crs import CrsMatrix

    offsets = np.cumsum([0] + [p.nnz for p in parts])
    row_map = np.concatenate([np.asarray(parts[0].row_map)[:1]] +
                             [np.asarray(p.row_map)[1:] + o for p, o in zip(parts, offsets)])
    return CrsMatrix(np.concatenate([np.asarray(p.values) for p in parts]),
                     np.concatenate([np.asarray(p.entries) for p in parts]), row_map,
                     parts[0].ncols)


def _densify(space, ws, slot, row_map, entries, values, rows, width, R, dtype):
    """Dense blocks holding CSR rows ``rows``, and their nonzero counts."""
    nb = -(-len(rows) // R)
    src = ws.take(slot, (nb, width, R), dtype)
    _launch(space, "spgemm_chain:scatter", nb, K.scatter_rows, row_map, entries, values, rows, src)
    counts = np.zeros(nb * R, np.int64)
    counts[:len(rows)] = (row_map[rows + 1] - row_map[rows]) if len(rows) else 0
    return src, counts.reshape(nb, R)


def _compact_crs(Y, row_nnz):
    """Drop empty rows; their entries are gone already, so only row_map changes."""
    from ._crs import CrsMatrix

    keep = row_nnz[row_nnz > 0]
    new_map = np.zeros(len(keep) + 1, np.int64)
    np.cumsum(keep, out=new_map[1:])
    return CrsMatrix(np.asarray(Y.values), np.asarray(Y.entries), new_map, Y.ncols)


def _sparsify(space, blocks, counts, nlive, ncols, dtype):
    """The first ``nlive`` rows held in dense blocks, as a CrsMatrix with sorted columns."""
    from ._crs import CrsMatrix

    per_row = counts.reshape(-1)[:nlive]
    row_map = np.zeros(nlive + 1, np.int64)
    np.cumsum(per_row, out=row_map[1:])
    entries = np.empty(row_map[-1], np.int32)
    values = np.empty(row_map[-1], dtype)
    _launch(space, "spgemm_chain:gather", nlive, K.gather_csr, blocks,
            np.arange(nlive, dtype=np.int64), row_map, entries, values)
    return CrsMatrix(values, entries, row_map, ncols)


def _expand(Y, live, nrows, ncols):
    """Put the compact rows of ``Y`` back at input rows ``live`` (increasing)."""
    from ._crs import CrsMatrix

    row_nnz = np.zeros(nrows, np.int64)
    row_nnz[live] = np.diff(np.asarray(Y.row_map))
    row_map = np.zeros(nrows + 1, np.int64)
    np.cumsum(row_nnz, out=row_map[1:])
    return CrsMatrix(np.asarray(Y.values), np.asarray(Y.entries), row_map, ncols)
