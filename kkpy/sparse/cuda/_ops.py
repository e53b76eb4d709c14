"""kkpy.sparse on the Cuda space: SpMV, SpGEMM (symbolic and numeric) and SpAdd.

Everything here is kkpy kernels (portable: written in kkpy's model, with no
numba-cuda of their own) launched with kkpy's patterns on ``kkpy.Cuda()``; SpMV runs
the portable thread-per-row kernels of :mod:`kkpy.sparse.impl._spmv_kernels`
(the host shares its scaling and transpose kernels).  The host SpGEMM's accumulators
work on per-thread chunks of rows; a GPU wants one thread per row and no
per-thread scratch, so the products here accumulate in a hash table per row
in global memory, sized from the row's number of products:

* symbolic: products per row, table sizes (a scan), then each row inserts
  its columns (linear probing) and counts them; a scan of the counts is
  ``C``'s row map; :func:`spgemm_structure` copies each row's columns out
  of its table and sorts them (the public symbolic phase's result);
* numeric: each row adds its products into its table, copies the entries
  out and sorts them by column.

Each row's table belongs to one thread, so no atomics are needed, and
products are added in the same order as on the host (by ``A``'s entries,
then ``B``'s).  SpAdd ``alpha*A + beta*B`` is the product
``[A B] @ [alpha*I; beta*I]``: the same two phases, with ``A``'s entries
added before ``B``'s in every row.
"""
from __future__ import annotations

import numpy as np

import kkpy
from kkpy.core import kernel

from ..impl import _spmv_kernels as _spmv
from ..impl._common import value_at
from ..impl._flops import row_flops
from ._crs import DeviceCrs

__all__ = ["spmv", "spgemm_symbolic", "spgemm_structure", "spgemm_numeric",
           "spgemm", "spadd", "spadd_operands"]

_EMPTY = -1
_HASH = 2654435761  # Knuth's multiplicative constant: spreads neighbouring columns


# -- kernels ----------------------------------------------------------------------------

@kernel
def table_size(i, flops):
    """A power of two at least twice row ``i``'s products (0 for none): probes stay short."""
    n = flops[i]
    if n == 0:
        return n
    size = n - n + 2
    while size < 2 * n:
        size *= 2
    return size


@kernel
def insert_row(i, a_rm, a_ent, b_rm, b_ent, toff, keys, counts):
    """Put row ``i``'s columns in its table; count the distinct ones."""
    lo = toff[i]
    mask = toff[i + 1] - lo - 1
    n = 0
    for p in range(a_rm[i], a_rm[i + 1]):
        k = a_ent[p]
        for q in range(b_rm[k], b_rm[k + 1]):
            c = b_ent[q]
            h = (c * _HASH) & mask
            while keys[lo + h] != c and keys[lo + h] != _EMPTY:
                h = (h + 1) & mask
            if keys[lo + h] == _EMPTY:
                keys[lo + h] = c
                n += 1
    counts[i] = n


@kernel
def accumulate_row(i, with_values, a_rm, a_ent, a_val, b_rm, b_ent, b_val, toff, keys, acc,
                   c_rm, c_ent, c_val):
    """Row ``i`` of ``C``: add its products in its table, copy them out, sort by column.

    Without ``with_values`` only the columns are copied out (values 0, ``acc``
    untouched): the symbolic phase's sorted structure.
    """
    lo = toff[i]
    hi = toff[i + 1]
    mask = hi - lo - 1
    if with_values:
        for s in range(lo, hi):
            acc[s] = 0
        for p in range(a_rm[i], a_rm[i + 1]):
            k = a_ent[p]
            for q in range(b_rm[k], b_rm[k + 1]):
                c = b_ent[q]
                h = (c * _HASH) & mask
                while keys[lo + h] != c:
                    h = (h + 1) & mask
                acc[lo + h] += a_val[p] * b_val[q]
    first = c_rm[i]
    w = first
    for s in range(lo, hi):
        if keys[s] != _EMPTY:
            c_ent[w] = keys[s]
            if with_values:
                c_val[w] = acc[s]
            else:
                c_val[w] = 0
            w += 1
    for t in range(first + 1, w):                 # insertion sort: rows are short
        col = c_ent[t]
        val = c_val[t]
        u = t - 1
        while u >= first and c_ent[u] > col:
            c_ent[u + 1] = c_ent[u]
            c_val[u + 1] = c_val[u]
            u -= 1
        c_ent[u + 1] = col
        c_val[u + 1] = val


@kernel
def side_by_side(i, a_rm, a_ent, a_val, b_rm, b_ent, b_val, m, rm, ent, val):
    """Row ``i`` of ``[A B]``: ``A``'s entries, then ``B``'s shifted ``m`` columns right."""
    w = a_rm[i] + b_rm[i]
    for p in range(a_rm[i], a_rm[i + 1]):
        ent[w] = a_ent[p]
        val[w] = a_val[p]
        w += 1
    for p in range(b_rm[i], b_rm[i + 1]):
        ent[w] = b_ent[p] + m
        val[w] = b_val[p]
        w += 1
    rm[i + 1] = w


@kernel
def scaled_identities(i, m, alpha, beta, rm, ent, val):
    """Row ``i`` of ``[alpha*I; beta*I]`` (``2m x m``)."""
    rm[i + 1] = i + 1
    ent[i] = i % m
    val[i] = alpha if i < m else beta


def _empty(n, dtype):
    return kkpy.View("kkpy.sparse.cuda", n, dtype=dtype, space=kkpy.CudaSpace,
                     initialize=False)


def _policy(space, n):
    return kkpy.RangePolicy(space, 0, n)


def _offsets(space, kern, per_row, n):
    """Exclusive scan of ``kern(i, per_row)`` with the total at the end (a CRS row map)."""
    out = _empty(n + 1, np.int64)
    total = kkpy.parallel_scan("kkpy.sparse.cuda.offsets", _policy(space, n), kern, per_row,
                               out=out)
    return out, int(total)


# -- the operations ------------------------------------------------------------------------

class SpGEMMPlan:
    """What :func:`spgemm_symbolic` learns about ``A @ B`` for :func:`spgemm_numeric`."""

    def __init__(self, shape, toff, keys, row_map, nnz):
        self.shape, self.toff, self.keys, self.row_map, self.nnz = shape, toff, keys, row_map, nnz


def spgemm_symbolic(A, B, space=None):
    """The structure of ``C = A @ B`` on the GPU; returns a :class:`SpGEMMPlan`."""
    space = space or kkpy.Cuda()
    A, B = DeviceCrs.from_host(A), DeviceCrs.from_host(B)
    if A.ncols != B.nrows:
        raise ValueError(f"spgemm: A is {A.nrows} x {A.ncols} but B is {B.nrows} x {B.ncols}")
    n = A.nrows
    flops = _empty(n, np.int64)
    kkpy.parallel_for("kkpy.sparse.cuda.flops", _policy(space, n), row_flops, A.row_map,
                      A.entries, B.row_map, flops)
    toff, size = _offsets(space, table_size, flops, n)
    keys = _empty(max(size, 1), np.int64)
    kkpy.deep_copy(keys, _EMPTY)
    counts = _empty(n, np.int64)
    kkpy.parallel_for("kkpy.sparse.cuda.spgemm_symbolic", _policy(space, n), insert_row,
                      A.row_map, A.entries, B.row_map, B.entries, toff, keys, counts)
    row_map, nnz = _offsets(space, value_at, counts, n)
    return SpGEMMPlan((A.nrows, B.ncols), toff, keys, row_map, nnz)


def _fill(plan, A, B, with_values, out, space):
    """Write ``C``'s sorted rows into ``out`` (with values, or zeros); returns ``out``."""
    space = space or kkpy.Cuda()
    acc = _empty(plan.keys.shape[0] if with_values else 1, out.dtype)
    kkpy.parallel_for("kkpy.sparse.cuda.spgemm_numeric" if with_values else
                      "kkpy.sparse.cuda.spgemm_structure", _policy(space, A.nrows),
                      accumulate_row, with_values, A.row_map, A.entries, A.values, B.row_map,
                      B.entries, B.values, plan.toff, plan.keys, acc, plan.row_map, out.entries,
                      out.values)
    return out


def _result(plan, dtype):
    """An uninitialised :class:`DeviceCrs` with the plan's row map, for :func:`_fill`."""
    entries = _empty(max(plan.nnz, 1), np.int64)
    values = _empty(max(plan.nnz, 1), dtype)
    return DeviceCrs(plan.row_map, entries[0:plan.nnz], values[0:plan.nnz], plan.shape)


def spgemm_structure(plan, A, B, space=None):
    """``C``'s sorted structure, values 0: the symbolic phase's :class:`DeviceCrs`.

    :func:`spgemm_numeric` with ``out=`` this matrix fills its values.
    """
    A, B = DeviceCrs.from_host(A), DeviceCrs.from_host(B)
    return _fill(plan, A, B, False, _result(plan, np.result_type(A.dtype, B.dtype)), space)


def spgemm_numeric(plan, A, B, space=None, out=None):
    """The values of ``C = A @ B`` for a structure from :func:`spgemm_symbolic`.

    Written into ``out`` (from :func:`spgemm_structure`) if given, else into
    a new :class:`DeviceCrs`.
    """
    A, B = DeviceCrs.from_host(A), DeviceCrs.from_host(B)
    if out is None:
        out = _result(plan, np.result_type(A.dtype, B.dtype))
    return _fill(plan, A, B, True, out, space)


def spgemm(A, B, space=None):
    """``C = A @ B`` on the GPU, both phases; returns a :class:`DeviceCrs`."""
    A, B = DeviceCrs.from_host(A), DeviceCrs.from_host(B)
    return spgemm_numeric(spgemm_symbolic(A, B, space), A, B, space)


def spadd(alpha, A, beta, B, space=None):
    """``C = alpha*A + beta*B`` on the GPU; returns a :class:`DeviceCrs` (sorted rows)."""
    return spgemm(*spadd_operands(alpha, A, beta, B, space), space)


def spadd_operands(alpha, A, beta, B, space=None):
    """``[A B]`` and ``[alpha*I; beta*I]``, whose product is ``alpha*A + beta*B``.

    The product's structure does not depend on ``alpha`` and ``beta``: one
    :func:`spgemm_symbolic` serves every pair of them.
    """
    space = space or kkpy.Cuda()
    A, B = DeviceCrs.from_host(A), DeviceCrs.from_host(B)
    if A.shape != B.shape:
        raise ValueError(f"spadd: A is {A.nrows} x {A.ncols} but B is {B.nrows} x {B.ncols}")
    n, m = A.shape
    dtype = np.result_type(A.dtype, B.dtype)
    rm = _empty(n + 1, np.int64)
    kkpy.deep_copy(rm[0:1], 0)
    ent = _empty(max(A.nnz + B.nnz, 1), np.int64)
    val = _empty(max(A.nnz + B.nnz, 1), dtype)
    kkpy.parallel_for("kkpy.sparse.cuda.side_by_side", _policy(space, n), side_by_side,
                      A.row_map, A.entries, A.values, B.row_map, B.entries, B.values, m,
                      rm, ent, val)
    AB = DeviceCrs(rm, ent, val, (n, 2 * m))
    irm = _empty(2 * m + 1, np.int64)
    kkpy.deep_copy(irm[0:1], 0)
    ient, ival = _empty(max(2 * m, 1), np.int64), _empty(max(2 * m, 1), dtype)
    kkpy.parallel_for("kkpy.sparse.cuda.identities", _policy(space, 2 * m), scaled_identities,
                      m, dtype.type(alpha), dtype.type(beta), irm, ient, ival)
    return AB, DeviceCrs(irm, ient, ival, (2 * m, m))


def spmv(alpha, A, x, beta, y, mode="N", space=None):
    """``y = beta*y + alpha*op(A)*x`` with the host's own kernels, launched on the GPU.

    ``x`` and ``y`` are CudaSpace Views (or other device arrays); ``A`` a
    :class:`DeviceCrs` or a host matrix, uploaded first.
    """
    space = space or kkpy.Cuda()
    A = DeviceCrs.from_host(A)
    if mode not in ("N", "T"):
        raise ValueError(f"spmv: mode must be 'N' or 'T', got {mode!r}")
    dt = np.dtype(y.dtype).type
    arrays = (A.row_map, A.entries, A.values)
    if mode == "N":
        kern = _spmv.spmv_row if len(x.shape) == 1 else _spmv.spmv_row_mv
        kkpy.parallel_for("kkpy.sparse.spmv", _policy(space, A.nrows), kern, dt(alpha), *arrays,
                          x, dt(beta), y)
        return
    nout, nin = A.ncols, A.nrows
    width = y.shape[1] if len(y.shape) == 2 else 1
    y2 = _as_2d(y, nout, width)
    x2 = _as_2d(x, nin, width)
    kkpy.parallel_for("kkpy.sparse.spmv_scale", _policy(space, nout), _spmv.scale_row, dt(beta),
                      y2)
    kkpy.parallel_for("kkpy.sparse.spmv_transpose", _policy(space, nin),
                      _spmv.spmv_transpose_row, dt(alpha), *arrays, x2, y2)


def _as_2d(v, n, width):
    from kkpy.core.cuda import CudaView, as_device

    d = as_device(v)
    return CudaView("", d.reshape(n, width)) if len(d.shape) == 1 else v
