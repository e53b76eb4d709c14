"""Input rows into the chain's batches in one pass: clear and load fused, tile by tile.

The batches hold rows feature-major (``Y[((p // 32) * n + i) * 32 + p % 32]``,
see :mod:`._chain`).  Loading a sparse row into that layout scatters: each
entry is 4 bytes in its own 128-byte line, read and written back, after a
memset of every batch.  Here one block builds a tile of a batch (its 32
rows, ``_TILE`` columns) in shared memory: it clears the tile, the block's
warps add the rows' entries that fall in its columns (one warp a row, the
lanes over the row's entries: coalesced reads), and the tile goes out as one
contiguous, coalesced write that also clears whatever the buffer held.

Each block reads all the entries of its batch's rows to find those of its
columns, so the pass reads the entries once per tile of columns: cheap
while a row has few tiles (they are read from L2 after the first), costly
for wide inputs, where the memset and scatter of :mod:`._batches` stay
(the limit is ``_tuning.GPU_TILED_LOAD_COLUMNS``).

Raw numba-cuda, like the chain's one-block scans: it needs atomic adds into
a shared-memory tile (repeated columns add up, as in a CSR product), which
kkpy's team scratch does not offer.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, types

from .. import _tuning

__all__ = ["fits", "load_tiles"]

_LANES = 32
# A tile is 32 rows x (GPU_LOAD_TILE_ROW_BYTES / itemsize) columns, padded by
# one column so that the 32 lanes of a column fall in distinct banks.
_ROW_BYTES = _tuning.GPU_LOAD_TILE_ROW_BYTES
_THREADS = _tuning.GPU_LOAD_THREADS
_TYPES = {np.dtype(np.float32): types.float32, np.dtype(np.float64): types.float64}
_kernels = {}


def _tile(dtype):
    return _ROW_BYTES // np.dtype(dtype).itemsize


def fits(n_in, dtype):
    """Whether inputs of ``n_in`` columns of ``dtype`` load through tiles."""
    return n_in <= _tuning.GPU_TILED_LOAD_COLUMNS and np.dtype(dtype) in _TYPES


def _kernel(dtype):
    key = np.dtype(dtype)
    if key in _kernels:
        return _kernels[key]
    tile_cols = _tile(key)
    pad = tile_cols + 1
    cells = _LANES * pad  # a constant of the kernel: a shared array's size must be one
    nbt = _TYPES[key]

    def load(nchunk, cnt, rid, row_map, first, entries, values, n_in, Y, bad):
        tile = cuda.shared.array(cells, dtype=nbt)
        t = cuda.threadIdx.x
        nt = cuda.blockDim.x
        b = cuda.blockIdx.x // nchunk
        ch = cuda.blockIdx.x % nchunk
        c0 = ch * tile_cols
        width = min(tile_cols, n_in - c0)
        for k in range(t, cells, nt):
            tile[k] = 0
        cuda.syncthreads()
        live = cnt[0]
        if bad[0] == 0 and b * _LANES < live:
            warp = t // _LANES
            me = t % _LANES
            for lane in range(warp, _LANES, nt // _LANES):
                p = b * _LANES + lane
                if p < live:
                    r = rid[p]
                    for k in range(row_map[r] - first + me, row_map[r + 1] - first, _LANES):
                        c = entries[k]
                        if c < 0 or c >= n_in:
                            if ch == 0:  # each entry is checked by the first tile's block
                                bad[0] = 1
                        elif c >= c0 and c < c0 + width:
                            cuda.atomic.add(tile, lane * pad + (c - c0), values[k])
        cuda.syncthreads()
        base = (b * n_in + c0) * _LANES
        for k in range(t, width * _LANES, nt):
            Y[base + k] = tile[(k % _LANES) * pad + k // _LANES]

    _kernels[key] = kern = cuda.jit(load)
    return kern


def load_tiles(stream, nbatch, cnt, rid, row_map, first, entries, values, n_in, Y, bad):
    """Clear ``nbatch`` batches of ``Y`` and add each live row's entries into its lane.

    A column outside ``[0, n_in)`` sets ``bad[0]`` and is not used; after a
    bad row map (``bad`` set by the live-row scan) nothing is read.
    """
    nchunk = -(-n_in // _tile(Y.dtype))
    if nbatch and nchunk:
        _kernel(Y.dtype)[nbatch * nchunk, _THREADS, stream](
            nchunk, cnt, rid, row_map, np.int64(first), entries, values, n_in, Y, bad)
