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

import time

import numpy as np

import kkpy
from .impl import _chain_kernels as K

__all__ = ["spgemm_chain", "prepare_chain"]


def _csr(x):
    """(row_map, entries, values, shape) of a CrsMatrix or any scipy.sparse matrix."""
    if hasattr(x, "row_map"):
        return (np.asarray(x.row_map), np.asarray(x.entries), np.asarray(x.values),
                tuple(x.shape))
    import scipy.sparse as sp

    if not sp.issparse(x):
        raise TypeError(f"expected a CrsMatrix or scipy.sparse matrix, got {type(x).__name__}")
    x = sp.csr_array(x)
    return x.indptr, x.indices, x.data, x.shape


class PreparedChain:
    """The chain's matrices transposed once (column access), reusable across inputs."""

    def __init__(self, mats, dtype):
        import scipy.sparse as sp

        self.shapes = []
        self.transposed = []
        self.nnz = 0
        for n, m in enumerate(mats):
            row_map, entries, values, shape = _csr(m)
            if self.shapes and self.shapes[-1][1] != shape[0]:
                raise ValueError(f"spgemm_chain: matrix {n} has {shape[0]} rows but the "
                                 f"previous one has {self.shapes[-1][1]} columns")
            t = sp.csr_array((values.astype(dtype, copy=False), entries, row_map), shape=shape).T.tocsr()
            t.sum_duplicates()
            self.transposed.append((t.indptr.astype(np.int64), t.indices.astype(np.int32),
                                    t.data.astype(dtype, copy=False)))
            self.shapes.append(shape)
            self.nnz += len(values)

    def __len__(self):
        return len(self.shapes)


def prepare_chain(mats, dtype=np.float32):
    """Transpose the chain's matrices once; pass the result to :func:`spgemm_chain` again and again."""
    return PreparedChain(mats, np.dtype(dtype))


def _launch(space, label, n, kern, *args):
    kkpy.parallel_for(label, kkpy.RangePolicy(space, 0, n), kern, *args)


def spgemm_chain(A, mats, epilogue, epilogue_args=(), *, space=None, dtype=np.float32,
                 block_rows=32, max_bytes=2 << 30, callback=None):
    """Multiply ``A`` through ``mats`` with an elementwise epilogue after each product.

    Parameters
    ----------
    A : CrsMatrix or scipy.sparse matrix
        The input, ``m x n0``.
    mats : sequence of CrsMatrix or scipy.sparse, or a result of :func:`prepare_chain`
        ``B_0 (n0 x n1), B_1 (n1 x n2), ...``.
    epilogue : kernel
        ``epilogue(z, j, *args) -> value``, applied to every nonzero ``z`` of
        a product, ``j`` its column.  Entries that come out as 0 are dropped.
    epilogue_args : tuple, or list of tuples (one per matrix)
        Extra arguments of the epilogue, e.g. a bias vector.
    space : ExecutionSpace, optional
    dtype : numpy dtype, default float32
        Value type of the computation.
    block_rows : int
        Rows per dense block (the vector length of the inner loop).
    max_bytes : int
        Memory budget of the dense working set; inputs with more rows are
        processed in batches of rows that fit (rows are independent).
    callback : callable, optional
        ``callback(k, stats)`` after product ``k`` with ``stats`` a dict of
        ``active_rows``, ``nnz`` and ``seconds``.

    Returns
    -------
    scipy.sparse.csr_array
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
    space = space or kkpy.DefaultExecutionSpace()
    dtype = np.dtype(dtype)
    chain = mats if isinstance(mats, PreparedChain) else PreparedChain(mats, dtype)
    row_map, entries, values, shape = _csr(A)
    if chain.shapes and shape[1] != chain.shapes[0][0]:
        raise ValueError(f"spgemm_chain: A has {shape[1]} columns but the first matrix has "
                         f"{chain.shapes[0][0]} rows")
    widest = max([shape[1]] + [s[1] for s in chain.shapes])
    R = int(block_rows)
    # two dense buffers (input and output of a layer) must fit the budget
    batch = max(R, (int(max_bytes) // (2 * widest * dtype.itemsize)) // R * R)
    nrows = shape[0]
    stats = [None] * len(chain)

    def merge(k, st):
        if stats[k] is None:
            stats[k] = dict(st)
        else:
            for key in st:
                stats[k][key] += st[key]

    parts = []
    for lo in range(0, max(nrows, 1), batch):
        hi = min(nrows, lo + batch)
        sub = row_map[lo:hi + 1]
        parts.append(_run_batch(space, chain, sub - sub[0], entries[sub[0]:sub[-1]],
                                values[sub[0]:sub[-1]], hi - lo, epilogue, epilogue_args,
                                dtype, R, merge))
    if callback is not None:
        for k, st in enumerate(stats):
            callback(k, st if st is not None else {"active_rows": 0, "nnz": 0, "seconds": 0.0})
    import scipy.sparse as sp

    n_last = chain.shapes[-1][1] if len(chain) else shape[1]
    if len(parts) == 1:
        return parts[0]
    return sp.vstack(parts, format="csr").astype(dtype, copy=False) if parts else \
        sp.csr_array((nrows, n_last), dtype=dtype)


def _run_batch(space, chain, row_map, entries, values, nrows, epilogue, epilogue_args, dtype,
               R, record):
    per_layer = isinstance(epilogue_args, list)
    width = chain.shapes[0][0] if len(chain) else 0
    live = np.flatnonzero(np.diff(row_map)).astype(np.int64)  # input ids of live rows
    nb = -(-len(live) // R)
    src = np.empty((nb, width, R), dtype)
    _launch(space, "spgemm_chain:scatter", nb, K.scatter_rows, row_map.astype(np.int64),
            entries, values.astype(dtype, copy=False), live, src)
    counts = None
    for k in range(len(chain)):
        t0 = time.perf_counter()
        wt_ptr, wt_idx, wt_val = chain.transposed[k]
        eargs = tuple(epilogue_args[k] if per_layer else epilogue_args)
        kern = K.layer_kernel(epilogue, len(eargs))
        n_out = chain.shapes[k][1]
        dst = np.empty((nb, n_out, R), dtype)
        counts = np.empty((nb, R), np.int64)
        _launch(space, "spgemm_chain:layer", nb, kern, src, dst, counts, wt_ptr, wt_idx,
                wt_val, *eargs)
        flat = counts.reshape(-1)[:len(live)]
        alive = flat > 0
        if alive.all():
            src = dst
        else:
            keep = np.flatnonzero(alive)
            live = live[keep]
            counts = flat[keep]
            nb = -(-len(live) // R)
            src = np.empty((nb, n_out, R), dtype)
            _launch(space, "spgemm_chain:repack", nb, K.repack, dst, src, keep)
            counts = np.concatenate([counts, np.zeros(nb * R - len(counts), np.int64)]).reshape(nb, R)
        record(k, {"active_rows": int(len(live)), "nnz": int(counts.sum()),
                   "seconds": time.perf_counter() - t0})
        if len(live) == 0:
            for rest in range(k + 1, len(chain)):
                record(rest, {"active_rows": 0, "nnz": 0, "seconds": 0.0})
            break
    n_last = chain.shapes[-1][1] if len(chain) else width
    return _to_csr(space, src, live, counts, nrows, n_last, dtype)


def _to_csr(space, blocks, live, counts, nrows, ncols, dtype):
    import scipy.sparse as sp

    if counts is None:  # an empty chain: the input itself, densified and back
        counts = (blocks != 0).sum(axis=1)
    per_row = counts.reshape(-1)[:len(live)]
    local_map = np.zeros(len(live) + 1, np.int64)
    np.cumsum(per_row, out=local_map[1:])
    entries = np.empty(local_map[-1], np.int32)
    values = np.empty(local_map[-1], dtype)
    _launch(space, "spgemm_chain:gather", len(live), K.gather_csr, blocks,
            np.arange(len(live), dtype=np.int64), local_map, entries, values)
    row_nnz = np.zeros(nrows, np.int64)
    row_nnz[live] = per_row
    row_map = np.zeros(nrows + 1, np.int64)
    np.cumsum(row_nnz, out=row_map[1:])
    # live ids are increasing, so the local rows are already in global order
    return sp.csr_array((values, entries, row_map), shape=(nrows, ncols))
