"""A chain's matrices read and prepared in a background thread, a few ahead of the products.

:class:`ChainStream` lets :func:`~kkpy.sparse.spgemm_chain` run a chain
whose matrices do not all fit in memory at once (a deep network read from
files): while product ``k`` computes, a worker thread reads matrix
``k + 1`` onwards and transposes it, at most ``window`` ahead, so memory
holds a few matrices whatever the depth.  The host kernels release the GIL,
so the reading overlaps the products.
"""
from __future__ import annotations

import queue
import threading

import numpy as np

from . import _tuning
from ._chain_prep import prepare_matrix

__all__ = ["ChainStream"]

_END = object()


class _Failed:
    """An exception raised in the worker, handed to the consumer to raise."""

    def __init__(self, err):
        self.err = err


class ChainStream:
    """The matrices of a chain, prepared one at a time while earlier products run.

    Pass it to :func:`~kkpy.sparse.spgemm_chain` (or :func:`kkpy.dnn.infer`)
    in place of a list of matrices: each matrix is read from ``source`` and
    transposed in a worker thread, at most ``window`` matrices ahead of the
    product that computes, and dropped once used.

    Parameters
    ----------
    source : iterable of CrsMatrix or scipy.sparse matrix
        Iterated once per pass over the chain.  An input with more rows than
        ``spgemm_chain``'s ``max_bytes`` holds needs one pass per batch of
        rows: give a re-iterable source then (a list, or an object whose
        ``__iter__`` reads its files again); a one-shot iterator serves one
        pass, and a second raises ValueError.
    dtype : numpy dtype, default float32
        Value type of the computation.
    window : int, optional
        Matrices prepared ahead (at least 1; default ``STREAM_WINDOW`` of
        ``kkpy/sparse/_tuning.py``, 2).
    length : int, optional
        Number of matrices, if known: ``len()`` then works and a chain whose
        rows all die early still reports every product.

    Attributes
    ----------
    nnz : int
        Entries of the matrices that have passed (all of them after a
        complete pass).
    passes : int
        Passes started.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import ChainStream, spgemm_chain, epilogues
    >>> A = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> layers = (sp.csr_array(np.array([[1.0, -1.0], [1.0, 1.0]])) for _ in range(2))
    >>> Y = spgemm_chain(A, ChainStream(layers), epilogues.bias_relu_cap,
    ...                  (np.zeros(2, np.float32), np.float32(1e9)))
    >>> Y.toarray()
    array([[1., 0.],
           [4., 0.]], dtype=float32)
    """

    def __init__(self, source, dtype=np.float32, window=None, length=None):
        window = _tuning.STREAM_WINDOW if window is None else window
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise ValueError(f"ChainStream: window must be an integer of at least 1, got "
                             f"{window!r}")
        if length is not None and (isinstance(length, bool) or
                                   not isinstance(length, (int, np.integer)) or length < 0):
            raise ValueError(f"ChainStream: length must be an integer of at least 0, got "
                             f"{length!r}")
        self.source = source
        self.dtype = np.dtype(dtype)
        self.window = int(window)
        self.length = None if length is None else int(length)
        self.one_shot = iter(source) is source
        self.nnz = 0
        self.passes = 0

    def __len__(self):
        if self.length is None:
            raise TypeError("ChainStream: the number of matrices is not known (give length=)")
        return self.length

    def __iter__(self):
        """Yield ``(shape, csr, transposed)`` for each matrix, prepared by a worker thread."""
        if self.one_shot and self.passes:
            raise ValueError("ChainStream: its source is a one-shot iterator, already used; "
                             "an input needing several passes (rows past max_bytes) needs a "
                             "re-iterable source")
        self.passes += 1
        self.nnz = 0
        items = queue.Queue(maxsize=self.window)
        stop = threading.Event()

        def put(item):
            while not stop.is_set():
                try:
                    items.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    pass
            return False

        def work():
            try:
                shape = None
                for n, m in enumerate(self.source):
                    if stop.is_set():
                        return
                    prepared = prepare_matrix(m, n, self.dtype, shape)
                    shape = prepared[0]
                    if not put(prepared):
                        return
                put(_END)
            except BaseException as err:  # handed over, raised where the product waits
                put(_Failed(err))

        worker = threading.Thread(target=work, name="kkpy-chain-stream", daemon=True)
        worker.start()
        try:
            while True:
                item = items.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.err
                self.nnz += int(item[1].nnz)
                yield item
        finally:
            stop.set()
            worker.join()
