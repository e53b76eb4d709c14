"""Kernels of the SpGEMM chain (``kkpy.sparse.spgemm_chain``).

Live rows are kept *dense* in blocks of ``R`` rows stored feature-major
(``block[k, r]`` is feature ``k`` of the block's row ``r``), so one layer is a
sparse-times-dense product through the transposed weights: for each output
column ``j``, ``acc[:] += w * block[k, :]`` over the nonzeros ``(k, w)`` of
column ``j``.  The inner loop runs over the ``R`` rows of the block with unit
stride, which the compiler vectorises; for rows that are more than a few
percent dense this beats a scattered Gustavson update by a wide margin.

The epilogue kernel is bound into the layer kernel's source by
:func:`kkpy.core.extending.build_kernel`, so any user epilogue is inlined and
still cached on disk.
"""
from __future__ import annotations

import numpy as np

from kkpy.core.extending import build_kernel
from kkpy.core import kernel

from .._tuning import CHAIN_BLOCK_ROWS

_LAYER = """
def dense_layer(b, src, dst, counts, wt_ptr, wt_idx, wt_val{eargs}):
    # src/dst: (nblocks, N_in, R) / (nblocks, N_out, R); counts: (nblocks, R)
    sb = src[b]
    db = dst[b]
    cnt = np.zeros({R}, np.int64)
    zero = np.zeros(1, db.dtype)[0]
    for j in range(db.shape[0]):
{zero}
        for p in range(wt_ptr[j], wt_ptr[j + 1]):
            w = wt_val[p]
            row = sb[wt_idx[p]]
{fma}
        out = db[j]
{store}
        for r in range({R}):
            z = out[r]
            # Only entries the product makes nonzero get the epilogue (as the
            # sparse reference does: exact zeros are absent entries).
            if z != 0:
                z = _ep(z, j{eargs})
                out[r] = z
            cnt[r] += z != 0
    for r in range({R}):
        counts[b, r] = cnt[r]
"""


def layer_kernel(epilogue, n_eargs: int, block_rows: int = CHAIN_BLOCK_ROWS):
    """The dense block layer kernel for ``epilogue`` and ``block_rows`` (cached per pair).

    The block's ``R`` running sums of an output column are written out as
    ``R`` scalars, so the SLP vectoriser keeps them in SIMD registers for the
    whole column (``R/8`` fused multiply-adds per weight on AVX2); a loop over
    ``R`` would load and store them around every weight, a chain through
    memory that ran ~1.9x slower.  Each sum still adds the column's weights
    in order, so results do not depend on ``R`` or on the vector width.
    """
    R = int(block_rows)
    eargs = "".join(f", e{i}" for i in range(n_eargs))
    source = _LAYER.format(
        eargs=eargs, R=R,
        zero="\n".join(f"        a{r} = zero" for r in range(R)),
        fma="\n".join(f"            a{r} += w * row[{r}]" for r in range(R)),
        store="\n".join(f"        out[{r}] = a{r}" for r in range(R)))
    return build_kernel(source, "dense_layer", {"_ep": epilogue}, fastmath={"contract"},
                        slp_vectorize=True)


_NONZERO_ONLY = """
def nonzero_epilogue(z, j{eargs}):
    if z != 0:
        return _ep(z, j{eargs})
    return z
"""


def nonzero_only(epilogue, n_eargs: int):
    """``epilogue`` applied to nonzero entries only, as the dense layer kernel applies it.

    The sparse path's SpGEMM calls its epilogue on every entry of the product's
    structure; wrapping it keeps both paths' results identical even for an
    epilogue that maps 0 to something else.
    """
    eargs = "".join(f", e{i}" for i in range(n_eargs))
    return build_kernel(_NONZERO_ONLY.format(eargs=eargs), "nonzero_epilogue", {"_ep": epilogue})


@kernel
def scatter_rows(b, row_map, entries, values, rows, dst):
    """Fill dense block ``b`` from CSR rows ``rows[b*R:(b+1)*R]`` (-1 pads)."""
    R = dst.shape[2]
    db = dst[b]
    for k in range(db.shape[0]):
        for r in range(R):
            db[k, r] = 0
    for r in range(R):
        g = b * R + r
        if g >= rows.shape[0]:
            break
        i = rows[g]
        for p in range(row_map[i], row_map[i + 1]):
            db[entries[p], r] += values[p]


@kernel
def repack(b, src, dst, old_pos):
    """Gather surviving rows into full blocks: new row ``b*R + r`` comes from ``old_pos``."""
    R = dst.shape[2]
    n = dst.shape[1]
    db = dst[b]
    for r in range(R):
        g = b * R + r
        if g < old_pos.shape[0]:
            q = old_pos[g]
            ob = q // R
            ol = q - ob * R
            sb = src[ob]
            for k in range(n):
                db[k, r] = sb[k, ol]
        else:
            for k in range(n):
                db[k, r] = 0


@kernel
def gather_csr(t, src, pos, row_map, entries, values):
    """Write live row ``t`` (at ``pos[t]`` in the blocks) as CSR row ``t``, columns sorted."""
    R = src.shape[2]
    q = pos[t]
    sb = src[q // R]
    lane = q - (q // R) * R
    out = row_map[t]
    for k in range(src.shape[1]):
        v = sb[k, lane]
        if v != 0:
            entries[out] = k
            values[out] = v
            out += 1
