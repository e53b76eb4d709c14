"""Drop-in products for scipy.sparse users: take what they hold, give back the same kind.

Operands may be a :class:`~kkpy.sparse.CrsMatrix`, any scipy.sparse matrix
or array, a pydata/sparse ``COO`` or ``GCXS`` (2-D), or a dense ndarray
(1-D or 2-D; ``np.matrix`` too).  The rules of the results (kind, dtype,
explicit zeros) are written once, in :mod:`kkpy.sparse`'s docstring, and
hold for these functions and for CrsMatrix's operators alike.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _dispatch
from ._crs import CrsMatrix, implements
from ._dtypes import compute_dtype, from_compute, to_compute, upcast

__all__ = ["matmul", "matvec"]


def _is_pydata(x):
    return type(x).__module__.split(".")[0] == "sparse" and hasattr(x, "to_scipy_sparse")


@implements("kind")
def _kind(x):
    """``"crs"``, ``"scipy"``, ``"pydata"`` or ``"dense"``: what ``x`` is to these functions."""
    if isinstance(x, CrsMatrix):
        return "crs"
    import scipy.sparse as sp

    if sp.issparse(x):
        return "scipy"
    return "pydata" if _is_pydata(x) else "dense"


def _sparse_shape(what, x):
    if len(x.shape) != 2:
        raise ValueError(f"{what}: sparse operands must be 2-D, got shape {x.shape}")
    return x


def _as_crs(x, kind, dtype):
    """Sparse operand ``x`` as a CrsMatrix with values of compute dtype ``dtype``."""
    if kind == "crs":
        return x if x.dtype == dtype else x.astype(dtype)
    if kind == "pydata":
        x = x.to_scipy_sparse()
    csr = x.tocsr()
    nnz = int(csr.indptr[-1])
    return CrsMatrix(to_compute(csr.data[:nnz], dtype), csr.indices[:nnz], csr.indptr,
                     csr.shape[1], check=False)


def _dense(what, x):
    a = np.asarray(x)
    if a.dtype == object:
        raise TypeError(f"{what}: cannot use an operand of type {type(x).__name__}")
    if a.ndim == 0:
        raise ValueError(f"{what}: scalar operands are not allowed, use '*' instead")
    if a.ndim > 2:
        raise ValueError(f"{what}: dense operands must be 1-D or 2-D, got shape {a.shape}")
    return a


def _drop_zeros(values, entries, row_map):
    """The CRS arrays without the entries whose value is 0 (the arrays themselves if none)."""
    keep = values != 0
    if keep.all():
        return values, entries, row_map
    rows = np.repeat(np.arange(row_map.shape[0] - 1), np.diff(row_map))
    new_map = np.zeros_like(row_map)
    np.cumsum(np.bincount(rows[keep], minlength=row_map.shape[0] - 1), out=new_map[1:])
    return values[keep], entries[keep], new_map


def _sparse_out(C, dtype, template, kind, drop_zeros):
    """Result ``C`` (compute dtype) as ``dtype`` and as the kind of ``template``."""
    values = from_compute(np.asarray(C.values), dtype)
    entries, row_map = np.asarray(C.entries), np.asarray(C.row_map)
    if drop_zeros:
        values, entries, row_map = _drop_zeros(values, entries, row_map)
    if kind == "crs":
        return CrsMatrix(values, entries, row_map, C.ncols, label="C", check=False)
    import scipy.sparse as sp

    spmatrix = kind == "scipy" and isinstance(template, sp.spmatrix)
    cls = sp.csr_matrix if spmatrix else sp.csr_array
    out = cls((values, entries, row_map), shape=C.shape, copy=False)
    if kind == "pydata":
        return type(template).from_scipy_sparse(out)
    return out.tocsc() if template.format == "csc" else out


def _host(what, space):
    if _dispatch.on_gpu(space):
        raise ValueError(f"{what} runs on a host space; on a Cuda space call spgemm/spmv")


@implements("matmul")
def matmul(a, b, *, space=None):
    """``a @ b`` for scipy users: the kind of matrix they hold in, the same kind out.

    Sparse times sparse is :func:`~kkpy.sparse.spgemm`, sparse times dense
    :func:`~kkpy.sparse.spmv`, dense times sparse :func:`~kkpy.sparse.spmv`
    with mode ``"T"``.  See :mod:`kkpy.sparse` for the rules on the kind,
    dtype and explicit zeros of the result (those of scipy).

    Parameters
    ----------
    a, b : CrsMatrix, scipy.sparse matrix or array, pydata/sparse array, or array_like
        At least one sparse (2-D); a dense operand is 1-D or 2-D.
    space : ExecutionSpace, optional
        A host execution space (default: the default space).

    Returns
    -------
    CrsMatrix, scipy.sparse matrix or array, pydata/sparse array, or ndarray
        Sparse with the kind of the left sparse operand; dense if an
        operand is dense.

    Raises
    ------
    ValueError
        If the shapes do not match, or an operand is a scalar.
    TypeError
        If neither operand is sparse, or a dtype is not supported.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import matmul
    >>> A = sp.csr_matrix(np.array([[1, 2], [0, 3]], dtype=np.int32))
    >>> C = matmul(A, A)
    >>> type(C).__name__, C.dtype, C.toarray().tolist()
    ('csr_matrix', dtype('int32'), [[1, 8], [0, 9]])
    >>> matmul(A, np.ones(2))
    array([3., 3.])
    >>> matmul(np.ones(2), sp.csr_array(A))
    array([1., 5.])
    """
    ka, kb = _kind(a), _kind(b)
    if ka == "dense" and kb == "dense":
        raise TypeError("matmul: a or b must be sparse (for two dense arrays use numpy's @)")
    _host("matmul", space)
    matrix = isinstance(a if ka == "dense" else b, np.matrix)
    a = _sparse_shape("matmul", a) if ka != "dense" else _dense("matmul", a)
    b = _sparse_shape("matmul", b) if kb != "dense" else _dense("matmul", b)
    if a.shape[-1] != b.shape[0]:
        raise ValueError(f"matmul: a has shape {a.shape} and b {b.shape}: a's columns must "
                         "match b's rows")
    dtype = upcast(a.dtype, b.dtype, what="matmul")
    cdtype = compute_dtype(dtype)
    if ka != "dense" and kb != "dense":
        from ._spgemm import spgemm

        C = spgemm(_as_crs(a, ka, cdtype), _as_crs(b, kb, cdtype), drop_zeros=True, space=space)
        # Values that wrap to 0 in a narrower integer are zeros of the result too.
        narrow = cdtype.kind == "i" and dtype.kind in "iu" and dtype.itemsize < 8
        return _sparse_out(C, dtype, a, ka, narrow)
    if kb == "dense":
        y = _apply(_as_crs(a, ka, cdtype), b, cdtype, "N", space)
    else:  # x @ B = (B^T x^T)^T
        y = _apply(_as_crs(b, kb, cdtype), a.T, cdtype, "T", space).T
    y = from_compute(y, dtype)
    return np.asmatrix(y) if matrix else y


def _apply(A, x, cdtype, mode, space):
    """``op(A) @ x`` for dense ``x`` (1-D or 2-D), in ``cdtype``."""
    from ._spmv import spmv

    x = np.ascontiguousarray(to_compute(np.asarray(x), cdtype))
    y = np.empty(((A.nrows if mode == "N" else A.ncols),) + x.shape[1:], cdtype)
    spmv(1, A, x, 0, y, mode=mode, space=space)
    return y


def matvec(a, x, *, space=None):
    """``a @ x`` for a sparse ``a`` and a dense vector or block of vectors ``x``.

    :func:`matmul` restricted to a sparse left operand and a dense right
    one: one :func:`~kkpy.sparse.spmv`, with scipy's dtype rules.

    Parameters
    ----------
    a : CrsMatrix, scipy.sparse matrix or array, or pydata/sparse array
    x : array_like
        Length ``a.shape[1]``, or 2-D with that many rows.
    space : ExecutionSpace, optional
        A host execution space (default: the default space).

    Returns
    -------
    ndarray
        ``a.shape[0]`` rows, as many columns as ``x``; an ``np.matrix`` for
        an ``np.matrix`` ``x``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import matvec
    >>> A = sp.csr_array(np.array([[1.0, 2.0], [0.0, 3.0]], dtype=np.float32))
    >>> matvec(A, np.array([1.0, 1.0], dtype=np.float32))
    array([3., 3.], dtype=float32)
    >>> matvec(A, np.eye(2))
    array([[1., 2.],
           [0., 3.]])
    """
    if _kind(a) == "dense":
        raise TypeError(f"matvec: a must be sparse, got {type(a).__name__}")
    if _kind(x) != "dense":
        raise TypeError(f"matvec: x must be dense, got {type(x).__name__} (use matmul)")
    return matmul(a, x, space=space)


# -- what CrsMatrix's operators and LinearOperator methods call ----------------

@implements("add")
def add(a, b, sign):
    """``a + sign * b`` for sparse ``a`` and ``b`` (NotImplemented for anything else)."""
    ka, kb = _kind(a), _kind(b)
    if ka == "dense" or kb == "dense":
        return NotImplemented
    if a.shape != b.shape:
        raise ValueError(f"inconsistent shapes: {a.shape} and {b.shape}")
    from ._spadd import spadd

    dtype = upcast(a.dtype, b.dtype, what="+" if sign > 0 else "-")
    cdtype = compute_dtype(dtype)
    C = spadd(1, _as_crs(a, ka, cdtype), sign, _as_crs(b, kb, cdtype))
    return _sparse_out(C, dtype, a, ka, True)


@implements("is_scalar")
def is_scalar(s):
    """Whether ``s`` is a number (Python's or numpy's), as scipy's ``isscalarlike``."""
    return isinstance(s, (numbers.Number, np.number, np.bool_)) or (
        isinstance(s, np.ndarray) and s.ndim == 0)


@implements("map_values")
def map_values(A, values):
    """``A``'s structure with new ``values`` (one per entry): a new CrsMatrix."""
    return CrsMatrix(values, A.entries, A.row_map, A.ncols, label=A.label, check=False)


@implements("adjoint_apply")
def adjoint_apply(A, x):
    """``A^H @ x`` for dense ``x``: ``conj(conj(x)^T @ A)^T``."""
    x = np.asarray(x)
    y = matmul(np.conj(x).T, A).T
    return np.conj(y) if y.dtype.kind == "c" else y
