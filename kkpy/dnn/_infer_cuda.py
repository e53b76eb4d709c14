"""Sparse DNN inference on the GPU (``kkpy.dnn.infer(..., space=kkpy.Cuda())``).

The CPU engine runs one fused SpGEMM per layer.  On a GPU the same recurrence
is organised around what the hardware does fast, for any sparse network:

* **Rows in warps.** Live input rows are packed 32 to a *batch*; a batch is
  stored neuron-major, ``Y[batch, neuron, lane]``, so the 32 rows of a batch
  are one 128-byte line per neuron.  A warp computes one output neuron ``j``
  for all 32 rows at once: it walks column ``j`` of ``W`` (the same index and
  weight for every lane, one broadcast load) and reads ``Y[batch, i, :]`` for
  each ``i`` in it, a fully coalesced load.  Each row is dense within its
  batch, so sparse and dense activations cost the same and no index lists
  are built between layers.
* **Outputs that share inputs share loads.** Output neurons whose columns of
  ``W`` list the same input rows (found once per layer from ``W``'s
  structure, for any ``W``: equal columns, checked entry by entry) are
  computed by one warp together, up to 16 at a time: each input line is
  loaded once and feeds all of their sums, which stay in registers.  Each
  sum still adds its terms in increasing row order: the results are the
  same bits as one output at a time, and as the CPU's float32 engine.
  In the challenge's layers every column shares its rows with 15 others,
  so a layer loads 16x fewer lines.
* **Fused epilogue.** ``z = sum_i y_i w_ij`` over the stored entries of
  column ``j`` in increasing ``i``; ``z`` stays 0 if it is 0, else
  ``min(max(z + b_j, 0), ymax)``: the CPU engine's definition, entry by entry.
* **Dead rows leave.** Each layer marks, per batch, which rows are still
  nonzero (a 32-bit mask); one block turns the masks into slots for the
  next layer, keeping the rows in order; a third kernel moves the live rows
  there, a whole 32-row line at a time.  If no row died it moves nothing,
  and the next layer reads this layer's output where it is.  Counts stay on
  the GPU: no layer waits for the host.
"""
from __future__ import annotations

import time

import numpy as np
from numba import cuda
from numba.core import config

from ..core import extending

extending.install_numba_cache()  # numba-cuda may keep its own list of cache locators

__all__ = ["CudaNetwork", "infer_cuda"]

_SIM = bool(config.ENABLE_CUDASIM)
#: Threads per block (two warps; each warp takes its own work items).
_BLOCK = 64
_LANES = 32
#: Outputs one warp computes together when their columns of W list the same rows.
_GROUP = 16
#: Fewer outputs sharing their rows than this are computed one by one: each
#: input load then serves too few outputs to pay for a group's fixed work.
_SHARED_MIN = 8
#: Threads of the one block that plans each layer's compaction.
_PLAN_BLOCK = 32 if _SIM else 256


# -- kernels ----------------------------------------------------------------------------

@cuda.jit(cache=True)
def _load_inputs(indptr, indices, data, nrows, n_in, Y):
    """Scatter the live input rows (CSR) into batches; ``Y`` is zero there already."""
    r = cuda.grid(1)
    while r < nrows:
        base = (r // 32) * n_in
        lane = r % 32
        for k in range(indptr[r], indptr[r + 1]):
            Y[(base + indices[k]) * 32 + lane] += data[k]
        r += cuda.gridsize(1)


@cuda.jit(device=True, inline="always")
def _term(y, w, exact):
    # A zero input adds nothing, even against an infinite weight, as on the
    # CPU, whose SpGEMM never sees it.  Only a network with an infinite or NaN
    # weight needs the test (``exact``); ``exact`` is the same for the whole
    # loop, so the compiler makes one loop with it and one without.
    if exact and y == 0:
        return y - y
    return y * w


@cuda.jit(device=True, inline="always")
def _dot(y, base, roff, vals, k, end, exact):
    """``sum(y[base + roff[k]] * vals[k])`` over ``k < end``, in order.

    Sixteen gathers are issued before any is used: each waits for the L2 (or
    DRAM), so a warp needs many in flight to keep the memory system busy.
    """
    acc = np.float32(0)
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
def _finish(v, bias, ymax):
    """The epilogue: 0 stays 0, else ``min(max(v + bias, 0), ymax)``."""
    if v != 0:                                    # the bias only where Y @ W is nonzero
        v += bias
        if v < 0:
            v = np.float32(0)
        elif v > ymax:
            v = ymax
    return v


@cuda.jit(device=True, inline="always")
def _columns(inp, out, ibase, obase, cols, q, q1, colptr, roff, vals, bias, ymax, exact):
    """Outputs ``cols[q:q1]`` of one lane's row, one after another; returns their nonzeros.

    ``inp[ibase + 32*i]`` is input ``i`` of the lane's row.  Indices are
    unsigned, so numba adds no negative-index checks to the inner loop: per
    gather, a broadcast load of the row offset, a coalesced load of the 32
    rows and a fused multiply-add.
    """
    nz = 0
    while q < q1:
        c = np.uint64(cols[q])
        v = _dot(inp, ibase, roff, vals, colptr[c], colptr[c + np.uint64(1)], exact)
        v = _finish(v, bias[c], ymax)
        out[obase + c * np.uint64(32)] = v
        if v != 0:
            nz += 1
        q += np.uint64(1)
    return nz


@cuda.jit(device=True, inline="always")
def _shared_columns(inp, out, ibase, obase, cols, q, g, colptr, roff, vals, bias, ymax, exact):
    """Outputs ``cols[q:q + g]`` (``g <= _GROUP``), whose columns of ``W`` list the same rows.

    Each input is loaded once and used by all ``g`` outputs, whose sums stay
    in registers (the loops over ``_GROUP`` unroll); every sum still adds its
    terms in increasing row order, as :func:`_dot` does.  Slots past ``g``
    repeat the last output and are not stored.
    """
    acc = cuda.local.array(_GROUP, np.float32)
    wb = cuda.local.array(_GROUP, np.uint32)
    last = q + np.uint64(g - 1)
    for m in range(_GROUP):
        acc[m] = np.float32(0)
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
            v = _finish(acc[m], bias[c], ymax)
            out[obase + c * np.uint64(32)] = v
            if v != 0:
                nz += 1
    return nz


@cuda.jit(device=True, inline="always")
def _group(inp, out, ibase, obase, cols, q, q1, shared, colptr, roff, vals, bias, ymax,
           exact):
    if shared:
        return _shared_columns(inp, out, ibase, obase, cols, q, q1 - q, colptr, roff, vals,
                               bias, ymax, exact)
    return _columns(inp, out, ibase, obase, cols, q, q1, colptr, roff, vals, bias, ymax, exact)


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
def _layer(l, cnt, sel, Ya, Yb, n_in, n_out, gptr, cols, shared, colptr, roff, vals, bias,
           ymax, exact, mask, nnz):
    """One layer for every live batch; marks which rows of each batch are still alive.

    A work item, for one warp, is one batch and one group of outputs (see
    :func:`_output_groups`); a batch's groups are consecutive items, so
    warps running at the same time read the same batch.
    """
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
            k = _group(Ya, Yb, ibase, obase, cols, q, q1, shared[g], colptr, roff, vals, bias,
                       ymax, exact)
        else:
            k = _group(Yb, Ya, ibase, obase, cols, q, q1, shared[g], colptr, roff, vals, bias,
                       ymax, exact)
        _mark_live(mask, b, lane, k != 0)
        nz += k
        item += cuda.gridsize(1) // 32
    if nz:
        cuda.atomic.add(total, 0, nz)
    cuda.syncthreads()
    if cuda.threadIdx.x == 0 and total[0]:
        cuda.atomic.add(nnz, l, total[0])         # once per block: one hot address


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
    part[t] = total
    cuda.syncthreads()
    d = 1
    while d < nt:                                 # inclusive scan, log2(nt) steps
        v = part[t - d] if t >= d else 0
        cuda.syncthreads()
        part[t] += v
        cuda.syncthreads()
        d *= 2
    run = part[t] - total
    if t == nt - 1:
        cnt[l + 1] = part[t]
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


@cuda.jit(cache=True)
def _row_sums(count, Y, n, sums):
    """Sum of each live row (in slot order): the categories are the nonzero ones."""
    p = cuda.grid(1)
    while p < count:
        base = (p // 32) * n
        lane = p % 32
        t = 0.0
        for i in range(n):
            t += Y[(base + i) * 32 + lane]
        sums[p] = t
        p += cuda.gridsize(1)


# -- host side --------------------------------------------------------------------------

def _grid():
    if _SIM:
        return 2
    # 32 blocks of 64 threads fill a multiprocessor's 2048 threads
    return cuda.get_current_device().MULTIPROCESSOR_COUNT * 32


def _csc(W, dtype):
    """Columns of ``W`` as (colptr, row offsets, values), rows increasing within a column."""
    import scipy.sparse as sp

    from ..sparse import as_crs

    A = as_crs(W)
    m = sp.csr_array((np.asarray(A.values), np.asarray(A.entries), np.asarray(A.row_map)),
                     shape=A.shape).tocsc()
    m.sum_duplicates()
    m.sort_indices()
    # row offsets in a batch (rows * 32), unsigned: see _columns
    return (*_output_groups(m.indptr, m.indices),
            m.indptr.astype(np.uint32), m.indices.astype(np.uint32) * np.uint32(_LANES),
            m.data.astype(dtype), A.shape)


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


class CudaNetwork:
    """A network uploaded to the GPU once, for any number of :meth:`infer` calls.

    Parameters
    ----------
    layers : sequence of CrsMatrix or scipy.sparse matrix
        Layer ``k`` is ``N_k x N_(k+1)``.
    bias : float, vector, or one per layer
        As for :func:`kkpy.dnn.infer`.
    ymax : float
    dtype : float32 (float64 also works)
    """

    def __init__(self, layers, bias, ymax=32.0, dtype=np.float32):
        from ._infer import _bias_vector, _per_layer_bias

        self.dtype = np.dtype(dtype)
        self.ymax = self.dtype.type(ymax)
        biases = _per_layer_bias(bias, len(layers))
        self.layers = []
        self.exact = []     # per layer: has a non-finite weight (see _term)
        shapes = []
        for k, W in enumerate(layers):
            gptr, cols, shared, colptr, rows, vals, shape = _csc(W, self.dtype)
            if shapes and shape[0] != shapes[-1][1]:
                raise ValueError(f"layer {k}: has {shape[0]} rows but layer {k - 1} has "
                                 f"{shapes[-1][1]} columns")
            shapes.append(shape)
            b = _bias_vector(biases[k], shape[1], self.dtype, k)
            self.layers.append(tuple(cuda.to_device(a)
                                     for a in (gptr, cols, shared, colptr, rows, vals, b)))
            self.exact.append(not np.isfinite(vals).all())
        self.shapes = shapes
        self.nnz = sum(int(layer[4].shape[0]) for layer in self.layers)
        self._ws = self._graph = self._graph_failed = None

    def infer(self, Y0, callback=None, timings=None):
        """Run every layer on the inputs ``Y0``; returns the final Y as a CrsMatrix.

        ``timings``, if a dict, receives ``seconds`` (inputs on the host to the
        final Y on the GPU), ``layer_seconds`` and ``categories`` (0-based rows
        of ``Y0`` whose final row sum is nonzero, found on the GPU).
        """
        t0 = time.perf_counter()
        state = self.upload(Y0)
        self.launch(state)
        cats = self.categories(state)
        seconds = time.perf_counter() - t0
        stats = self.layer_stats(state)
        if timings is not None:
            timings.update(seconds=seconds, categories=cats,
                           layer_seconds=[s["seconds"] for s in stats])
        if callback is not None:
            for k, s in enumerate(stats):
                callback(k, s)
        return self.result(state)

    # The pieces of infer, separately, for benchmarks.

    def _workspace(self, nbatch, n0):
        """Device arrays of a run, kept between runs: the activations can take most of
        the GPU, and a captured launch graph stays valid as long as they do."""
        L = len(self.layers)
        nmax = max([n0] + [s[1] for s in self.shapes])
        ws = self._ws
        if ws is None or ws["nbatch"] < nbatch:
            self._ws = self._graph = None  # free the old arrays before asking for more
            rows = nbatch * _LANES
            ws = {"nbatch": nbatch,
                  "Ya": cuda.device_array(rows * nmax, self.dtype),
                  "Yb": cuda.device_array(rows * nmax, self.dtype),
                  "cnt": cuda.device_array(L + 1, np.int32),
                  "sel": cuda.device_array(L + 1, np.int32),
                  "nnz": cuda.device_array(max(L, 1), np.int64),
                  "rid": [cuda.device_array(rows, np.int32) for _ in range(2)],
                  "masks": [cuda.device_array(nbatch, np.int64) for _ in range(2)],
                  "off": cuda.device_array(nbatch, np.int32)}
            self._ws = ws
        return ws

    def upload(self, Y0):
        """Put the live rows of ``Y0`` on the GPU, in batches; returns the run's state."""
        from ..sparse import as_crs

        Y0 = as_crs(Y0)
        nrows, n0 = Y0.shape
        if self.layers and n0 != self.shapes[0][0]:
            raise ValueError(f"Y0 has {n0} columns but the first layer has "
                             f"{self.shapes[0][0]} rows")
        row_map = np.asarray(Y0.row_map)
        live = np.flatnonzero(np.diff(row_map)).astype(np.int32)
        count = live.size
        nbatch = max(1, -(-count // _LANES))
        # Compact CSR of the live rows only.
        starts, ends = row_map[live], row_map[live + 1]
        lens = ends - starts
        indptr = np.zeros(count + 1, np.int64)
        np.cumsum(lens, out=indptr[1:])
        take = np.repeat(starts - indptr[:-1], lens) + np.arange(indptr[-1])
        ws = self._workspace(nbatch, n0)
        L = len(self.layers)
        _zero(ws["Ya"], nbatch * n0 * _LANES)
        ws["cnt"].copy_to_device(np.array([count] + [0] * L, np.int32))
        for name in ("sel", "nnz", "masks"):
            for d in (ws[name] if isinstance(ws[name], list) else [ws[name]]):
                _zero(d, d.shape[0])
        if count:
            ws["rid"][0][:count].copy_to_device(live)
            _load_inputs[_grid(), 256 if not _SIM else 32](
                cuda.to_device(indptr), cuda.to_device(np.asarray(Y0.entries)[take]),
                cuda.to_device(np.asarray(Y0.values)[take].astype(self.dtype)),
                count, n0, ws["Ya"])
        return dict(ws, nrows=nrows, ncols=self.shapes[-1][1] if self.shapes else n0,
                    final_rid=ws["rid"][L % 2])

    def _enqueue(self, st, stream=0, events=None):
        """Every layer's three kernels, in order, on ``stream``."""
        Ya, Yb, cnt, sel, nnz, rid = (st[k] for k in ("Ya", "Yb", "cnt", "sel", "nnz", "rid"))
        masks, off = st["masks"], st["off"]
        grid = _grid()
        for l, (gptr, cols, shared, colptr, roff, vals, bias) in enumerate(self.layers):
            n_in, n_out = self.shapes[l]
            _layer[grid, _BLOCK, stream](l, cnt, sel, Ya, Yb, n_in, n_out, gptr, cols, shared,
                                         colptr, roff, vals, bias, self.ymax, self.exact[l],
                                         masks[l % 2], nnz)
            _plan[1, _PLAN_BLOCK, stream](l, cnt, masks[l % 2], masks[(l + 1) % 2], off,
                                          rid[l % 2], rid[(l + 1) % 2])
            _compact[grid, _BLOCK, stream](l, cnt, sel, Ya, Yb, n_out, masks[l % 2], off)
            if events is not None:
                events[l + 1].record(stream)

    def launch(self, st, timed=True, graph=False):
        """Launch every layer (asynchronously: nothing waits for the GPU).

        ``timed`` records an event after each layer, for :meth:`layer_stats`.
        ``graph`` replays the whole sequence as one CUDA graph, captured on
        first use: 3 launches per layer cost the host more than the GPU
        needs for a small late layer.
        """
        if graph and not _SIM and self._graph_failed is None:
            try:
                self._replay(st)
                st["events"] = None
                return
            except Exception as err:  # no graph support here: launch one by one
                self._graph_failed = f"{type(err).__name__}: {err}"
        events = [cuda.event() for _ in range(len(self.layers) + 1)] if timed else None
        if events:
            events[0].record()
        self._enqueue(st, 0, events)
        st["events"] = events

    def _replay(self, st):
        from cuda.bindings import driver as cu

        def check(result):
            err, *rest = result
            if err != cu.CUresult.CUDA_SUCCESS:
                raise RuntimeError(f"CUDA graph: {err}")
            return rest[0] if rest else None

        if self._graph is None:
            stream = cuda.stream()
            handle = cu.CUstream(int(stream.handle))
            check(cu.cuStreamBeginCapture(
                handle, cu.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL))
            try:
                self._enqueue(st, stream)
            finally:
                graph = check(cu.cuStreamEndCapture(handle))
            self._graph = (stream, handle, graph, check(cu.cuGraphInstantiate(graph, 0)))
        stream, handle, _, exe = self._graph
        check(cu.cuGraphLaunch(exe, handle))

    @staticmethod
    def synchronize():
        cuda.synchronize()

    def _final(self, st):
        L = len(self.layers)
        cnt = st["cnt"].copy_to_host()
        sel = int(st["sel"].copy_to_host()[L])
        Y = st["Ya"] if sel == 0 else st["Yb"]
        return int(cnt[L]), Y, cnt

    def categories(self, st):
        """0-based input rows whose final row sum is nonzero, computed on the GPU."""
        count, Y, _ = self._final(st)
        if count == 0:
            return np.zeros(0, np.int64)
        sums = cuda.device_array(count, np.float64)
        _row_sums[_grid(), 256 if not _SIM else 32](count, Y, st["ncols"], sums)
        rid = st["final_rid"][:count].copy_to_host()
        return np.sort(rid[np.flatnonzero(sums.copy_to_host())]).astype(np.int64)

    def layer_stats(self, st):
        """Per layer: active rows after it, its nonzeros and its seconds (CUDA events)."""
        _, _, cnt = self._final(st)
        nnz = st["nnz"].copy_to_host()
        ev = st.get("events")
        out = []
        for l in range(len(self.layers)):
            secs = None
            if ev and not _SIM:
                secs = cuda.event_elapsed_time(ev[l], ev[l + 1]) / 1e3
            out.append({"layer": l + 1, "active_rows": int(cnt[l + 1]), "nnz": int(nnz[l]),
                        "seconds": secs})
        return out

    def result(self, st):
        """The final Y as a host CrsMatrix (``images x N_L``; dead rows empty)."""
        from ..sparse import CrsMatrix

        count, Y, _ = self._final(st)
        n = st["ncols"]
        nrows = st["nrows"]
        if count == 0:
            return CrsMatrix(np.zeros(0, self.dtype), np.zeros(0, np.int64),
                             np.zeros(nrows + 1, np.int64), n)
        nb = -(-count // _LANES)
        dense = Y[:nb * n * _LANES].copy_to_host().reshape(nb, n, _LANES)
        dense = dense.transpose(0, 2, 1).reshape(nb * _LANES, n)[:count]
        rid = st["final_rid"][:count].copy_to_host()
        order = np.argsort(rid, kind="stable")
        dense, rid = dense[order], rid[order]
        r, c = np.nonzero(dense)
        counts = np.zeros(nrows, np.int64)
        counts[rid] = np.bincount(r, minlength=count)
        row_map = np.zeros(nrows + 1, np.int64)
        np.cumsum(counts, out=row_map[1:])
        return CrsMatrix(dense[r, c], c.astype(np.int64), row_map, n)


def _zero(d, n):
    if n == 0:
        return
    if _SIM:
        d[:n].copy_to_device(np.zeros(n, d.dtype))
        return
    from numba.cuda.cudadrv.driver import device_memset

    device_memset(d, 0, n * d.dtype.itemsize)


def infer_cuda(Y0, layers, bias, ymax=32.0, dtype=np.float32, callback=None):
    """:func:`kkpy.dnn.infer` on the GPU: upload the network, run it, return the final Y."""
    return CudaNetwork(layers, bias, ymax, dtype).infer(Y0, callback=callback)
