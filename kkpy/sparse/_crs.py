"""``CrsMatrix``: compressed row storage backed by Views (``KokkosSparse::CrsMatrix``)."""
from __future__ import annotations

import numbers

import numpy as np

from ..core._views import View
from . import _validate

__all__ = ["CrsMatrix", "as_crs", "crs_arrays"]

_VALUE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def value_dtype(dtype):
    """The value dtype kkpy stores for ``dtype``: float32 or float64 (integers become float64)."""
    dtype = np.dtype(dtype)
    if dtype in _VALUE_DTYPES:
        return dtype
    if dtype.kind in "biuf":
        return np.dtype(np.float64)
    raise TypeError(f"CrsMatrix values must be real numbers, got dtype {dtype}")


def _index_array(a, name):
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"CrsMatrix {name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "iu" and not (a.size == 0 and a.dtype.kind == "f"):
        raise TypeError(f"CrsMatrix {name} must hold integers, got dtype {a.dtype}")
    return a


def _ncols(ncols):
    if not isinstance(ncols, numbers.Integral) or ncols < 0:
        raise ValueError(f"CrsMatrix ncols must be a non-negative integer, got {ncols!r}")
    return int(ncols)


class CrsMatrix:
    """A sparse matrix in compressed row storage (``KokkosSparse::CrsMatrix``).

    Row ``i`` holds the entries ``row_map[i]`` to ``row_map[i + 1] - 1``:
    column ``entries[p]`` with value ``values[p]``.  The three arrays are
    :class:`kkpy.View` s; construction does not copy arrays that already have
    supported dtypes (float32/float64 values, int32/int64 indices; both index
    arrays get the wider of their two dtypes).

    Two call forms::

        CrsMatrix(values, entries, row_map, ncols)
        CrsMatrix(label, nrows, ncols, nnz, values, row_map, entries)   # Kokkos order

    Parameters
    ----------
    values : array_like of float
    entries : array_like of int
        Column of each entry.  Columns within a row need not be sorted nor
        distinct (see :meth:`sort_and_merge`).
    row_map : array_like of int
        ``nrows + 1`` offsets, starting at 0 and ending at ``nnz``.
    ncols : int
    label : str, optional
        Name used in the Views' labels and in ``repr``.
    copy : bool, default False
        Copy the arrays even when they could be shared.
    check : bool, default True
        Check the structure (offsets non-decreasing, columns in range) in
        one parallel pass over the index arrays.  ``False`` is UNSAFE: the
        matrix is then trusted as valid by every kernel, and a bad index
        may crash the process.

    Notes
    -----
    ``row_map`` and ``entries`` refuse item assignment and in-place
    operations (build a new matrix to change the structure); ``values``
    may be changed freely.  A matrix that owns its index arrays is checked
    once; one that shares writable arrays with the caller is checked again
    at every use (see "Validation" in the sparse guide).

    Examples
    --------
    >>> import numpy as np
    >>> from kkpy.sparse import CrsMatrix
    >>> A = CrsMatrix(np.array([1.0, 2.0, 3.0]), np.array([0, 2, 1]), np.array([0, 2, 2, 3]), 3)
    >>> A
    CrsMatrix('A', shape=(3, 3), nnz=3, dtype=float64, index_dtype=int64)
    >>> A.toarray()
    array([[1., 0., 2.],
           [0., 0., 0.],
           [0., 3., 0.]])
    >>> CrsMatrix("B", 1, 2, 1, [5.0], [0, 1], [1]).toarray()
    array([[0., 5.]])
    """

    def __init__(self, *args, label=None, copy=False, check=True):
        if args and isinstance(args[0], str):
            if len(args) != 7:
                raise TypeError("CrsMatrix(label, nrows, ncols, nnz, values, row_map, entries) "
                                f"takes 7 arguments, got {len(args)}")
            label, nrows, ncols, nnz, values, row_map, entries = args
        elif len(args) == 4:
            values, entries, row_map, ncols = args
            nrows = nnz = None
        else:
            raise TypeError("CrsMatrix(values, entries, row_map, ncols) takes 4 arguments, "
                            f"got {len(args)}")
        self.label = label or "A"
        self._ncols = _ncols(ncols)
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"CrsMatrix values must be 1-D, got shape {values.shape}")
        values = values.astype(value_dtype(values.dtype), copy=copy)
        given = entries, row_map
        entries = _index_array(entries, "entries")
        row_map = _index_array(row_map, "row_map")
        index = np.dtype(np.int32) if (entries.dtype == np.int32 and row_map.dtype == np.int32) \
            else np.dtype(np.int64)
        owned = [_validate.owned(a.astype(index, copy=copy), a, g)
                 for a, g in zip((entries, row_map), given)]
        (entries, own_ent), (row_map, own_rm) = owned
        checked = check and not _validate.skipping()
        if checked:
            if nnz is not None and nnz != entries.size:
                raise ValueError(f"CrsMatrix: nnz={nnz} but there are {entries.size} entries")
            _validate.structure("CrsMatrix", self.label, row_map, entries, values, self._ncols,
                                nrows)
        self.values = View.from_array(f"{self.label}.values", values)
        self.entries = _validate.IndexView.from_array(f"{self.label}.entries", entries)
        self.row_map = _validate.IndexView.from_array(f"{self.label}.row_map", row_map)
        self.entries.owned, self.row_map.owned = own_ent, own_rm
        # check=False promises a valid structure; a checked one stays valid if nobody else
        # can write its index arrays.
        self._trusted = not check or (checked and own_ent and own_rm)

    def __setattr__(self, name, value):
        if name in ("row_map", "entries", "values"):
            object.__setattr__(self, "_trusted", False)  # a new array: check it at next use
        object.__setattr__(self, name, value)

    # -- shape and types ------------------------------------------------------

    @property
    def nrows(self) -> int:
        """Number of rows."""
        return self.row_map.shape[0] - 1

    @property
    def ncols(self) -> int:
        """Number of columns."""
        return self._ncols

    @property
    def shape(self) -> tuple:
        """``(nrows, ncols)``."""
        return (self.nrows, self._ncols)

    @property
    def nnz(self) -> int:
        """Number of stored entries (explicit zeros and duplicates included)."""
        return self.entries.shape[0]

    @property
    def dtype(self):
        """Dtype of the values (float32 or float64)."""
        return self.values.dtype

    @property
    def index_dtype(self):
        """Dtype of ``row_map`` and ``entries`` (int32 or int64)."""
        return self.entries.dtype

    def numRows(self) -> int:  # noqa: N802  (Kokkos spelling)
        """Number of rows (Kokkos spelling of :attr:`nrows`)."""
        return self.nrows

    def numCols(self) -> int:  # noqa: N802
        """Number of columns (Kokkos spelling of :attr:`ncols`)."""
        return self._ncols

    def __repr__(self):
        return (f"CrsMatrix({self.label!r}, shape={self.shape}, nnz={self.nnz}, "
                f"dtype={self.dtype}, index_dtype={self.index_dtype})")

    # -- conversions ----------------------------------------------------------

    @classmethod
    def from_scipy(cls, matrix, label=None):
        """Wrap a ``scipy.sparse`` matrix or array, sharing its arrays when it is CSR.

        Other formats are converted to CSR first; values other than
        float32/float64 are converted to float64.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> S = sp.csr_array(np.array([[0.0, 1.5], [2.0, 0.0]]))
        >>> A = CrsMatrix.from_scipy(S)
        >>> A.shape, np.shares_memory(A.values, S.data)
        ((2, 2), True)
        """
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"expected a scipy.sparse matrix, got {type(matrix).__name__}")
        csr = matrix.tocsr()
        nnz = int(csr.indptr[-1]) if csr.indptr.ndim == 1 and csr.indptr.size else 0
        # scipy may keep spare capacity past indptr[-1]; slicing shares memory.
        # Checked now, and again at each use: the scipy matrix's owner can change its arrays.
        return cls(csr.data[:nnz], csr.indices[:nnz], csr.indptr, csr.shape[1], label=label)

    def to_scipy(self):
        """A ``scipy.sparse.csr_array`` sharing this matrix's arrays.

        Examples
        --------
        >>> import numpy as np
        >>> A = CrsMatrix([1.0, 2.0], [1, 0], [0, 1, 2], 2)
        >>> S = A.to_scipy()
        >>> S.toarray(), np.shares_memory(S.data, A.values)
        (array([[0., 1.],
               [2., 0.]]), True)
        """
        import scipy.sparse as sp

        return sp.csr_array((np.asarray(self.values), np.asarray(self.entries),
                             np.asarray(self.row_map)), shape=self.shape, copy=False)

    def toarray(self):
        """The matrix as a dense ndarray (duplicates summed)."""
        return self.to_scipy().toarray()

    @classmethod
    def from_coo(cls, rows, cols, vals, shape, space=None, index_dtype=None, label=None):
        """Build a matrix from coordinate triples, summing duplicates and sorting rows.

        Parameters
        ----------
        rows, cols : array_like of int
            0-based row and column of each entry.
        vals : array_like of float
        shape : (int, int)
        space : ExecutionSpace, optional
            Where the kernels run (default: the default execution space).
        index_dtype : dtype, optional
            int32 or int64; by default int32 when it can hold the shape and
            the number of entries.

        Returns
        -------
        CrsMatrix
            Columns sorted within each row; entries with the same row and
            column are summed in input order (explicit zeros are kept).

        Examples
        --------
        >>> A = CrsMatrix.from_coo([1, 0, 1], [2, 1, 2], [1.0, 5.0, 0.5], (2, 3))
        >>> A.toarray()
        array([[0. , 5. , 0. ],
               [0. , 0. , 1.5]])
        """
        from ._sort import from_coo

        return from_coo(rows, cols, vals, shape, space=space, index_dtype=index_dtype,
                        label=label)

    def sort_and_merge(self, space=None):
        """A copy with every row sorted by column and duplicate entries summed.

        Examples
        --------
        >>> A = CrsMatrix([1.0, 2.0, 4.0], [2, 0, 2], [0, 3], 3)
        >>> B = A.sort_and_merge()
        >>> B.entries.tolist(), B.values.tolist()
        ([0, 2], [2.0, 5.0])
        """
        from ._sort import sort_and_merge

        return sort_and_merge(self, space=space)

    def transpose(self, space=None):
        """The transpose, with sorted rows (see :func:`kkpy.sparse.transpose`).

        Examples
        --------
        >>> A = CrsMatrix([1.0, 2.0], [2, 0], [0, 1, 2], 3)
        >>> A.transpose().toarray()
        array([[0., 2.],
               [0., 0.],
               [1., 0.]])
        """
        from ._transpose import transpose

        return transpose(self, space=space)

    @property
    def T(self):  # noqa: N802  (numpy spelling)
        """The transpose (as :meth:`transpose` on the default space)."""
        return self.transpose()

    def copy(self):
        """A deep copy."""
        return CrsMatrix(self.values, self.entries, self.row_map, self._ncols, label=self.label,
                         copy=True, check=not self._trusted)

    def astype(self, dtype):
        """This matrix with values of ``dtype`` (the structure is shared, not copied)."""
        dtype = value_dtype(dtype)
        if dtype == self.dtype:
            return self
        return CrsMatrix(np.asarray(self.values).astype(dtype), self.entries, self.row_map,
                         self._ncols, label=self.label, check=not self._trusted)

    def __matmul__(self, other):
        """``A @ B`` is :func:`~kkpy.sparse.spgemm`, ``A @ x`` :func:`~kkpy.sparse.spmv`."""
        import scipy.sparse as sp

        if isinstance(other, CrsMatrix) or sp.issparse(other):
            from ._spgemm import spgemm

            return spgemm(self, other)
        x = np.asarray(other)
        if x.ndim not in (1, 2):
            return NotImplemented
        from ._spmv import spmv

        dtype = np.result_type(self.dtype, x.dtype)
        y = np.zeros((self.nrows,) + x.shape[1:], dtype=dtype)
        spmv(1, self, x, 0, y)
        return y


def as_crs(x):
    """``x`` as a :class:`CrsMatrix`: itself, or a scipy.sparse matrix wrapped (no copy for CSR).

    Everything in :mod:`kkpy.sparse` that takes a CrsMatrix also takes any
    scipy.sparse matrix or array through this function.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from kkpy.sparse import as_crs
    >>> as_crs(sp.eye(3, format="coo"))
    CrsMatrix('A', shape=(3, 3), nnz=3, dtype=float64, index_dtype=int32)
    """
    if isinstance(x, CrsMatrix):
        return x
    import scipy.sparse as sp

    if sp.issparse(x):
        return CrsMatrix.from_scipy(x)
    raise TypeError(f"expected a CrsMatrix or a scipy.sparse matrix, got {type(x).__name__}")


def crs_arrays(M):
    """``(row_map, entries, values)`` of a CrsMatrix as plain ndarrays, ready for kernels."""
    return np.asarray(M.row_map), np.asarray(M.entries), np.asarray(M.values)
