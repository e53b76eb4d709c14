"""The GPU chain's row batches in and out, written as kkpy kernels.

Rows live 32 to a *batch*, stored feature-major: input ``i`` of row ``p``
is ``Y[((p // 32) * n + i) * 32 + p % 32]`` (see :mod:`._chain`).  These
kernels load host rows into batches and read the final batches back into
CSR.  They are plain kkpy kernels launched with ``RangePolicy`` on the
chain's :class:`kkpy.Cuda` instance of each part's stream, one index per
GPU thread, so index ``g`` and ``g + 1`` are neighbouring lanes and every
access to ``Y`` is coalesced as in hand-written numba-cuda.

Measured against the hand-written kernels of the same loops that they
replaced (commit 673806c's ``_chain.py``) on one H100, 60000 rows of the
1024 x 120 problem, median of 20 launches timed with CUDA events while
the stream was kept busy ahead of each launch (so that the host's launch
time is not counted), kkpy / hand-written: ``chunk_counts`` 44.9 / 45.1 us
(1.00), ``chunk_counts`` + ``chunk_offsets`` 48.5 / 49.8 (0.97),
``chunk_gather`` 146.5 / 147.0 (1.00), ``load_inputs`` 445.9 / 458.1
(0.97).  Clearing the batches is a memset through ``kkpy.deep_copy(space,
Y, 0)``: 78.8 us against 83.7 for the hand-written kernel (0.94).  The
host's side of a launch is where kkpy still costs more: 79-87 us of host
time a launch against 55-63 us for numba-cuda's own in the same run (an
earlier H200 comparison timed from an idle GPU counted that too, hence
its 1.08-1.51).  On the chain's timed path the result's launches are
enqueued while the products run; ``load_inputs`` comes before them, so
its launch time adds to the call.

The live counts stay on the GPU (``cnt``): each kernel is launched over
the part's capacity and its indices past the live rows do nothing, so no
launch waits for the host.
"""
from __future__ import annotations

import numpy as np

import kkpy
from kkpy.core import kernel

from .. import _tuning

__all__ = ["load_inputs", "chunk_counts", "chunk_offsets", "chunk_gather"]

_CHUNK = _tuning.GPU_COMPACT_CHUNK


@kernel
def _load_inputs(p, cnt, rid, row_map, first, entries, values, n_in, Y, bad):
    # Repeated columns add up, as in a CSR product.  After a bad row map
    # (``bad``, set by ``_live_rows``) nothing is read; a column outside
    # [0, n_in) sets ``bad`` and is not used.
    if bad[0] == 0 and p < cnt[0]:
        base = (p // 32) * n_in
        lane = p % 32
        r = rid[p]
        for k in range(row_map[r] - first, row_map[r + 1] - first):
            c = entries[k]
            if c < 0 or c >= n_in:
                bad[0] = 1
            else:
                Y[(base + c) * 32 + lane] += values[k]


@kernel
def _chunk_counts(g, l, cnt, sel, Ya, Yb, n, cc, cs, with_sums):
    # One index per (batch, chunk of _CHUNK columns, lane): a few live rows of
    # a wide layer still spread over the whole GPU.
    nchunk = cc.shape[1]
    count = cnt[l]
    item = g // 32
    lane = g % 32
    b = item // nchunk
    p = b * 32 + lane
    if p < count:
        Y = Ya if sel[l] == 0 else Yb
        c = item - b * nchunk
        k = 0
        t = 0.0
        base = b * n
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            v = Y[(base + i) * 32 + lane]
            if v != 0:
                k += 1
                t += v
        cc[p, c] = k
        if with_sums:
            cs[p, c] = t


@kernel
def _chunk_offsets(p, l, cnt, rid, cc, counts, cs, sums, with_sums):
    if p < cnt[l]:
        run = 0
        t = 0.0
        for c in range(cc.shape[1]):
            k = cc[p, c]
            cc[p, c] = run
            run += k
            if with_sums:
                t += cs[p, c]
        counts[rid[p]] = run
        if with_sums:
            sums[rid[p]] = t


@kernel
def _chunk_gather(g, l, cnt, sel, Ya, Yb, n, rid, cc, row_map, entries, values):
    nchunk = cc.shape[1]
    item = g // 32
    lane = g % 32
    b = item // nchunk
    p = b * 32 + lane
    if p < cnt[l]:
        Y = Ya if sel[l] == 0 else Yb
        c = item - b * nchunk
        out = row_map[rid[p]] + cc[p, c]
        base = b * n
        for i in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            v = Y[(base + i) * 32 + lane]
            if v != 0:
                entries[out] = i
                values[out] = v
                out += 1


def _for(space, name, count, body, *args):
    kkpy.parallel_for(f"kkpy.sparse.chain.{name}", kkpy.RangePolicy(space, 0, count), body,
                      *args)


def _chunk_items(rows, cc):
    """Indices of a launch with one per (batch, chunk of columns, lane)."""
    return -(-rows // 32) * 32 * cc.shape[1]


def load_inputs(space, rows, cnt, rid, row_map, first, entries, values, n_in, Y, bad):
    """Add each live input row's entries into its lane of its batch (one thread a row)."""
    _for(space, "load_inputs", rows, _load_inputs, cnt, rid, row_map, np.int64(first),
         entries, values, n_in, Y, bad)


def chunk_counts(space, rows, l, cnt, sel, Ya, Yb, n, cc, cs, with_sums):
    """Nonzeros of each live row of product ``l``'s output in each chunk of columns:
    ``cc[p, c]``; with ``with_sums`` also their float64 sum, ``cs[p, c]``."""
    _for(space, "chunk_counts", _chunk_items(rows, cc), _chunk_counts, l, cnt,
         sel, Ya, Yb, n, cc, cs, with_sums)


def chunk_offsets(space, rows, l, cnt, rid, cc, counts, cs, sums, with_sums):
    """Each live row's chunk counts into offsets within the row; its total at its
    input row; with ``with_sums`` also its sum (the chunks' sums, in order)."""
    _for(space, "chunk_offsets", rows, _chunk_offsets, l, cnt, rid, cc, counts, cs, sums,
         with_sums)


def chunk_gather(space, rows, l, cnt, sel, Ya, Yb, n, rid, cc, row_map, entries, values):
    """Each live row's nonzeros into CSR at its input row, columns increasing."""
    _for(space, "chunk_gather", _chunk_items(rows, cc), _chunk_gather, l, cnt,
         sel, Ya, Yb, n, rid, cc, row_map, entries, values)
