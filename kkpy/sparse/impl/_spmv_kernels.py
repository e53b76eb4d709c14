"""SpMV kernels any space runs: a thread per row.

``beta == 0`` overwrites ``y`` without reading it, so NaNs already in ``y``
do not leak into the result (the BLAS and Kokkos Kernels convention).  The
host runs row blocks instead (:mod:`kkpy.sparse.host._spmv_kernels`); it
shares :func:`scale_row` and :func:`spmv_transpose_row` with the Cuda space.
"""
from __future__ import annotations

from kkpy.core import atomic_add
from kkpy.core import kernel


@kernel
def spmv_row(i, alpha, row_map, entries, values, x, beta, y):
    """Row ``i`` of ``y = beta*y + alpha*A*x`` (the Cuda space's kernel: a thread per row)."""
    s = 0  # numba widens it to the products' type: int64 stays exact, complex stays complex
    for p in range(row_map[i], row_map[i + 1]):
        s += values[p] * x[entries[p]]
    if beta == 0:
        y[i] = alpha * s
    else:
        y[i] = beta * y[i] + alpha * s


@kernel
def spmv_row_mv(i, alpha, row_map, entries, values, x, beta, y):
    """:func:`spmv_row` for multivectors (one column per vector)."""
    for r in range(y.shape[1]):
        s = 0
        for p in range(row_map[i], row_map[i + 1]):
            s += values[p] * x[entries[p], r]
        if beta == 0:
            y[i, r] = alpha * s
        else:
            y[i, r] = beta * y[i, r] + alpha * s


@kernel
def scale_row(i, beta, y):
    """``y[i] = beta * y[i]``, or 0 when ``beta == 0`` (whatever ``y[i]`` held)."""
    for r in range(y.shape[1]):
        y[i, r] = 0 if beta == 0 else beta * y[i, r]


@kernel
def spmv_transpose_row(i, alpha, row_map, entries, values, x, y):
    """Row ``i`` of ``A`` scattered into ``y += alpha * A^T * x`` (atomic: rows share columns)."""
    for r in range(y.shape[1]):
        xi = alpha * x[i, r]
        if xi != 0:
            for p in range(row_map[i], row_map[i + 1]):
                atomic_add(y, (entries[p], r), values[p] * xi)
