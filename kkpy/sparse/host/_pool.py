"""Large host arrays of the sparse kernels, from memory that earlier ones gave back.

A result written into fresh memory pays for the kernel's first touch of
every page: with huge pages, the kernel zeroes 2 MiB at each fault, so
Poisson2D squared (76 MB of output) spent about a fifth of its two-thread
time there (see ``_tuning.RESULT_POOL_MIN_BYTES``).  Like a caching
allocator (CuPy's memory pool, MKL's memory manager), :func:`empty` hands
out arrays over blocks kept from arrays that died, and a block goes back
only when the last array that uses it (a view, a scipy matrix sharing it)
is gone: it is never handed out twice.

The pool keeps at most ``_tuning.result_pool_bytes()`` of free blocks,
dropping the oldest first; :func:`release_memory`
(``kkpy.sparse.release_memory``) frees them all, and
``KKPY_SPARSE_POOL_BYTES=0`` turns the pool off.  Arrays come uninitialised,
as from ``np.empty``.
"""
from __future__ import annotations

import collections
import os
import threading

import numpy as np

from .. import _tuning

__all__ = ["Alias", "empty", "release_memory", "kept_bytes"]

_lock = threading.Lock()
#: Free blocks (uint8 arrays), oldest first.
_free: collections.OrderedDict = collections.OrderedDict()
#: Blocks given back while the lock was held (a garbage collection inside
#: :func:`empty`): put in the pool at the next call.
_returned: collections.deque = collections.deque()
_kept = [0]


class Alias:
    """Presents array ``a``'s memory to numpy as writable, with this object as its owner.

    ``np.asarray(Alias(a))`` is an array over ``a``'s memory whose base is
    the alias, which keeps ``a`` alive.
    """

    __slots__ = ("__array_interface__", "base", "__weakref__")

    def __init__(self, a):
        iface = dict(a.__array_interface__)
        iface["data"] = (iface["data"][0], False)
        self.__array_interface__ = iface
        self.base = a


class _Lease(Alias):
    """The owner, for numpy, of an array over a pooled block; its death gives the block back."""

    __slots__ = ("block",)

    def __init__(self, block, n, dtype):
        super().__init__(block[:n * dtype.itemsize].view(dtype))
        self.block = block

    def __del__(self):
        try:
            block, self.block = self.block, None
            if block is None:
                return
            if _lock.acquire(blocking=False):
                try:
                    _keep(block)
                finally:
                    _lock.release()
            else:
                _returned.append(block)
        except Exception:  # noqa: BLE001  (interpreter shutdown: the memory goes anyway)
            pass


def _keep(block):
    """Add ``block`` to the free blocks (lock held), dropping the oldest past the limit."""
    limit = _tuning.result_pool_bytes()
    if block.nbytes > limit:
        return
    _free[id(block)] = block
    _kept[0] += block.nbytes
    while _kept[0] > limit:
        _, old = _free.popitem(last=False)
        _kept[0] -= old.nbytes


def _drain():
    """Put the blocks given back while the lock was held into the pool (lock held)."""
    while _returned:
        _keep(_returned.popleft())


def _take(nbytes):
    """A free block of ``nbytes`` to twice that (the smallest), or None (lock held)."""
    _drain()
    best = None
    for key, block in _free.items():
        if nbytes <= block.nbytes <= 2 * nbytes and (best is None
                                                     or block.nbytes < _free[best].nbytes):
            best = key
    if best is None:
        return None
    block = _free.pop(best)
    _kept[0] -= block.nbytes
    return block


def empty(shape, dtype):
    """An uninitialised C-ordered array of ``shape`` (an int or a tuple) and ``dtype``,
    pooled when it is large, as ``numpy.empty`` makes one.

    Examples
    --------
    >>> import numpy as np
    >>> a = empty(1 << 20, np.float64)
    >>> a.shape, a.dtype, a.flags.writeable, a.flags.c_contiguous
    ((1048576,), dtype('float64'), True, True)
    >>> address = a.ctypes.data
    >>> del a                                 # the block goes back ...
    >>> empty(1 << 20, np.float64).ctypes.data == address   # ... and serves the next
    True
    >>> b = empty((2, 1 << 19), np.float64)   # a view of the block keeps it leased
    >>> b.shape, b.ctypes.data == address
    ((2, 524288), True)
    """
    if not isinstance(shape, tuple):
        return _empty1d(shape, dtype)
    return _empty1d(int(np.prod(shape, dtype=np.int64)), dtype).reshape(shape)


def _empty1d(n, dtype):
    dtype = np.dtype(dtype)
    nbytes = int(n) * dtype.itemsize
    if nbytes < _tuning.RESULT_POOL_MIN_BYTES or _tuning.result_pool_bytes() == 0:
        return np.empty(n, dtype)
    with _lock:
        block = _take(nbytes)
    if block is None:
        grain = _tuning.RESULT_POOL_GRAIN
        block = np.empty(-(-nbytes // grain) * grain, np.uint8)
    return np.asarray(_Lease(block, int(n), dtype))


def kept_bytes():
    """Bytes of free blocks the pool holds now."""
    with _lock:
        _drain()
        return _kept[0]


def release_memory():
    """Free the memory kkpy.sparse keeps from dead results for the next ones.

    Large arrays of results (and the kernels' scratch) come from blocks
    that earlier arrays gave back when nothing used them any more: writing
    into memory already touched saves the operating system's page faults
    (Poisson2D squared on two threads: 47.6 -> 39.1 ms).  At most an
    eighth of the machine's memory, and no more than 4 GiB, is kept
    (``KKPY_SPARSE_POOL_BYTES`` sets the limit, 0 turns the pool off).
    Arrays still in use are never touched.

    Returns
    -------
    int
        The bytes given back to the operating system.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from kkpy import sparse
    >>> A = sp.random(2000, 2000, density=0.05, format="csr", random_state=0)
    >>> C = sparse.spgemm(A, A); del C
    >>> sparse.release_memory() >= 0
    True
    """
    with _lock:
        _returned.clear()
        freed = _kept[0]
        _free.clear()
        _kept[0] = 0
    return freed


def _after_fork():
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
