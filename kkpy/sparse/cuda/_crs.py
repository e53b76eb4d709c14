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
        self.row_map, self.entries, self.values = row_map, entries, values
        self.shape = (int(shape[0]), int(shape[1]))

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
        return self.values.dtype

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
