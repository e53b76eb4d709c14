"""The SpGEMM chain on the GPU: ``spgemm_chain(..., space=kkpy.Cuda())``.

``Y_{k+1} = drop_zeros(epilogue(Y_k @ B_k))``, as on the host, organised
around what the hardware does fast, for any sparse chain and any epilogue:

* **Rows in warps.** Live input rows are packed 32 to a *batch*; a batch is
  stored feature-major, ``Y[batch, feature, lane]``, so the 32 rows of a
  batch are one line per feature.  A warp computes one output column ``j``
  for all 32 rows at once: it walks column ``j`` of ``B`` (the same index and
  weight for every lane, one broadcast load) and reads ``Y[batch, i, :]``
  for each ``i`` in it, a fully coalesced load.  Each row is dense within its
  batch, so sparse and dense activations cost the same and no index lists
  are built between products.
* **Outputs that share inputs share loads.** Output columns whose columns
  of ``B`` list the same rows (found once, when the chain is prepared, from
  ``B``'s structure: equal columns, checked entry by entry) are computed by
  one warp together, up to ``_GROUP`` at a time: each input line is loaded
  once and feeds all of their sums, which stay in registers.  Each sum still
  adds its terms in increasing row order: the results are the same bits as
  one output at a time.
* **Any epilogue, fused.** ``z = sum_i y_i b_ij`` over the stored entries
  of column ``j`` in increasing ``i``; ``z`` stays 0 if it is 0, else it
  becomes ``epilogue(z, j, *args)``: the host chain's definition.  The
  epilogue is a kkpy kernel compiled as a device function and inlined into
  a layer kernel generated for it (and cached on disk, like kkpy's drivers).
* **Dead rows leave.** Each product marks, per batch, which rows are still
  nonzero (a 32-bit mask); one block turns the masks into slots for the
  next product, keeping the rows in order; a third kernel moves the live
  rows there, a whole 32-row line at a time.  If no row died it moves
  nothing.  Counts stay on the GPU: no product waits for the host, so the
  whole chain is replayed as one CUDA graph.
* **Inputs on the device.** A host CSR input goes up through pinned
  staging buffers in chunks, so copying into them overlaps the transfer;
  finding the live rows and packing them into batches happen on the GPU.
  A large input goes through in parts, each with its own buffers and
  stream, so that a part's upload overlaps the products of the part before.
* **Results on demand.** The final Y is compacted into CSR when it is first
  used; its row sums come straight from the last product's batches.

Clearing the batches of wide inputs (``kkpy.deep_copy``), loading the
inputs into them and reading the result back out are kkpy operations (:mod:`._batches`),
on a :class:`kkpy.Cuda` instance of each part's stream.  Four kernels
stay in numba-cuda directly: the layer kernel, which needs warp ballots
(``ballot_sync``) for its live masks and per-lane register arrays for the
shared-column sums, neither of which kkpy's team API expresses (measured:
a TeamPolicy form, one warp a team and one output at a time, took 3.62 ms
for the first 1024-neuron layer of 60000 rows against 0.67 ms, 5.4x, on
one H100; 5.0x on one H200); ``_live_rows`` and ``_plan``, one-block
scans whose totals must stay on the GPU (kkpy's ``parallel_scan`` returns
its total to the host, which would stop the graph); and ``_compact``,
which uses ``popc`` on the masks.  Narrow inputs (``_tuning.
GPU_TILED_LOAD_COLUMNS``) are cleared and loaded in one pass through
shared-memory tiles (:mod:`._load`, numba-cuda too: atomic adds into a
shared tile).  The chain's other GPU operations (row
sums, SpGEMM, SpAdd, SpMV in :mod:`._ops`) are kkpy kernels.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np
from numba import cuda
from numba.core import config

import kkpy
from kkpy.core import extending, kernel
from kkpy.core.cuda import as_device

from .. import _tuning, _validate
from .._chain_prep import columns
from . import _batches, _load, _ops
from ._crs import DeviceCrs

extending.install_numba_cache()  # numba-cuda may keep its own list of cache locators

__all__ = ["CudaChain", "run"]

_SIM = bool(config.ENABLE_CUDASIM)
#: Rows per batch: one per lane of a warp (hardware, not tuning).
_LANES = 32
# The thresholds, each with its measurement, are in kkpy.sparse._tuning; the
# kernels take theirs as compile-time constants.
_BLOCK = _tuning.GPU_BLOCK
_GROUP = _tuning.GPU_GROUP
_SHARED_MIN = _tuning.GPU_SHARED_MIN
_PLAN_BLOCK = _tuning.GPU_PLAN_BLOCK
_CHUNK = _tuning.GPU_COMPACT_CHUNK


def _inline(fn):
    """An inlined device function on the GPU; the plain function under the simulator.

    The simulator swaps the ``cuda`` module under a lock on every device
    call: in the chain's inner loops that made a 64-neuron test run for
    15 minutes.  The plain function is called by the simulated kernel
    directly; one defined in the kernel's own module still sees the
    kernel's ``cuda``.
    """
    return fn if _SIM else cuda.jit(device=True, inline="always")(fn)


# -- kernels that do not depend on the epilogue -------------------------------------------

@cuda.jit(device=True)
def _block_scan(part, t, nt, total):
    """Thread ``t``'s exclusive prefix of ``total`` over the block, and the block's sum.

    ``part`` is a shared array of at least ``nt`` slots; log2(nt) steps.
    """
    part[t] = total
    cuda.syncthreads()
    d = 1
    while d < nt:
        v = part[t - d] if t >= d else 0
        cuda.syncthreads()
        part[t] += v
        cuda.syncthreads()
        d *= 2
    return part[t] - total, part[nt - 1]


@cuda.jit(cache=True)
def _live_rows(nrows, nnz, row_map, first, rid, cnt, bad):
    """One block: the input rows that have entries, in order, and how many (``cnt[0]``).

    It also checks the row map as it reads it (every row within ``[0, nnz]``,
    none decreasing) and sets ``bad[0]`` instead of trusting a bad one: the
    loads after it read entries only through offsets checked here.
    """
    part = cuda.shared.array(1024, dtype=np.int32)
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    lo = (nrows * t) // nt
    hi = (nrows * (t + 1)) // nt
    total = 0
    for r in range(lo, hi):
        a = row_map[r] - first
        e = row_map[r + 1] - first
        if a < 0 or e < a or e > nnz:
            bad[0] = 1
        elif e > a:
            total += 1
    run, whole = _block_scan(part, t, nt, total)
    if t == nt - 1:
        cnt[0] = whole
    for r in range(lo, hi):
        a = row_map[r] - first
        e = row_map[r + 1] - first
        if a >= 0 and e > a and e <= nnz:
            rid[run] = r
            run += 1


@_inline
def _term(y, w, exact):
    # A zero input adds nothing, even against an infinite weight, as on the
    # CPU, whose SpGEMM never sees it.  Only a network with an infinite or NaN
    # weight needs the test (``exact``); ``exact`` is the same for the whole
    # loop, so the compiler makes one loop with it and one without.
    if exact and y == 0:
        return y - y
    return y * w


@_inline
def _dot(y, base, roff, vals, k, end, exact, zero):
    """``sum(y[base + roff[k]] * vals[k])`` over ``k < end``, in order.

    Sixteen gathers are issued before any is used: each waits for the L2 (or
    DRAM), so a warp needs many in flight to keep the memory system busy.
    """
    acc = zero
    one = np.uint32(1)
    step = np.uint32(16)
    while k + step <= end:
        y0 = y[base + roff[k]]
        y1 = y[base + roff[k + one]]
        y2 = y[base + roff[k + np.uint32(2)]]
        y3 = y[base + roff[k + np.uint32(3)]]
        y4 = y[base + roff[k + np.uint32(4)]]
        y5 = y[base + roff[k + np.uint32(5)]]
        y6 = y[base + roff[k + np.uint32(6)]]
        y7 = y[base + roff[k + np.uint32(7)]]
        y8 = y[base + roff[k + np.uint32(8)]]
        y9 = y[base + roff[k + np.uint32(9)]]
        y10 = y[base + roff[k + np.uint32(10)]]
        y11 = y[base + roff[k + np.uint32(11)]]
        y12 = y[base + roff[k + np.uint32(12)]]
        y13 = y[base + roff[k + np.uint32(13)]]
        y14 = y[base + roff[k + np.uint32(14)]]
        y15 = y[base + roff[k + np.uint32(15)]]
        acc += _term(y0, vals[k], exact)
        acc += _term(y1, vals[k + one], exact)
        acc += _term(y2, vals[k + np.uint32(2)], exact)
        acc += _term(y3, vals[k + np.uint32(3)], exact)
        acc += _term(y4, vals[k + np.uint32(4)], exact)
        acc += _term(y5, vals[k + np.uint32(5)], exact)
        acc += _term(y6, vals[k + np.uint32(6)], exact)
        acc += _term(y7, vals[k + np.uint32(7)], exact)
        acc += _term(y8, vals[k + np.uint32(8)], exact)
        acc += _term(y9, vals[k + np.uint32(9)], exact)
        acc += _term(y10, vals[k + np.uint32(10)], exact)
        acc += _term(y11, vals[k + np.uint32(11)], exact)
        acc += _term(y12, vals[k + np.uint32(12)], exact)
        acc += _term(y13, vals[k + np.uint32(13)], exact)
        acc += _term(y14, vals[k + np.uint32(14)], exact)
        acc += _term(y15, vals[k + np.uint32(15)], exact)
        k += step
    while k < end:
        acc += _term(y[base + roff[k]], vals[k], exact)
        k += one
    return acc


@cuda.jit(device=True, inline="always")
def _mark_live(mask, b, lane, alive):
    """Set bit ``lane`` of ``mask[b]`` for the lanes (rows of batch ``b``) that are ``alive``."""
    if _SIM:   # the simulator has no warp intrinsics: an atomic per live lane
        if alive:
            cuda.atomic.or_(mask, b, np.int64(1) << np.int64(lane))
    else:      # (a constant: the compiler keeps one branch)
        # the ballot is a signed 32-bit int: keep lane 31 from sign-extending
        bits = np.int64(cuda.ballot_sync(0xFFFFFFFF, alive)) & np.int64(0xFFFFFFFF)
        if lane == 0 and bits != 0:
            cuda.atomic.or_(mask, b, bits)


@cuda.jit(cache=True)
def _plan(l, cnt, mask, mask_next, off, rid_in, rid_out):
    """One block: each live row's slot in the next layer, in the order the rows are now.

    Keeping the order means a layer where no row died moves nothing.
    """
    part = cuda.shared.array(1024, dtype=np.int32)
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    nb = (cnt[l] + 31) // 32
    lo = (nb * t) // nt
    hi = (nb * (t + 1)) // nt
    total = 0
    for b in range(lo, hi):
        total += cuda.popc(mask[b])
    run, whole = _block_scan(part, t, nt, total)
    if t == nt - 1:
        cnt[l + 1] = whole
    for b in range(lo, hi):
        m = mask[b]
        off[b] = run
        for q in range(32):
            if (m >> q) & 1:
                rid_out[run] = rid_in[b * 32 + q]
                run += 1
        mask_next[b] = 0                          # the next layer's flags start clear


@cuda.jit(cache=True)
def _compact(l, cnt, sel, Ya, Yb, n, mask, off):
    """Move the live rows to their slots: reads and writes are whole 32-row lines."""
    old = cnt[l]
    new = cnt[l + 1]
    s = sel[l]
    g = cuda.grid(1)
    if new == old:                                # nobody died: read the output in place
        if g == 0:
            sel[l + 1] = 1 - s
        return
    if g == 0:
        sel[l + 1] = s
    dst = Ya if s == 0 else Yb
    frm = Yb if s == 0 else Ya
    lane = g % 32
    nchunk = (n + 31) // 32
    moves = ((old + 31) // 32) * nchunk
    item = g // 32
    zero = np.float32(0)
    while item < moves + nchunk:
        if item < moves:
            b = item // nchunk
            i0 = (item - b * nchunk) * 32
            m = mask[b]
            if (m >> lane) & 1:
                slot = off[b] + cuda.popc(m & ((1 << lane) - 1))
                dbase = (slot // 32) * n
                dl = slot % 32
                for i in range(i0, min(i0 + 32, n)):
                    dst[(dbase + i) * 32 + dl] = frm[(b * n + i) * 32 + lane]
        elif lane >= new % 32 and new % 32 != 0:  # clear the unused lanes of the last batch
            i0 = (item - moves) * 32
            base = (new // 32) * n
            for i in range(i0, min(i0 + 32, n)):
                dst[(base + i) * 32 + lane] = zero
        item += cuda.gridsize(1) // 32




@kernel
def _count_at(i, counts):
    return counts[i]


# -- the layer kernel, generated for each epilogue -------------------------------------------

_LAYER = """
from numba import cuda
from kkpy.core.cuda._drivers import device_form as _device_form
from kkpy.sparse.cuda._chain import _GROUP, _dot, _inline, _mark_live, _term

# exec'd kernels have no file for numba-cuda's cache to key on
_CACHE = "__file__" in globals()
_epd = _device_form(_ep)


@_inline
def _finish(v, c{ea}):
    \"\"\"The epilogue, on the product's nonzeros only (a 0 stays 0).\"\"\"
    if v != 0:
        v = {dt}(_epd(v, np.int64(c){ea}))
    return v


"""


def _np_name(dtype):
    return "np." + np.dtype(dtype).type.__name__


def _layer_kernel(epilogue, nargs, dtype):
    """The layer kernel for ``epilogue`` with ``nargs`` extra arguments, values ``dtype``."""
    ea = "".join(f", e{i}" for i in range(nargs))
    source = (_LAYER + _LAYER_BODY).format(ea=ea, dt=_np_name(dtype))
    return extending.build_driver(source, "_layer", {"_ep": epilogue}, parallel=False,
                                  target="cuda")


_LAYER_BODY = """
@_inline
def _columns(inp, out, ibase, obase, cols, q, q1, colptr, roff, vals, exact{ea}):
    \"\"\"Outputs ``cols[q:q1]`` of one lane's row, one after another; returns their nonzeros.

    ``inp[ibase + 32*i]`` is input ``i`` of the lane's row.  Indices are
    unsigned, so numba adds no negative-index checks to the inner loop: per
    gather, a broadcast load of the row offset, a coalesced load of the 32
    rows and a fused multiply-add.
    \"\"\"
    nz = 0
    while q < q1:
        c = np.uint64(cols[q])
        v = _dot(inp, ibase, roff, vals, colptr[c], colptr[c + np.uint64(1)], exact, {dt}(0))
        v = _finish(v, c{ea})
        out[obase + c * np.uint64(32)] = v
        if v != 0:
            nz += 1
        q += np.uint64(1)
    return nz


@_inline
def _shared_columns(inp, out, ibase, obase, cols, q, g, colptr, roff, vals, exact{ea}):
    \"\"\"Outputs ``cols[q:q + g]`` (``g <= _GROUP``), whose columns of ``W`` list the same rows.

    Each input is loaded once and used by all ``g`` outputs, whose sums stay
    in registers (the loops over ``_GROUP`` unroll); every sum still adds its
    terms in increasing row order, as :func:`_dot` does.  Slots past ``g``
    repeat the last output and are not stored.
    \"\"\"
    acc = cuda.local.array(_GROUP, {dt})
    wb = cuda.local.array(_GROUP, np.uint32)
    last = q + np.uint64(g - 1)
    for m in range(_GROUP):
        acc[m] = {dt}(0)
        wb[m] = colptr[np.uint64(cols[min(q + np.uint64(m), last)])]
    c0 = np.uint64(cols[q])
    p0 = np.uint64(colptr[c0])
    n = np.uint64(colptr[c0 + np.uint64(1)]) - p0
    t = np.uint64(0)
    while t < n:
        y = inp[ibase + roff[p0 + t]]
        for m in range(_GROUP):
            acc[m] += _term(y, vals[np.uint64(wb[m]) + t], exact)
        t += np.uint64(1)
    nz = 0
    for m in range(_GROUP):
        if m < g:
            c = np.uint64(cols[q + np.uint64(m)])
            v = _finish(acc[m], c{ea})
            out[obase + c * np.uint64(32)] = v
            if v != 0:
                nz += 1
    return nz


@_inline
def _group(inp, out, ibase, obase, cols, q, q1, shared, colptr, roff, vals, exact{ea}):
    if shared:
        return _shared_columns(inp, out, ibase, obase, cols, q, q1 - q, colptr, roff, vals,
                               exact{ea})
    return _columns(inp, out, ibase, obase, cols, q, q1, colptr, roff, vals, exact{ea})


@cuda.jit(cache=_CACHE)
def _layer(l, cnt, sel, Ya, Yb, n_in, n_out, gptr, cols, shared, colptr, roff, vals, exact,
           mask, nnz{ea}):
    \"\"\"One layer for every live batch; marks which rows of each batch are still alive.

    A work item, for one warp, is one batch and one group of outputs (see
    :func:`_output_groups`); a batch's groups are consecutive items, so
    warps running at the same time read the same batch.
    \"\"\"
    total = cuda.shared.array(1, np.int64)       # the block's nonzeros
    if cuda.threadIdx.x == 0:
        total[0] = 0
    cuda.syncthreads()
    lane = np.uint64(cuda.threadIdx.x % 32)
    ngroup = gptr.shape[0] - 1
    nbatch = (cnt[l] + 31) // 32
    nitems = nbatch * ngroup
    s = sel[l]
    nz = 0
    item = cuda.grid(1) // 32
    while item < nitems:
        b = item // ngroup
        g = item - b * ngroup
        q = np.uint64(gptr[g])
        q1 = np.uint64(gptr[g + 1])
        ibase = np.uint64(b * n_in * 32) + lane
        obase = np.uint64(b * n_out * 32) + lane
        # Two calls, so that each knows which buffer it reads: plain global loads.
        if s == 0:
            k = _group(Ya, Yb, ibase, obase, cols, q, q1, shared[g], colptr, roff, vals, exact{ea})
        else:
            k = _group(Yb, Ya, ibase, obase, cols, q, q1, shared[g], colptr, roff, vals, exact{ea})
        _mark_live(mask, b, lane, k != 0)
        nz += k
        item += cuda.gridsize(1) // 32
    if nz:
        cuda.atomic.add(total, 0, nz)
    cuda.syncthreads()
    if cuda.threadIdx.x == 0 and total[0]:
        cuda.atomic.add(nnz, l, total[0])         # once per block: one hot address


"""


# -- host side --------------------------------------------------------------------------

def _grid():
    if _SIM:
        return 2
    # 32 blocks of 64 threads fill a multiprocessor's 2048 threads
    return cuda.get_current_device().MULTIPROCESSOR_COUNT * 32


def _csc(m, dtype):
    """Columns of CrsMatrix ``m`` as (groups..., colptr, row offsets, values), rows increasing."""
    t = columns(m, dtype)
    colptr, rows = np.asarray(t.row_map), np.asarray(t.entries)
    # row offsets in a batch (rows * 32), unsigned: see _columns
    return (*_output_groups(colptr, rows), colptr.astype(np.uint32),
            rows.astype(np.uint32) * np.uint32(_LANES), np.asarray(t.values))


def _output_groups(indptr, indices):
    """Output columns in groups of at most ``_GROUP`` for the warps: ``(gptr, cols, shared)``.

    Group ``g`` is ``cols[gptr[g]:gptr[g + 1]]``; ``shared[g]`` says that
    all its columns list the same rows (at least ``_SHARED_MIN`` of them),
    so a warp loads each input once for all of them.  Columns are sorted by
    length and a hash of their row indices, so equal columns end up
    side by side; equality is then checked entry by entry, so a hash
    collision costs only a missed sharing.  Columns that share with too few
    others fill plain groups, computed one column after another.

    Examples
    --------
    >>> gptr, cols, shared = _output_groups(np.array([0, 1, 2, 3]), np.array([5, 5, 6]))
    >>> gptr.tolist(), sorted(cols.tolist()), shared.tolist()
    ([0, 3], [0, 1, 2], [0])
    """
    n = indptr.shape[0] - 1
    lens = np.diff(indptr).astype(np.int64)
    with np.errstate(over="ignore"):
        mixed = indices.astype(np.uint64) + np.uint64(1)
        mixed *= np.uint64(0x9E3779B97F4A7C15)
        mixed ^= mixed >> np.uint64(29)
        mixed *= np.uint64(0xC2B2AE3D27D4EB4F)
    h = np.zeros(n, np.uint64)
    nonempty = lens > 0
    if nonempty.any():
        h[nonempty] = np.add.reduceat(mixed, indptr[:-1][nonempty])
    order = np.lexsort((h, lens))                 # by length, then hash; stable
    # same[k]: column order[k] lists exactly the rows of order[k - 1]
    same = np.zeros(n, bool)
    ln = lens[order]
    if n > 1 and lens.min() == lens.max() > 0:    # every column as long: compare rows of a table
        table = indices.reshape(n, -1)[order]
        same[1:] = (table[1:] == table[:-1]).all(axis=1)
    elif n > 1:
        lo = indptr[order].astype(np.int64)
        cand = np.flatnonzero((ln[1:] == ln[:-1]) & (ln[1:] > 0)) + 1
        if cand.size:
            reps = ln[cand]
            starts = np.cumsum(reps) - reps
            within = np.arange(reps.sum()) - np.repeat(starts, reps)
            a = indices[np.repeat(lo[cand], reps) + within]
            b = indices[np.repeat(lo[cand - 1], reps) + within]
            same[cand] = np.logical_and.reduceat(a == b, starts)
    run_start = np.flatnonzero(~same)             # runs of equal columns
    run_len = np.diff(np.append(run_start, n))
    shared_cols, plain_cols, gsizes, gshared = [], [], [], []
    for r0, rl in zip(run_start.tolist(), run_len.tolist()):
        if rl >= _SHARED_MIN:
            for k in range(r0, r0 + rl, _GROUP):
                g = min(_GROUP, r0 + rl - k)
                if g >= _SHARED_MIN:
                    shared_cols.append(order[k:k + g])
                    gsizes.append(g)
                    gshared.append(1)
                else:
                    plain_cols.append(order[k:k + g])
        else:
            plain_cols.append(order[r0:r0 + rl])
    plain = np.concatenate(plain_cols) if plain_cols else np.zeros(0, np.int64)
    for k in range(0, plain.size, _GROUP):
        gsizes.append(min(_GROUP, plain.size - k))
        gshared.append(0)
    cols = np.concatenate(shared_cols + [plain]).astype(np.uint32)
    gptr = np.zeros(len(gsizes) + 1, np.uint32)
    np.cumsum(gsizes, out=gptr[1:])
    return gptr, cols, np.array(gshared, np.uint8)


class CudaChain:
    """A chain's matrices in GPU memory, uploaded once, for any number of chains.

    What :func:`kkpy.sparse.prepare_chain` returns for a Cuda space; pass it
    to :func:`kkpy.sparse.spgemm_chain` with the same space.  It also keeps
    the GPU working buffers of its last call (and the CUDA graph captured
    for them); :meth:`release` frees them.

    Parameters
    ----------
    mats : iterable of CrsMatrix or scipy.sparse matrix
        ``B_0 (n0 x n1), B_1 (n1 x n2), ...``; any iterable, so that a long
        chain can be made one matrix at a time as it goes to the GPU.
    dtype : float32 or float64
    space : kkpy.Cuda, optional
        The GPU it lives on (default ``kkpy.Cuda()``).
    resident : bool or None, optional
        ``True``: every matrix in GPU memory.  ``False``: every matrix kept
        on the host (in the GPU kernels' layout) and streamed up as the
        products reach it, through a few slots of GPU memory
        (``_tuning.GPU_STREAM_SLOTS``), with asynchronous copies that
        overlap the products before it.  ``None`` (default): the matrices
        stay in GPU memory while they fit in a share of what is free
        (``_tuning.GPU_RESIDENT_SHARE``; the rest is for the activations),
        and the ones after stream.

    Attributes
    ----------
    streamed : int
        How many of the matrices stream from the host (0: all resident).
    """

    def __init__(self, mats, dtype=np.float32, space=None, resident=None):
        self.space = space if space is not None else kkpy.Cuda()
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"spgemm_chain: on the Cuda space dtype must be float32 or "
                            f"float64, got {self.dtype}")
        if resident not in (None, True, False):
            raise TypeError(f"spgemm_chain: resident must be True, False or None, got "
                            f"{resident!r}")
        # Each entry of layers is device arrays (resident) or host arrays (streamed).
        self.layers, self.exact, self.shapes, self.on_host = [], [], [], []
        self.nnz = 0
        budget = _resident_budget() if resident is None else None
        for n, m in enumerate(mats):
            m = _validate.matrix(m, "spgemm_chain", f"matrix {n}")
            if self.shapes and self.shapes[-1][1] != m.shape[0]:
                raise ValueError(f"spgemm_chain: matrix {n} has {m.shape[0]} rows but the "
                                 f"previous one has {self.shapes[-1][1]} columns")
            arrays = _csc(m, self.dtype)
            size = sum(a.nbytes for a in arrays)
            # once one matrix streams, every later one does: the slots serve them in turn
            stream = resident is False or (budget is not None and (
                any(self.on_host) or size > budget))
            if not stream and budget is not None:
                budget -= size
            self.layers.append(arrays if stream else tuple(cuda.to_device(a) for a in arrays))
            self.on_host.append(stream)
            # an infinite or NaN weight needs the exact zero test (see _term)
            self.exact.append(not np.isfinite(arrays[-1]).all())
            self.shapes.append(tuple(m.shape))
            self.nnz += int(arrays[-1].shape[0])
        self.streamed = sum(self.on_host)
        self._ring = _Ring(self) if self.streamed else None
        self._ws = []
        self._graphs = {}
        self._pending = None
        self.graph_error = None
        self.lock = threading.RLock()

    def __len__(self):
        return len(self.shapes)

    def release(self):
        """Free the working buffers and graphs kept from the last call."""
        with self.lock:
            self._settle()
            self._ws = []
            self._graphs = {}

    def _settle(self):
        """Make the last result's arrays if they are still deferred: its rows are in
        the buffers the next call overwrites."""
        last = self._pending() if self._pending is not None else None
        self._pending = None
        if last is not None:
            last._settle()

    def _workspace(self, slot, nslots, nrows, n0):
        """Device arrays of part ``slot`` of a run, kept between runs: the activations
        can take most of the GPU, and a captured graph stays valid as long as they do."""
        L = len(self.layers)
        nbatch = max(1, -(-nrows // _LANES))
        nmax = max([n0] + [s[1] for s in self.shapes])
        if len(self._ws) != nslots:   # another split: free the old arrays before asking
            self._ws, self._graphs = [None] * nslots, {}
        ws = self._ws[slot]
        if ws is None or ws["nbatch"] < nbatch or ws["nmax"] < nmax:
            self._ws[slot] = None
            self._graphs = {k: g for k, g in self._graphs.items() if k[0] != slot}
            rows = nbatch * _LANES
            ws = {"nbatch": nbatch, "nmax": nmax,
                  "Ya": cuda.device_array(rows * nmax, self.dtype),
                  "Yb": cuda.device_array(rows * nmax, self.dtype),
                  "cnt": cuda.device_array(L + 1, np.int32),
                  "sel": cuda.device_array(L + 1, np.int32),
                  "nnz": cuda.device_array(max(L, 1), np.int64),
                  "rid": [cuda.device_array(rows, np.int32) for _ in range(2)],
                  "masks": [cuda.device_array(nbatch, np.int64) for _ in range(2)],
                  "off": cuda.device_array(nbatch, np.int32),
                  "bad": cuda.device_array(1, np.int32),
                  "stream": cuda.stream() if not _SIM else 0,
                  "staged": {}, "eargs": {}}
            if not _SIM:
                # the input check's flag comes back alone, without waiting for the
                # products; "end" marks the part's last product for its consumers
                ws["bad_host"] = cuda.pinned_array(1, np.int32)
                ws["checked"], ws["end"] = cuda.event(timing=False), cuda.event(timing=False)
            # the part's kkpy kernels launch on its stream
            ws["space"] = kkpy.Cuda(self.space.device_id,
                                    stream=None if _SIM else ws["stream"])
            self._ws[slot] = ws
        return ws


def _resident_budget():
    """Bytes of matrices a chain keeps in GPU memory before it streams the rest."""
    if _SIM:
        return _tuning.GPU_SIMULATED_MEMORY * _tuning.GPU_RESIDENT_SHARE
    free, _ = cuda.current_context().get_memory_info()
    return free * _tuning.GPU_RESIDENT_SHARE


class _Ring:
    """The GPU slots that streamed matrices go up into, one after another.

    Each slot holds any streamed matrix: its buffers (device and pinned, in
    :func:`_staged`'s form) are as long as the longest, made once here so
    that a run allocates nothing.  Matrix ``k`` of those streamed takes slot
    ``k % slots``.  A slot is written again only after every part's
    products have read it (events on the copy stream), and its pinned
    buffers only after its last copy left (the host waits on that copy).
    """

    def __init__(self, chain):
        host = [a for a, h in zip(chain.layers, chain.on_host) if h]
        self.slots = []
        for _ in range(min(_tuning.GPU_STREAM_SLOTS, len(host))):
            staged = {}
            for i, a in enumerate(host[0]):
                n = max(max(h[i].shape[0] for h in host), 1)
                staged[i] = (cuda.device_array(n, a.dtype),
                             cuda.pinned_array(n, a.dtype) if not _SIM else np.empty(n, a.dtype))
            self.slots.append({"staged": staged, "used": False, "read": [],
                               "up": None if _SIM else cuda.event(timing=False)})
        self.stream = None if _SIM else cuda.stream()

    def put(self, k, arrays, nparts):
        """Matrix ``arrays`` (host) into slot ``k % slots``; returns the slot and the
        device views that hold the matrix once the slot's ``up`` event has passed."""
        slot = self.slots[k % len(self.slots)]
        if slot["used"]:
            slot["up"].synchronize()           # the pinned buffers are free again
            for e in slot["read"]:             # and every part is done with the slot
                e.wait(self.stream)
        up = _staged(slot, [(i, a, None, None) for i, a in enumerate(arrays)], self.stream)
        views = [dev[:a.shape[0]] for (dev, _), a in zip(up, arrays)]
        if not _SIM:
            slot["up"].record(self.stream)
            slot["used"] = True
            while len(slot["read"]) < nparts:
                slot["read"].append(cuda.event(timing=False))
        return slot, views


_pool = []


def _copier():
    """Threads that copy upload chunks into pinned memory (numpy's copy releases the GIL)."""
    if not _pool:
        from concurrent.futures import ThreadPoolExecutor

        _pool.append(ThreadPoolExecutor(_tuning.GPU_UPLOAD_THREADS,
                                        thread_name_prefix="kkpy-upload"))
    return _pool[0]


def _staged(ws, uploads, stream):
    """Host arrays on the GPU through pinned buffers kept in ``ws``.

    ``uploads`` is a list of ``(key, src, dtype, below)``; returns, for
    each, the device array (asynchronous: ordered on ``stream``) and
    whether every value lay in ``[0, below)`` (True when ``below`` is
    None).  All the arrays' chunks are copied (and cast) into pinned memory
    by a few host threads at once while the chunks before them are in
    flight to the GPU; the buffers are reused by later calls of the same
    size or smaller.  Indices are narrowed to int32 only with the range
    check, made on each chunk as it is copied, so a bad index can never
    wrap into a good one.
    """
    arrays, jobs = [], []
    for key, src, dtype, below in uploads:
        dtype = np.dtype(dtype or src.dtype)
        n = src.shape[0]
        have = ws["staged"].get(key)
        if have is None or have[0].dtype != dtype or have[0].shape[0] < max(n, 1):
            size = max(n, 1)
            pinned = cuda.pinned_array(size, dtype) if not _SIM else np.empty(size, dtype)
            have = ws["staged"][key] = (cuda.device_array(size, dtype), pinned)
        dev, pinned = have
        step = max(1, _tuning.GPU_UPLOAD_CHUNK // dtype.itemsize)
        jobs += [(len(arrays), lo, min(n, lo + step)) for lo in range(0, n, step)]
        arrays.append((src, dev, pinned, below))

    def fill(j, lo, hi):
        src, _, pinned, below = arrays[j]
        part = src[lo:hi]
        if below is not None and hi > lo and (part.min() < 0 or part.max() >= below):
            return False
        np.copyto(pinned[lo:hi], part, casting="unsafe" if below is not None else "same_kind")
        return True

    copies = [_copier().submit(fill, *job) for job in jobs] if len(jobs) > 1 else None
    ok = [True] * len(arrays)
    for k, (j, lo, hi) in enumerate(jobs):
        ok[j] = (fill(j, lo, hi) if copies is None else copies[k].result()) and ok[j]
        _, dev, pinned, _ = arrays[j]
        if _SIM:
            dev[lo:hi].copy_to_device(pinned[lo:hi])
        else:
            dev[lo:hi].copy_to_device(pinned[lo:hi], stream=stream)
    return [(dev[:max(src.shape[0], 1)], good)
            for (src, dev, _, _), good in zip(arrays, ok)]


def _parts(A, nrows):
    """Row ranges ``[lo, hi)`` that go through the chain as parts, each on its own
    buffers and stream, and the row map on the host (None for one part).

    A large input is cut into parts of about equal nonzeros: a part's upload
    overlaps the products of the part before it, and the parts' products
    fill each other's gaps (a layer's last wave, the one-block plan).
    ``A``'s row map is not trusted yet: bad cuts only make bad parts, which
    the GPU then reports (see :func:`_input`).
    """
    nnz = A.nnz
    k = min(_tuning.GPU_PIPELINE_PARTS, nnz // _tuning.GPU_PIPELINE_ENTRIES, nrows)
    if k <= 1:
        return [(0, nrows)], None
    rm = (as_device(A.row_map).copy_to_host() if isinstance(A, DeviceCrs)
          else np.asarray(A.row_map))
    cuts = np.searchsorted(rm, np.linspace(0, nnz, k + 1)[1:-1])
    cuts = np.maximum.accumulate(np.clip(cuts, 0, nrows))
    bounds = [0, *(int(c) for c in cuts), nrows]
    return [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo], rm


def _input(ws, A, rows, rm, dtype, stream):
    """Rows ``rows = (lo, hi)`` of ``A`` on the GPU: ``(row_map, first, entries,
    values)`` and the number of entries, where the part's entries start at
    ``row_map[0] - first``.

    The structure is checked on the GPU as it is read (see
    :func:`_live_rows`), not in a pass of its own on the host.  A part's
    entries start where its first row says, clipped to the entries there
    are: every part then checks its own ends, and together they check all
    of ``A``.  ``rm`` is the host row map (None when ``rows`` is all of ``A``).
    """
    lo, hi = rows
    a, b = 0, A.nnz
    if rm is not None:
        a = min(max(int(rm[lo]), 0), A.nnz)
        b = min(max(int(rm[hi]), a), A.nnz)
    if isinstance(A, DeviceCrs):
        vals = as_device(A.values)
        if vals.dtype != dtype:
            raise TypeError(f"spgemm_chain: A holds {vals.dtype} but the chain computes in "
                            f"{dtype}")
        ent = as_device(A.entries)
        if rm is None:
            return (as_device(A.row_map), 0, ent, vals), A.nnz
        return (as_device(A.row_map)[lo:hi + 1], a, ent[a:max(b, a + 1)],
                vals[a:max(b, a + 1)]), b - a
    ent, val = np.asarray(A.entries), np.asarray(A.values)
    row_map = np.asarray(A.row_map)[lo:hi + 1]
    narrow = ent.dtype == np.int64 and A.ncols < 2**31  # a third less to move
    (entries, ok), (values, _), (row_map, _) = _staged(
        ws, [("entries", ent[a:b], np.int32 if narrow else None, A.ncols if narrow else None),
             ("values", val[a:b], dtype, None), ("row_map", row_map, None, None)], stream)
    if not ok:
        _validate.checked_by_kernel(A, "spgemm_chain", "A", np.ones(1))  # raises the fault
    return (row_map, a, entries, values), b - a


def _device_args(ws, eargs, stream):
    """Each product's epilogue arguments with the host arrays moved to the GPU.

    Arrays go to buffers kept in ``ws`` (one per product and position), so
    their addresses, and a graph captured with them, stay the same from
    call to call; an array shared by several products goes up once.
    """
    out, seen = [], {}
    for k, args in enumerate(eargs):
        row = []
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray) and a.ndim == 0:
                row.append(a[()])  # a 0-d array is a scalar argument
            elif isinstance(a, np.ndarray):
                if id(a) not in seen:
                    seen[id(a)] = _uploaded(ws, ("earg", k, i), a, stream)
                row.append(seen[id(a)])
            elif hasattr(a, "__cuda_array_interface__"):
                row.append(as_device(a))
            else:
                row.append(a)
        out.append(tuple(row))
    return out


def _uploaded(ws, key, a, stream):
    """Host array ``a`` on the GPU in ``ws``'s buffer ``key``; not copied again while
    its bytes are those the buffer got last (the same bias, call after call)."""
    last = ws["eargs"].get(key)
    if last is not None and last[0].dtype == a.dtype and last[0].shape == a.shape \
            and np.array_equal(last[0].view(np.uint8), np.ascontiguousarray(a).view(np.uint8)):
        return last[1]
    dev = _staged(ws, [(key, a, None, None)], stream)[0][0]
    ws["eargs"][key] = (np.array(a, order="C"), dev)
    return dev


def _graph_key(slot, layer, dargs):
    """What a captured graph depends on: the part, the kernel and every argument
    (arrays by address, each array's address asked once)."""
    addresses, flat = {}, []
    for args in dargs:
        for a in args:
            p = addresses.get(id(a))
            if p is None:
                p = addresses[id(a)] = _pointer(a)
            flat.append(p)
    return slot, id(layer), tuple(flat)


def _product(chain, ws, layer, dargs, stream, l, arrays):
    """Product ``l``'s three kernels, in order, on ``stream``, with its matrix in
    the device ``arrays``."""
    gptr, cols, shared, colptr, roff, vals = arrays
    Ya, Yb, cnt, sel, nnz, rid = (ws[k] for k in ("Ya", "Yb", "cnt", "sel", "nnz", "rid"))
    masks, off = ws["masks"], ws["off"]
    grid = _grid()
    n_in, n_out = chain.shapes[l]
    layer[grid, _BLOCK, stream](l, cnt, sel, Ya, Yb, n_in, n_out, gptr, cols, shared,
                                colptr, roff, vals, chain.exact[l], masks[l % 2], nnz,
                                *dargs[l])
    _plan[1, _PLAN_BLOCK, stream](l, cnt, masks[l % 2], masks[(l + 1) % 2], off,
                                  rid[l % 2], rid[(l + 1) % 2])
    _compact[grid, _BLOCK, stream](l, cnt, sel, Ya, Yb, n_out, masks[l % 2], off)


def _enqueue(chain, ws, layer, dargs, stream, events=None):
    """Every product's three kernels, in order, on ``stream`` (every matrix resident)."""
    for l, arrays in enumerate(chain.layers):
        _product(chain, ws, layer, dargs, stream, l, arrays)
        if events is not None:
            events[l + 1].record(stream)


def _streamed(chain, wss, layer, dargs, callback):
    """Every part through every product, a product at a time across the parts,
    the streamed matrices going up into the ring ahead of their products.

    Product by product rather than part by part, so that each streamed
    matrix goes up once for all the parts.  Launched one by one (no graph:
    the copies are ordered by the host).  Returns the CUDA events around
    the products of the first part when a ``callback`` wants their times.
    """
    events = None
    if callback is not None and not _SIM:
        events = [cuda.event() for _ in range(len(chain) + 1)]
        events[0].record(wss[0]["stream"])
    k = 0
    for l, arrays in enumerate(chain.layers):
        slot = None
        if chain.on_host[l]:
            slot, arrays = chain._ring.put(k, arrays, len(wss))
            k += 1
        for p, ws in enumerate(wss):
            stream = ws["stream"]
            if slot is not None and not _SIM:
                slot["up"].wait(stream)
            _product(chain, ws, layer, dargs, stream, l, arrays)
            if slot is not None and not _SIM:
                slot["read"][p].record(stream)
        if events is not None:
            events[l + 1].record(wss[0]["stream"])
    if not _SIM:
        for ws in wss:
            ws["end"].record(ws["stream"])
    return events


def _pointer(a):
    return a.__cuda_array_interface__["data"][0] if hasattr(a, "__cuda_array_interface__") \
        else a


def _replay(chain, ws, layer, dargs, stream, key):
    """The products as one CUDA graph, captured on first use for these buffers and arguments."""
    from cuda.bindings import driver as cu

    def check(result):
        err, *rest = result
        if err != cu.CUresult.CUDA_SUCCESS:
            raise RuntimeError(f"CUDA graph: {err}")
        return rest[0] if rest else None

    handle = cu.CUstream(int(stream.handle))
    exe = chain._graphs.get(key)
    if exe is None:
        check(cu.cuStreamBeginCapture(
            handle, cu.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL))
        try:
            _enqueue(chain, ws, layer, dargs, stream)
        finally:
            graph = check(cu.cuStreamEndCapture(handle))
        exe = chain._graphs[key] = check(cu.cuGraphInstantiate(graph, 0))
    check(cu.cuGraphLaunch(exe, handle))


def run(chain, A, epilogue, epilogue_args, callback=None):
    """Push ``A`` through ``chain`` on the GPU; returns the final Y as a :class:`DeviceCrs`.

    ``epilogue_args`` is a tuple for every product or a list of tuples, one
    per product; arrays among them may be host arrays (uploaded) or device
    arrays (used as they are).  With a ``callback`` the products are
    launched one by one and timed with CUDA events; without one they are
    replayed as a CUDA graph.  A large host input goes through in parts
    (:func:`_parts`), each part's upload overlapping the part before.
    """
    L = len(chain)
    per_layer = isinstance(epilogue_args, list)
    if per_layer and len(epilogue_args) != L:
        raise ValueError(f"spgemm_chain: {len(epilogue_args)} sets of epilogue arguments for "
                         f"{L} matrices")
    eargs = [tuple(epilogue_args[k] if per_layer else epilogue_args) for k in range(L)]
    nargs = {len(a) for a in eargs}
    if len(nargs) > 1:
        raise ValueError("spgemm_chain: every product needs the same number of epilogue "
                         "arguments")
    nrows, n0 = A.shape
    if L and n0 != chain.shapes[0][0]:
        raise ValueError(f"spgemm_chain: A has {n0} columns but the first matrix has "
                         f"{chain.shapes[0][0]} rows")
    host = not isinstance(A, DeviceCrs)
    if host:
        A = _validate.matrix(A, "spgemm_chain", "A", deep=False)
    layer = _layer_kernel(epilogue, nargs.pop() if nargs else 0, chain.dtype)
    with chain.lock:
        chain._settle()
        # the last result's consumers (on the chain's space) read the buffers
        # this call overwrites: its parts start after them
        settled = None if _SIM else cuda.event(timing=False)
        if settled is not None:
            settled.record(chain.space.launch_stream())
        parts, rm = _parts(A, nrows) if callback is None else ([(0, nrows)], None)
        dargs = ready = events = None
        done = []
        for slot, rows in enumerate(parts):
            ws = chain._workspace(slot, len(parts), rows[1] - rows[0], n0)
            stream = ws["stream"]
            if settled is not None:
                settled.wait(stream)
            if dargs is None:    # epilogue arguments go up once, with the first part
                dargs = _device_args(ws, eargs, stream)
                if len(parts) > 1 and not _SIM:
                    ready = cuda.event()
                    ready.record(stream)
            elif ready is not None:
                ready.wait(stream)
            arrays, nnz_in = _input(ws, A, rows, rm, chain.dtype, stream)
            _load_part(ws, rows[1] - rows[0], n0, arrays, nnz_in)
            if not chain.streamed:
                events = _products(chain, ws, slot, layer, dargs, callback)
            done.append((ws, rows))
        if chain.streamed:
            events = _streamed(chain, [ws for ws, _ in done], layer, dargs, callback)
        bad = np.zeros(1, np.int32)
        for ws, _ in done:   # waits for the part's input check, not its products
            if _SIM:
                bad |= ws["bad"].copy_to_host()
            else:
                ws["checked"].synchronize()
                bad |= ws["bad_host"]
        if not host:
            if bad.any():
                raise ValueError("spgemm_chain: A: a DeviceCrs whose row map or column "
                                 "indices are out of range")
        else:
            _validate.checked_by_kernel(A, "spgemm_chain", "A", bad)
        Y = _deferred(chain, done, nrows, n0)
        if callback is not None:
            ws = done[0][0]
            cnt = ws["cnt"].copy_to_host()
            nnz = ws["nnz"].copy_to_host()
            for k in range(L):
                secs = (cuda.event_elapsed_time(events[k], events[k + 1]) / 1e3
                        if events else None)
                callback(k, {"active_rows": int(cnt[k + 1]), "nnz": int(nnz[k]),
                             "seconds": secs})
        return Y


def _load_part(ws, nrows, n0, arrays, nnz_in):
    """One part's rows into batches, on the part's stream; its input check's flag
    goes to the host on its own."""
    stream, space = ws["stream"], ws["space"]
    row_map, first, entries, values = arrays
    for d in (ws["sel"], ws["nnz"], ws["bad"], *ws["masks"]):
        kkpy.deep_copy(space, d, 0)
    _live_rows[1, _PLAN_BLOCK, stream](nrows, nnz_in, row_map, first, ws["rid"][0],
                                       ws["cnt"], ws["bad"])
    nbatch = -(-nrows // _LANES)
    if _load.fits(n0, ws["Ya"].dtype):
        _load.load_tiles(stream, nbatch, ws["cnt"], ws["rid"][0], row_map, first, entries,
                         values, n0, ws["Ya"], ws["bad"])
    else:
        # Every batch of the part, live or not, as one memset on the part's stream
        # (see _batches for the kernel it replaced).  0, not Y - Y: a buffer left
        # holding inf or NaN must clear too.
        kkpy.deep_copy(space, ws["Ya"][: nbatch * _LANES * n0], 0)
        _batches.load_inputs(space, nrows, ws["cnt"], ws["rid"][0], row_map, first, entries,
                             values, n0, ws["Ya"], ws["bad"])
    if not _SIM:
        ws["bad"].copy_to_host(ws["bad_host"], stream=stream)
        ws["checked"].record(stream)


def _products(chain, ws, slot, layer, dargs, callback):
    """One part's rows through every product (every matrix resident), on the part's
    stream.

    Returns the CUDA events around the products when a ``callback`` wants
    per-product times.
    """
    stream = ws["stream"]
    events = None
    if callback is not None or _SIM or chain.graph_error is not None:
        if callback is not None and not _SIM:
            events = [cuda.event() for _ in range(len(chain) + 1)]
            events[0].record(stream)
        _enqueue(chain, ws, layer, dargs, stream, events)
    else:
        try:
            _replay(chain, ws, layer, dargs, stream, _graph_key(slot, layer, dargs))
        except Exception as err:  # no graph support here: launch one by one
            chain.graph_error = f"{type(err).__name__}: {err}"
            _enqueue(chain, ws, layer, dargs, stream)
    if not _SIM:
        ws["end"].record(stream)
    return events


def _deferred(chain, done, nrows, n0):
    """The final Y as a DeviceCrs made on first use; its row sums come straight
    from the batches.  ``chain`` settles it before its buffers are reused."""
    L = len(chain)
    n = chain.shapes[-1][1] if L else n0
    state = {}

    def build():
        with chain.lock:
            if "arrays" not in state:
                state["arrays"] = _gather(chain, done, nrows, n)
            return state["arrays"]

    def row_sums(space):
        from .._row_sums import _sums

        with chain.lock:
            if "arrays" in state:       # made meanwhile: the buffers may be reused
                row_map, _, values = state["arrays"]
                return _sums(space, row_map, values, nrows, kkpy.CudaSpace)
            return _final_counts(chain, done, nrows, n, with_sums=True)[1]

    # (the closures must not hold the result: the chain's weak reference has
    # to die with the caller's last one, or the next call would build it)
    Y = DeviceCrs._later((nrows, n), chain.dtype, build, row_sums)
    chain._pending = weakref.ref(Y)
    return Y


def _final_counts(chain, done, nrows, n, with_sums=False):
    """Nonzeros (and with ``with_sums`` the float64 sum) of each final row, by input
    row; each live row's chunk offsets go into its part's ``ws["cc"]``."""
    L = len(chain)
    nchunk = max(1, -(-n // _CHUNK))
    counts = _ops._empty(max(nrows, 1), np.int64)
    sums = _ops._empty(max(nrows, 1) if with_sums else 1, np.float64)
    dc, ds = as_device(counts), as_device(sums)
    space = chain.space
    _after_parts(space, done)
    kkpy.deep_copy(space, dc, 0)
    if with_sums:
        kkpy.deep_copy(space, ds, 0)
    for ws, (lo, hi) in done:
        cc, cs = ws.get("cc"), ws.get("cs")
        if cc is None or cc.shape[0] < ws["nbatch"] * _LANES or cc.shape[1] < nchunk:
            cc = ws["cc"] = cuda.device_array((ws["nbatch"] * _LANES, nchunk), np.int32)
        if with_sums and (cs is None or cs.shape != cc.shape):
            cs = ws["cs"] = cuda.device_array(cc.shape, np.float64)
        cc = cc[:, :nchunk]
        cs = cs[:, :nchunk] if with_sums else ds.reshape(1, 1)  # ds: one slot
        rows = ws["nbatch"] * _LANES
        _batches.chunk_counts(space, rows, L, ws["cnt"], ws["sel"], ws["Ya"], ws["Yb"], n, cc,
                              cs, with_sums)
        _batches.chunk_offsets(space, rows, L, ws["cnt"], ws["rid"][L % 2], cc, dc[lo:hi], cs,
                               ds[lo:hi] if with_sums else ds, with_sums)
    return counts, sums


def _after_parts(space, done):
    """Work launched on ``space`` from now on starts after every part's products."""
    if not _SIM:
        stream = space.launch_stream()
        for ws, _ in done:
            ws["end"].wait(stream)


def _gather(chain, done, nrows, n):
    """The final Y of every part, compacted on the GPU into CSR arrays with every
    input row (the parts' streams have finished)."""
    L = len(chain)
    nchunk = max(1, -(-n // _CHUNK))
    counts, _ = _final_counts(chain, done, nrows, n)
    if nrows:
        row_map, total = _ops._offsets(chain.space, _count_at, counts, nrows)
    else:
        row_map, total = _ops._empty(1, np.int64), 0
        kkpy.deep_copy(row_map, 0)
    entries = _ops._empty(max(total, 1), np.int64)
    values = _ops._empty(max(total, 1), chain.dtype)
    rm, ent, val = as_device(row_map), as_device(entries), as_device(values)
    for ws, (lo, _) in done:
        _batches.chunk_gather(chain.space, ws["nbatch"] * _LANES, L, ws["cnt"], ws["sel"],
                              ws["Ya"], ws["Yb"], n, ws["rid"][L % 2], ws["cc"][:, :nchunk],
                              rm[lo:], ent, val)
    return row_map, entries[0:total], values[0:total]
