"""kkpy.sparse: Kokkos Kernels' sparse module on kkpy.

Compressed row storage (:class:`CrsMatrix`), sparse matrix-matrix multiply
with symbolic/numeric phases and a fused epilogue (:func:`spgemm`), sparse
matrix-vector multiply (:func:`spmv`), sparse addition (:func:`spadd`) and
transpose.  Every kernel is written with kkpy's parallel patterns, so it
runs on any execution space; every entry point takes ``space=None``,
meaning the default space.  Anything that takes a :class:`CrsMatrix` also
takes a scipy.sparse matrix or array.

For scipy users, :func:`matmul` and :func:`matvec` are drop-ins: they
take a scipy.sparse matrix or array, a pydata/sparse array, a CrsMatrix
or a dense array, and give back what they were given, with scipy's dtype
rules; CrsMatrix itself works with scipy's operators and
``scipy.sparse.linalg``.  The rules of their results, the same for the
functions and the operators:

* **Kind.**  A sparse result takes the kind of the left sparse operand,
  as in scipy (``csr_matrix @ csr_array`` is a ``csr_matrix``): a
  CrsMatrix gives a CrsMatrix, a scipy matrix or array a CSR one of the
  same family (CSC for a CSC left operand), pydata the same pydata class.
  A product with a dense operand is dense (an ndarray; an ``np.matrix``
  for an ``np.matrix``).
* **Dtype.**  scipy's: ``np.result_type`` of the operands (int32 @ int32
  is int32, float32 @ int64 float64, bool @ bool bool), integers wrapping
  on overflow as scipy's do.  Kernels compute in float32, float64,
  complex64, complex128 or int64, into which every other dtype maps
  exactly.  A CrsMatrix stores integers as int64, so a CrsMatrix result
  holds int64 where scipy would hold a narrower integer.  ``longdouble``
  and ``clongdouble`` raise TypeError: nothing is rounded.
* **Explicit zeros.**  Products and sums store only nonzero entries, as
  scipy does: an entry whose value is exactly 0 (cancelled, or the
  product of a stored zero) is dropped.  Operations that map entries one
  to one (scalar ``*`` and ``/``, negation, transpose, conversions) keep
  the structure, stored zeros included, as scipy does.  (The Kokkos-style
  :func:`spgemm` and :func:`spadd` keep every computed entry unless told.)

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from kkpy import sparse
>>> A = sparse.CrsMatrix.from_coo([0, 1, 1], [1, 0, 1], [2.0, 3.0, 4.0], (2, 2))
>>> (A @ A).toarray()
array([[ 6.,  8.],
       [12., 22.]])
>>> y = np.zeros(2); sparse.spmv(1.0, A, np.ones(2), 0.0, y); y
array([2., 7.])
"""
from . import epilogues
from ._crs import CrsMatrix, as_crs
from ._accumulate import choose_accumulator, use_row_bitmaps
from ._spgemm import SpGEMMHandle, spgemm, spgemm_numeric, spgemm_symbolic
from ._spmv import spmv
from ._spadd import SpAddHandle, spadd, spadd_numeric, spadd_symbolic
from ._transpose import transpose
from . import _sort  # noqa: F401  (CrsMatrix.from_coo and sort_and_merge)
from ._chain import prepare_chain, spgemm_chain
from ._stream import ChainStream
from ._validate import unsafe_skip_validation
from ._warmup import warmup
from ._dropin import matmul, matvec
from ._row_sums import row_sums
from .host._pool import release_memory

__all__ = [
    "CrsMatrix", "as_crs", "transpose",
    "SpGEMMHandle", "spgemm_symbolic", "spgemm_numeric", "spgemm", "choose_accumulator",
    "use_row_bitmaps",
    "spmv", "SpAddHandle", "spadd_symbolic", "spadd_numeric", "spadd", "epilogues", "io",
    "spgemm_chain", "prepare_chain", "ChainStream", "DeviceCrs", "unsafe_skip_validation", "warmup",
    "matmul", "matvec", "row_sums", "release_memory",
]


def __getattr__(name):
    # IO is imported on first use: most users of the kernels never read files.
    if name == "io":
        import importlib

        return importlib.import_module(".io", __name__)
    if name == "DeviceCrs":  # what the Cuda space returns; host-only programs never need it
        from .cuda import DeviceCrs

        return DeviceCrs
    raise AttributeError(f"module 'kkpy.sparse' has no attribute {name!r}")


def __dir__():
    # dir() and tab completion list io and DeviceCrs before their first use.
    return sorted(set(globals()) | set(__all__))
