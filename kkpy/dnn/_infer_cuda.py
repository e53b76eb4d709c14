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

__all__ = ["CudaNetwork", "infer_cuda"]

_SIM = bool(config.ENABLE_CUDASIM)
#: Threads per block (two warps): small blocks keep many of them busy when
#: only a few batches are left alive.
_BLOCK = 64
_LANES = 32
#: Threads of the one block that plans each layer's compaction.
_PLAN_BLOCK = 32 if _SIM else 1024


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
def _outputs(inp, out, ibase, obase, j, j1, step, colptr, roff, vals, bias, ymax):
    """Outputs ``j, j + step, ... < j1`` of one lane's row; returns (any nonzero, nonzeros).

    Indices are unsigned, so numba adds no negative-index checks to the
    inner loop: it compiles to a load of the row offset, a coalesced load of
    the 32 rows, and a fused multiply-add.
    """
    zero = np.float32(0)
    row = inp[ibase:]
    live = False
    nz = 0
    while j < j1:
        acc = zero
        k = colptr[j]
        end = colptr[j + np.uint64(1)]
        while k < end:
            y = row[roff[k]]
            if y != 0:
                acc += y * vals[k]
            k += np.uint32(1)
        v = acc
        if v != 0:                                # the bias only where Y @ W is nonzero
            v += bias[j]
            if v < 0:
                v = zero
            elif v > ymax:
                v = ymax
        out[obase + j * np.uint64(32)] = v
        if v != 0:
            live = True
            nz += 1
        j += step
    return live, nz


@cuda.jit(cache=True)
def _layer(l, cnt, sel, Ya, Yb, n_in, n_out, tile, colptr, roff, vals, bias, ymax, mask, nnz):
    """One layer for every live batch; marks which rows of each batch are still alive."""
    sh = cuda.shared.array(33, dtype=np.int32)   # live lanes, then nonzeros
    tid = cuda.threadIdx.x
    lane = np.uint64(tid % 32)
    warp = np.uint64(tid // 32)
    nwarp = np.uint64(cuda.blockDim.x // 32)
    ntile = (n_out + tile - 1) // tile
    nitems = ((cnt[l] + 31) // 32) * ntile
    s = sel[l]
    item = cuda.blockIdx.x
    while item < nitems:
        if tid < 33:
            sh[tid] = 0
        cuda.syncthreads()
        b = item // ntile
        j0 = np.uint64((item - b * ntile) * tile)
        j1 = np.uint64(min((item - b * ntile) * tile + tile, n_out))
        ibase = np.uint64(b * n_in * 32) + lane
        obase = np.uint64(b * n_out * 32) + lane
        # Two calls, so that each knows which buffer it reads: plain global loads.
        if s == 0:
            live, nz = _outputs(Ya, Yb, ibase, obase, j0 + warp, j1, nwarp, colptr, roff,
                                vals, bias, ymax)
        else:
            live, nz = _outputs(Yb, Ya, ibase, obase, j0 + warp, j1, nwarp, colptr, roff,
                                vals, bias, ymax)
        if live:
            sh[tid % 32] = 1
        if nz:
            cuda.atomic.add(sh, 32, nz)
        cuda.syncthreads()
        if tid == 0:
            bits = 0
            for q in range(32):
                if sh[q] != 0:
                    bits |= 1 << q
            if bits:
                cuda.atomic.or_(mask, b, bits)
            cuda.atomic.add(nnz, l, sh[32])
        cuda.syncthreads()
        item += cuda.gridDim.x


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
    if t == 0:
        run = 0
        for u in range(nt):
            v = part[u]
            part[u] = run
            run += v
        cnt[l + 1] = run
    cuda.syncthreads()
    run = part[t]
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
    return cuda.get_current_device().MULTIPROCESSOR_COUNT * 16


def _csc(W, dtype):
    """Columns of ``W`` as (colptr, row offsets, values), rows increasing within a column."""
    import scipy.sparse as sp

    from ..sparse import as_crs

    A = as_crs(W)
    m = sp.csr_array((np.asarray(A.values), np.asarray(A.entries), np.asarray(A.row_map)),
                     shape=A.shape).tocsc()
    m.sum_duplicates()
    m.sort_indices()
    # row offsets in a batch (rows * 32), unsigned: see _outputs
    return (m.indptr.astype(np.uint32), m.indices.astype(np.uint32) * np.uint32(_LANES),
            m.data.astype(dtype), A.shape)


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
        shapes = []
        for k, W in enumerate(layers):
            colptr, rows, vals, shape = _csc(W, self.dtype)
            if shapes and shape[0] != shapes[-1][1]:
                raise ValueError(f"layer {k}: has {shape[0]} rows but layer {k - 1} has "
                                 f"{shapes[-1][1]} columns")
            shapes.append(shape)
            b = _bias_vector(biases[k], shape[1], self.dtype, k)
            self.layers.append(tuple(cuda.to_device(a) for a in (colptr, rows, vals, b)))
        self.shapes = shapes
        self.nnz = sum(int(layer[1].shape[0]) for layer in self.layers)

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

    def _buffers(self, size):
        """The two activation buffers, kept between runs: they can take most of the GPU."""
        have = getattr(self, "_work", None)
        if have is None or have[0].shape[0] < size:
            self._work = None  # free the old pair before asking for a larger one
            self._work = (cuda.device_array(size, self.dtype), cuda.device_array(size, self.dtype))
        return self._work

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
        nmax = max([n0] + [s[1] for s in self.shapes])
        nbatch = max(1, -(-count // _LANES))
        # Compact CSR of the live rows only.
        starts, ends = row_map[live], row_map[live + 1]
        lens = ends - starts
        indptr = np.zeros(count + 1, np.int64)
        np.cumsum(lens, out=indptr[1:])
        take = np.repeat(starts - indptr[:-1], lens) + np.arange(indptr[-1])
        st = {"nrows": nrows, "ncols": self.shapes[-1][1] if self.shapes else n0,
              "count0": count}
        Ya, Yb = self._buffers(nbatch * nmax * _LANES)
        _zero(Ya, nbatch * n0 * _LANES)
        L = len(self.layers)
        cnt = cuda.to_device(np.array([count] + [0] * L, np.int32))
        sel = cuda.to_device(np.zeros(L + 1, np.int32))
        nnz = cuda.to_device(np.zeros(max(L, 1), np.int64))
        rid = [cuda.to_device(live), cuda.device_array(max(count, 1), np.int32)]
        masks = [cuda.to_device(np.zeros(nbatch, np.int64)) for _ in range(2)]
        off = cuda.device_array(nbatch, np.int32)
        if count:
            _load_inputs[_grid(), 256 if not _SIM else 32](
                cuda.to_device(indptr), cuda.to_device(np.asarray(Y0.entries)[take]),
                cuda.to_device(np.asarray(Y0.values)[take].astype(self.dtype)),
                count, n0, Ya)
        st.update(Ya=Ya, Yb=Yb, cnt=cnt, sel=sel, nnz=nnz, rid=rid, masks=masks, off=off)
        return st

    def launch(self, st):
        """Launch every layer (asynchronously: nothing waits for the GPU)."""
        L = len(self.layers)
        Ya, Yb, cnt, sel, nnz, rid = (st[k] for k in ("Ya", "Yb", "cnt", "sel", "nnz", "rid"))
        masks, off = st["masks"], st["off"]
        events = [cuda.event() for _ in range(L + 1)]
        events[0].record()
        grid = _grid()
        for l, (colptr, rows, vals, bias) in enumerate(self.layers):
            n_in, n_out = self.shapes[l]
            tile = 16 if n_out <= 8192 else 64
            _layer[grid, _BLOCK](l, cnt, sel, Ya, Yb, n_in, n_out, tile, colptr, rows, vals,
                                 bias, self.ymax, masks[l % 2], nnz)
            _plan[1, _PLAN_BLOCK](l, cnt, masks[l % 2], masks[(l + 1) % 2], off, rid[l % 2],
                                  rid[(l + 1) % 2])
            _compact[grid, _BLOCK](l, cnt, sel, Ya, Yb, n_out, masks[l % 2], off)
            events[l + 1].record()
        st.update(final_rid=rid[L % 2], events=events)

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
        ev = st["events"]
        ev[-1].synchronize()
        out = []
        for l in range(len(self.layers)):
            secs = cuda.event_elapsed_time(ev[l], ev[l + 1]) / 1e3 if not _SIM else 0.0
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
