"""kkpy.sparse: Kokkos Kernels' sparse module on kkpy.

Compressed row storage (:class:`CrsMatrix`), sparse matrix-matrix multiply
with symbolic/numeric phases and a fused epilogue (:func:`spgemm`), sparse
matrix-vector multiply (:func:`spmv`), sparse addition (:func:`spadd`) and
transpose.  Every kernel is written with kkpy's parallel patterns, so it
runs on any execution space; every entry point takes ``space=None``,
meaning the default space.  Anything that takes a :class:`CrsMatrix` also
takes a scipy.sparse matrix or array.

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
from ._chain import prepare_chain, spgemm_chain
from ._validate import unsafe_skip_validation
from ._warmup import warmup

__all__ = [
    "CrsMatrix", "as_crs", "transpose",
    "SpGEMMHandle", "spgemm_symbolic", "spgemm_numeric", "spgemm", "choose_accumulator",
    "use_row_bitmaps",
    "spmv", "SpAddHandle", "spadd_symbolic", "spadd_numeric", "spadd", "epilogues", "io",
    "spgemm_chain", "prepare_chain", "DeviceCrs", "unsafe_skip_validation", "warmup",
]


def __getattr__(name):
    # IO is imported on first use: most users of the kernels never read files.
    if name == "io":
        import importlib

        return importlib.import_module(".io", __name__)
    if name == "DeviceCrs":  # what the Cuda space returns; host-only programs never need it
        from .impl._cuda_sparse import DeviceCrs

        return DeviceCrs
    raise AttributeError(f"module 'kkpy.sparse' has no attribute {name!r}")


def __dir__():
    # dir() and tab completion list io and DeviceCrs before their first use.
    return sorted(set(globals()) | set(__all__))
