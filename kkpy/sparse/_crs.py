"""``CrsMatrix``: compressed row storage backed by Views (``KokkosSparse::CrsMatrix``)."""
from __future__ import annotations

import numbers

import numpy as np

from ..core import View
from . import _validate
from ._dtypes import storage_dtype

__all__ = ["CrsMatrix", "as_crs", "crs_arrays"]

#: What CrsMatrix's methods and operators call, by name, registered with
#: :func:`implements` by the modules that hold them (``_sort``, ``_transpose``,
#: ``_dropin``).  Those modules import this one for the class; importing them
#: back from the methods made kkpy.sparse's modules one import cycle.  They
#: are registered before any CrsMatrix exists: importing this module runs
#: kkpy.sparse's ``__init__`` first, which imports them all.
_OPS = {}


def implements(*names):
    """Register the decorated function as what CrsMatrix's ``names`` call."""
    def register(f):
        for name in names:
            _OPS[name] = f
        return f
    return register


def _op(name):
    return _OPS[name]


def value_dtype(dtype):
    """The value dtype kkpy stores for ``dtype`` (see :func:`~kkpy.sparse._dtypes.storage_dtype`)."""
    return storage_dtype(dtype)


def _index_array(a, name):
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"CrsMatrix {name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "iu" and not (a.size == 0 and a.dtype.kind == "f"):
        raise TypeError(f"CrsMatrix {name} must hold integers, got dtype {a.dtype}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"CrsMatrix {name} holds {a.max()}, beyond the int64 index range")
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
    supported dtypes (float32, float64, complex64, complex128 or int64
    values, int32/int64 indices; both index arrays get the wider of their
    two dtypes).  Booleans and other integers are stored as int64 (uint64
    is refused), float16 as float64; extended precision is refused.

    It lives in scipy's world too: ``@`` with sparse and dense operands
    both ways, ``+``, ``-``, scalar ``*`` and ``/``, scipy's attributes
    (``indptr``, ``indices``, ``data`` read-only, ``format``, ``tocsr``)
    and the LinearOperator protocol, so ``scipy.sparse.linalg.cg(A, b)``
    takes it.  See :mod:`kkpy.sparse` for the rules of the results.

    Two call forms::

        CrsMatrix(values, entries, row_map, ncols)
        CrsMatrix(label, nrows, ncols, nnz, values, row_map, entries)   # Kokkos order

    Parameters
    ----------
    values : array_like of numbers
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
            self.__dict__.pop("_canonical_memo", None)
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
        """Dtype of the values (float32, float64, complex64, complex128 or int64)."""
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

        Other formats are converted to CSR first; values are stored as
        :class:`CrsMatrix` says (integers as int64).

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
        """This matrix as a ``scipy.sparse.csr_array``, sharing its arrays where that is safe.

        The values are shared.  The index arrays are shared, read-only,
        when every row is canonical (sorted, no repeated column), and scipy
        is told so.  Otherwise all three arrays are copied: scipy sums
        repeated entries in place (``abs(S)``, ``S.sum_duplicates()``...),
        which would change this matrix under it.  To change the scipy
        matrix's structure in place (``eliminate_zeros``, ``resize``), take
        ``.copy()`` first.

        Examples
        --------
        >>> import numpy as np
        >>> A = CrsMatrix([1.0, 2.0], [1, 0], [0, 1, 2], 2)
        >>> S = A.to_scipy()
        >>> S.toarray(), np.shares_memory(S.data, A.values), S.indices.flags.writeable
        (array([[0., 1.],
               [2., 0.]]), True, False)
        >>> CrsMatrix([1.0, 2.0], [0, 0], [0, 2, 2], 2).to_scipy().has_canonical_format
        False
        """
        import scipy.sparse as sp

        values = np.asarray(self.values)
        if self._canonical():
            S = sp.csr_array((values, _readonly(self.entries), _readonly(self.row_map)),
                             shape=self.shape, copy=False)
            S.has_canonical_format = True
            return S
        return sp.csr_array((values.copy(), np.array(self.entries), np.array(self.row_map)),
                            shape=self.shape, copy=False)

    def _canonical(self):
        """Whether every row's columns strictly increase.

        Remembered while nobody but this matrix can change its index arrays.
        """
        known = self.__dict__.get("_canonical_memo")
        if known is not None:
            return known
        entries, row_map = np.asarray(self.entries), np.asarray(self.row_map)
        n = entries.size
        rising = entries[1:] > entries[:-1]
        starts = row_map[1:-1]
        rising[starts[(starts > 0) & (starts < n)] - 1] = True  # a new row may start anywhere
        result = bool(rising.all())
        if self.entries.owned and self.row_map.owned:
            self.__dict__["_canonical_memo"] = result
        return result

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
        return _op("from_coo")(rows, cols, vals, shape, space=space, index_dtype=index_dtype,
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
        return _op("sort_and_merge")(self, space=space)

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
        return _op("transpose")(self, space=space)

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

    # -- scipy's world ---------------------------------------------------------
    # numpy defers every operator to ours (``ndarray @ A`` calls ``A.__rmatmul__``).
    __array_ufunc__ = None
    #: Always ``"csr"`` (scipy.sparse's attribute).
    format = "csr"
    #: Always 2.
    ndim = 2

    @property
    def indptr(self):
        """``row_map`` as scipy names it: a read-only ndarray view (no copy)."""
        return _readonly(self.row_map)

    @property
    def indices(self):
        """``entries`` as scipy names it: a read-only ndarray view (no copy)."""
        return _readonly(self.entries)

    @property
    def data(self):
        """``values`` as scipy names it: a read-only ndarray view (no copy)."""
        return _readonly(self.values)

    def tocsr(self):
        """This matrix in scipy's world: a ``scipy.sparse.csr_array`` sharing its arrays.

        As pydata/sparse's ``tocsr``, it leaves the library for scipy; it is
        :meth:`to_scipy`.

        Examples
        --------
        >>> A = CrsMatrix([1.0, 2.0], [1, 0], [0, 1, 2], 2)
        >>> type(A.tocsr()).__name__, A.tocsr().nnz
        ('csr_array', 2)
        """
        return self.to_scipy()

    def __matmul__(self, other):
        """``A @ B``: :func:`kkpy.sparse.matmul` (a CrsMatrix for a sparse ``B``, dense for dense)."""
        if not _operand(other):
            return NotImplemented
        return _op("matmul")(self, other)

    def __rmatmul__(self, other):
        """``B @ A`` for a scipy.sparse, pydata or dense ``B`` (whose kind the result takes)."""
        if not _operand(other):
            return NotImplemented
        return _op("matmul")(other, self)

    def __add__(self, other):
        """``A + B`` for a sparse ``B`` (:func:`kkpy.sparse.spadd`, zeros dropped as in scipy)."""
        return _op("add")(self, other, 1)

    def __radd__(self, other):
        return _op("add")(other, self, 1)

    def __sub__(self, other):
        """``A - B`` for a sparse ``B`` (as ``+``)."""
        return _op("add")(self, other, -1)

    def __rsub__(self, other):
        return _op("add")(other, self, -1)

    def __neg__(self):
        """``-A``: same structure, negated values."""
        return _op("map_values")(self, np.negative(np.asarray(self.values)))

    def __mul__(self, other):
        """``A * s`` for a scalar ``s``, with numpy's dtype rules; same structure."""
        if not _op("is_scalar")(other):
            return NotImplemented
        return _op("map_values")(self, np.asarray(self.values) * other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        """``A / s`` for a scalar ``s``: ``A * (1 / s)`` in float64 or complex, as scipy does it."""
        if not _op("is_scalar")(other):
            return NotImplemented
        values = np.asarray(self.values)
        if np.can_cast(values.dtype, np.float64):  # scipy: even float32 / float32 is float64
            values = values.astype(np.float64)
        return _op("map_values")(self, values * (1.0 / other))

    # -- the LinearOperator protocol (scipy.sparse.linalg.aslinearoperator) --------

    def matvec(self, x):
        """``A @ x`` for a dense vector (or block of vectors)."""
        return _op("matmul")(self, x)

    def matmat(self, X):
        """``A @ X`` for a dense 2-D ``X``."""
        return self.matvec(_two_d("matmat", X))

    def rmatvec(self, x):
        """``A^H @ x`` (the conjugate transpose) for a dense vector (or block of vectors)."""
        return _op("adjoint_apply")(self, x)

    def rmatmat(self, X):
        """``A^H @ X`` for a dense 2-D ``X``."""
        return self.rmatvec(_two_d("rmatmat", X))

    def dot(self, other):
        """``A * other`` for a scalar, else ``A @ other`` (scipy's ``dot``)."""
        return self * other if _op("is_scalar")(other) else self @ other

    def conj(self):
        """A copy with conjugated values (the values copied for real dtypes too)."""
        return _op("map_values")(self, np.conj(np.asarray(self.values)))

    @property
    def H(self):  # noqa: N802  (scipy spelling)
        """The conjugate transpose.

        Examples
        --------
        >>> A = CrsMatrix([1 + 2j], [1], [0, 1, 1], 2)
        >>> A.H.toarray()
        array([[0.+0.j, 0.+0.j],
               [1.-2.j, 0.+0.j]])
        """
        T = self.transpose()
        if T.dtype.kind == "c":
            np.conjugate(T.values, out=T.values)
        return T


def _two_d(what, X):
    if np.ndim(X) != 2:
        raise ValueError(f"{what}: X must be 2-D, got shape {np.shape(X)}")
    return X


def _readonly(view):
    a = np.asarray(view).view()  # a new ndarray object on the same memory
    a.flags.writeable = False
    return a


def _operand(x):
    """Whether ``@`` should try ``x``: sparse, or dense (an array, list or tuple)."""
    return _op("kind")(x) != "dense" or isinstance(x, (np.ndarray, list, tuple)) or \
        hasattr(x, "__array__")


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


def crs_arrays(M, out=False):
    """``(row_map, entries, values)`` of a CrsMatrix as plain ndarrays, ready for kernels.

    Read-only arrays come as writable aliases (see
    :func:`~kkpy.sparse._validate.kernel_array`): the kernels only read
    them.  ``out``: the kernel writes the values, which must then be
    writable (ValueError otherwise).
    """
    values = np.asarray(M.values)
    if out and not values.flags.writeable:
        raise ValueError(f"{M.label or 'the result'}'s values are read-only: the numeric "
                         "phase writes them in place (pass the matrix the symbolic phase "
                         "returned)")
    return (_validate.kernel_array(M.row_map), _validate.kernel_array(M.entries),
            values if out else _validate.kernel_array(values))


_validate.bind(CrsMatrix, as_crs)
