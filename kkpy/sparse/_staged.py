"""Row plans and staged results: writing a CRS matrix whose row lengths are not known yet.

A kernel that builds rows (SpGEMM, SpAdd) runs over *chunks* of consecutive
rows with equal work, so threads stay balanced even on power-law matrices
and each chunk allocates its workspace once.  Each chunk writes its rows,
compacted, into its own *region* of one buffer, sized by the rows' upper
bounds; then the row lengths are scanned into the row map, the chunks are
slid left over the gaps in place, and the buffer is shrunk to the result.
One pass over the work and one move of the result, with no second buffer:
the pages of a region that its rows do not reach are never touched, so the
generous upper bounds cost address space, not memory.

Staging is bounded: chunks are grouped into *passes* whose regions fit
:data:`~kkpy.sparse._tuning.STAGING_ENTRIES` (or one chunk, if bigger), so a product with huge
upper bounds runs in several passes rather than reserving address space for
all of it at once.

Staging of well-filled chunks is in huge pages (see :func:`_staging`): each
chunk then touches at most one huge page more than its rows need, and a
large result faults in and frees its memory hundreds of times faster.
"""
from __future__ import annotations

import threading

import numpy as np

from .. import RangePolicy, Serial, parallel_for, parallel_scan
from . import _tuning
from .host import _pool
from .host._staging import compact
from .impl import _common

_INT32_MAX = np.iinfo(np.int32).max


def glue_space(space, n):
    """``space``, or ``Serial()`` for a host loop of ``n`` cheap iterations."""
    if n < _tuning.SERIAL_BELOW and space.parallel and space.backend == "host":
        return Serial()
    return space


def _small_host(space, n):
    """Whether an O(n) prefix sum is best left to numpy (host memory, few rows)."""
    return n < _tuning.SERIAL_BELOW and space.backend == "host"


def prefix_sum(space, label, kernel, args, out, host_values):
    """Exclusive prefix sums of ``kernel(i, *args)`` into ``out`` (one longer than the range).

    For a short range in host memory numpy's cumsum of ``host_values()``
    does it: a kernel launch costs more there than the sum.
    """
    n = out.shape[0] - 1
    if _small_host(space, n):
        out[0] = 0
        np.cumsum(host_values(), out=out[1:])
        return
    parallel_scan(label, RangePolicy(space, 0, n), kernel, *args, out=out)


class RowPlan:
    """Rows cut into chunks of equal work, and chunks grouped into staging passes.

    Parameters
    ----------
    space : ExecutionSpace
    work : ndarray of int64
        Work of each row (e.g. its number of products); also the upper bound
        of the row's length before capping at ``m``.
    m : int
        Number of columns of the result: no row is longer.

    Call :meth:`split` before use.
    """

    def __init__(self, space, work, m):
        n = work.shape[0]
        self.space, self.nrows, self.m = space, n, m
        wsum = np.empty(n + 1, np.int64)
        bsum = np.empty(n + 1, np.int64)
        prefix_sum(space, "kkpy.sparse.plan_work", _common.weight_at, (work,), wsum,
                   lambda: work + 1)
        prefix_sum(space, "kkpy.sparse.plan_bound", _common.bound_at, (work, np.int64(m)), bsum,
                   lambda: np.minimum(work, m))
        self.work_sum, self.bound_sum = wsum, bsum
        self.bounds, self.nchunks, self.passes = None, 0, []
        #: Sampled fraction of the bounds that the result fills, if known.
        self.fill = None

    def split(self, min_work):
        """Cut the rows into chunks of at least ``min_work`` (a few per thread), and passes."""
        n, total = self.nrows, int(self.work_sum[-1])
        nchunks = min(total // max(min_work, 1),
                      _tuning.CHUNKS_PER_THREAD * self.space.concurrency())
        nchunks = int(max(1, min(n, nchunks)))
        if n == 0:
            self.bounds = np.zeros(1, np.int64)
        else:
            targets = np.arange(1, nchunks, dtype=np.float64) * (total / nchunks)
            cuts = np.concatenate(([0], np.searchsorted(self.work_sum, targets), [n]))
            self.bounds = cuts[np.concatenate(([True], cuts[1:] != cuts[:-1]))].astype(np.int64)
        self.nchunks = self.bounds.shape[0] - 1
        self.passes = self._passes(max(_tuning.STAGING_ENTRIES, self.m))

    def _passes(self, cap):
        ends = self.bound_sum[self.bounds]
        if ends[-1] - ends[0] <= cap:  # the usual case: everything in one pass
            return [(0, self.nchunks)] if self.nchunks else []
        passes, start = [], 0
        for c in range(self.nchunks):
            if c > start and ends[c + 1] - ends[start] > cap:
                passes.append((start, c))
                start = c
        if self.nchunks:
            passes.append((start, self.nchunks))
        return passes

    @property
    def max_bound(self):
        """The total of all rows' upper bounds (the staging a single pass would need)."""
        return int(self.bound_sum[-1])

    def __repr__(self):
        return (f"RowPlan(nrows={self.nrows}, chunks={self.nchunks}, passes={len(self.passes)}, "
                f"work={int(self.work_sum[-1])})")


def index_dtype_for(index_dtype, nnz, ncols):
    """``index_dtype``, widened to int64 if ``nnz`` or ``ncols`` would overflow it."""
    index_dtype = np.dtype(index_dtype)
    if index_dtype == np.int32 and max(nnz, ncols) > _INT32_MAX:
        return np.dtype(np.int64)
    return index_dtype


def _staging(n, dtype, huge=False):
    """An uninitialised array for staging, in huge (2 MiB) pages or ordinary (4 KiB) ones.

    numpy asks the kernel for huge pages for every large array.  Staging is
    touched only as far as each chunk's rows reach, and a huge page is
    zeroed whole at its first touch: sparsely filled regions (small
    products, or W @ W with 65536 neurons, 5 % of its bounds) ran up to
    several times slower in huge pages.  Well filled ones (``huge``) are
    the opposite: a fault per 4 KiB, and as many page frees when the
    result is dropped, took a quarter of a power-law product's time (a
    392 MB result: 0.53 s against 0.39 s in huge pages, and 50 ms against
    2 ms to free it).  numpy's switch is process-wide, so other threads'
    allocations in the meantime merely go without huge pages too.
    """
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # another numpy: take what it gives
        return np.empty(n, dtype)
    old = _set_madvise_hugepage(bool(huge))
    try:
        return np.empty(n, dtype)
    finally:
        _set_madvise_hugepage(old)


_local = threading.local()


def _pooled(slot, n, dtype):
    """``n`` entries of this thread's staging buffer ``slot`` (grown when too small)."""
    bufs = getattr(_local, "bufs", None)
    if bufs is None:
        bufs = _local.bufs = {}
    key = (slot, np.dtype(dtype))
    buf = bufs.get(key)
    if buf is None or buf.shape[0] < n:
        buf = bufs[key] = _staging(n, dtype)
    return buf[:n]


def _copy(a):
    """``a`` copied into an array of the result pool."""
    out = _pool.empty(a.shape[0], a.dtype)
    out[...] = a
    return out


def _shrink(a, n):
    """``a[:n]`` as an array of its own, in place when possible (realloc keeps the pages)."""
    try:
        a.resize(n, refcheck=False)
        return a
    except ValueError:  # not the owner of its memory
        return a[:n].copy()


def run_staged(space, plan, launch, index_dtype, value_dtype=None, ncols=0, fill=1.0):
    """Run a row-building kernel over ``plan`` and assemble its CRS arrays.

    Parameters
    ----------
    space : ExecutionSpace
    plan : RowPlan
    launch : callable
        ``launch(policy, bounds, region, st_ent, st_val, rowcnt, chunk_nnz,
        dest, done, state)`` runs the chunk kernel: chunk ``c`` of ``policy``
        covers rows ``bounds[c]:bounds[c + 1]``, writes them compacted from
        ``region[c]`` of ``st_ent``/``st_val``, each row's length to
        ``rowcnt[i]`` and the chunk's total to ``chunk_nnz[c]``, then calls
        ``publish(c, region, chunk_nnz, dest, done, state, ...)``.
    index_dtype : dtype
        Wanted dtype of ``row_map`` and ``entries`` (widened if too narrow).
    value_dtype : dtype, optional
        Dtype of the values; None for a structure-only kernel.
    ncols : int
        Columns of the result (entries must be able to hold them).
    fill : float, default 1.0
        Expected fraction of the rows' upper bounds that their results fill
        (the caller's estimate, e.g. from a sample of rows; 1 assumes full
        rows).  It decides only the page size of large staging.

    Staging of a pass whose chunks are expected (by ``fill``) to write
    at least :data:`HUGE_PAGE_BYTES` each is in huge pages, others in
    ordinary pages; passes of at most :data:`POOL_ENTRIES` entries reuse a
    buffer kept per thread.

    Returns
    -------
    row_map, entries, values : ndarray
        ``values`` is None for a structure-only kernel.
    """
    n = plan.nrows
    with_values = value_dtype is not None
    staging_index = index_dtype_for(index_dtype, 0, ncols)
    vdtype = value_dtype if with_values else np.float64
    rowcnt = _pool.empty(n, np.int64)
    pieces = []
    for c0, c1 in plan.passes:
        bounds = plan.bounds[c0:c1 + 1]
        region = plan.bound_sum[bounds] - plan.bound_sum[bounds[0]]
        size = int(region[-1])
        pooled = size <= _tuning.POOL_ENTRIES
        nval = size if with_values else 0
        # Huge pages when the pass is expected to write at least one per chunk.
        written = fill * (size * staging_index.itemsize + nval * np.dtype(vdtype).itemsize)
        huge = written >= _tuning.HUGE_PAGE_BYTES * (c1 - c0)
        # A pass expected to fill nearly all of its bounds stages in blocks of
        # the result pool, and its result stays there (the unused tail is
        # small): pages earlier results touched, no first faults.
        reuse = not pooled and fill >= _tuning.POOL_STAGING_FILL
        if reuse:
            ent, val = _pool.empty(size, staging_index), _pool.empty(nval, vdtype)
        else:
            ent = (_pooled("ent", size, staging_index) if pooled
                   else _staging(size, staging_index, huge))
            val = _pooled("val", nval, vdtype) if pooled else _staging(nval, vdtype, huge)
        chunk_nnz = np.empty(c1 - c0, np.int64)
        dest = np.zeros(c1 - c0 + 1, np.int64)
        done = np.zeros(c1 - c0, np.int64)
        state = np.zeros(2, np.int64)  # [first chunk not yet in place, lock]
        policy = RangePolicy(space, 0, c1 - c0, schedule="dynamic", chunk=1)
        launch(policy, bounds, region, ent, val, rowcnt, chunk_nnz, dest, done, state)
        f = int(state[0])
        if f < c1 - c0:  # chunks that no thread slid into place during the kernel
            np.cumsum(chunk_nnz[f:], out=dest[f + 1:])
            dest[f + 1:] += dest[f]
            parallel_for("kkpy.sparse.compact", RangePolicy(space, 0, 1), compact,
                         region[f:], dest[f:], chunk_nnz[f:], ent, val, with_values)
        total = int(dest[-1])
        if reuse:
            pieces.append((ent[:total], val[:total] if with_values else val[:0]))
        elif pooled:
            pieces.append((_copy(ent[:total]), _copy(val[:total]) if with_values else val[:0]))
        else:
            pieces.append((_shrink(ent, total), _shrink(val, total) if with_values else val))
    if len(pieces) == 1:
        entries, values = pieces[0]
    elif pieces:
        entries = np.concatenate([p[0] for p in pieces])
        values = np.concatenate([p[1] for p in pieces])
    else:
        entries, values = np.empty(0, staging_index), np.empty(0, vdtype)
    final = index_dtype_for(index_dtype, entries.shape[0], ncols)
    row_map = _pool.empty(n + 1, final)
    prefix_sum(space, "kkpy.sparse.row_map", _common.value_at, (rowcnt,), row_map,
               lambda: rowcnt)
    if entries.dtype != final:
        entries = entries.astype(final)
    return row_map, entries, (values if with_values else None)
