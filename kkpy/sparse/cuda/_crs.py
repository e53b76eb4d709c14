"""``DeviceCrs``: a CRS matrix in GPU memory, what kkpy.sparse returns on the Cuda space."""
from __future__ import annotations

import numpy as np

import kkpy
from .._crs import CrsMatrix, as_crs, crs_arrays

__all__ = ["DeviceCrs"]


class DeviceCrs:
    """A CRS matrix whose three arrays live in GPU memory (CudaSpace Views).

    What :mod:`kkpy.sparse`'s functions return on the Cuda space: results
    stay on the GPU, for the next GPU operation, until :meth:`to_host`
    copies them back.  :meth:`from_host` uploads a matrix once, to pass it
    to several GPU operations without copying it again each time.

    Parameters
    ----------
    row_map, entries, values : CudaSpace View
        The CRS arrays (kept as the attributes of the same names).
    shape : tuple of int
        ``(nrows, ncols)``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_array(np.eye(2))
    >>> D = DeviceCrs.from_host(A)              # doctest: +SKIP
    >>> D.shape, D.to_host().toarray()          # doctest: +SKIP
    ((2, 2), array([[1., 0.], [0., 1.]]))
    """

    def __init__(self, row_map, entries, values, shape):
        self._arrays = (row_map, entries, values)
        self._deferred = None
        self.shape = (int(shape[0]), int(shape[1]))

    @classmethod
    def _later(cls, shape, dtype, build, row_sums):
        """A result whose arrays are made on first use, by ``build()``.

        ``row_sums(space)`` gives its row sums without making them (what
        the Graph Challenge's categories need from the chain's last
        product).  Whoever owns the buffers ``build`` reads must call
        :meth:`_settle` before reusing them.
        """
        self = cls.__new__(cls)
        self._arrays, self._deferred = None, (build, row_sums)
        self.shape, self._dtype = (int(shape[0]), int(shape[1])), np.dtype(dtype)
        return self

    def _settle(self):
        """The three arrays, made now if they were deferred."""
        if self._arrays is None:
            arrays = self._deferred[0]()
            self._arrays, self._deferred = arrays, None
        return self._arrays

    @property
    def row_map(self):
        """Row offsets (CudaSpace View of int64, ``nrows + 1``)."""
        return self._settle()[0]

    @property
    def entries(self):
        """Column indices (CudaSpace View of int64)."""
        return self._settle()[1]

    @property
    def values(self):
        """Values (CudaSpace View)."""
        return self._settle()[2]

    def row_sums(self, space=None):
        """The sum of each row, in float64, as a CudaSpace View (on the GPU).

        Each row's entries are added in increasing column order.

        Parameters
        ----------
        space : kkpy.Cuda, optional
            Where to add them (default ``kkpy.Cuda()``).
        """
        if space is None or space.memory_space != kkpy.CudaSpace:
            space = kkpy.Cuda()
        deferred = self._deferred
        if deferred is not None:
            return deferred[1](space)
        from .._row_sums import _sums

        return _sums(space, self.row_map, self.values, self.nrows, kkpy.CudaSpace)

    @property
    def nrows(self):
        """Number of rows."""
        return self.shape[0]

    @property
    def ncols(self):
        """Number of columns."""
        return self.shape[1]

    @property
    def nnz(self):
        """Number of stored entries."""
        return self.entries.shape[0]

    @property
    def dtype(self):
        """The values' dtype."""
        return self._dtype if self._arrays is None else self._arrays[2].dtype

    @classmethod
    def from_host(cls, A):
        """Upload a CrsMatrix or scipy.sparse matrix."""

        if isinstance(A, cls):
            return A
        A = as_crs(A)
        rm, ent, val = crs_arrays(A)
        up = [kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, a.astype(t, copy=False))
              for a, t in ((rm, np.int64), (ent, np.int64), (val, val.dtype))]
        return cls(*up, A.shape)

    def to_host(self):
        """A host CrsMatrix with the same entries."""

        rm, ent, val = (_to_host(a) for a in (self.row_map, self.entries, self.values))
        return CrsMatrix(val, ent, rm, self.ncols)

    def structure_to_host(self):
        """``(row_map, entries)`` copied to host memory, without the values."""
        return _to_host(self.row_map), _to_host(self.entries)

    def __repr__(self):
        return f"DeviceCrs(shape={self.shape}, nnz={self.nnz}, dtype={self.dtype})"


def _to_host(a):
    return np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, a))
