"""Readers and writers for sparse-matrix text files.

Two formats, each plain or gzip-compressed (by a ``.gz`` suffix):

- TSV triples ``row<TAB>col<TAB>value``, 1-based, as used by the Sparse
  DNN Graph Challenge: :func:`read_tsv`, :func:`read_tsv_coo`,
  :func:`write_tsv`.
- MatrixMarket coordinate files: :func:`read_mtx`, :func:`read_mtx_coo`,
  :func:`write_mtx`.

The ``*_coo`` readers return 0-based ``(rows, cols, vals, shape)`` arrays;
the others return a :class:`~kkpy.sparse.CrsMatrix` with duplicates summed
(``.to_scipy()`` gives a ``scipy.sparse.csr_array`` without copying).
Readers stream the file in blocks with a compiled scanner.  Every malformed
input raises :class:`ParseError`, a ``ValueError`` whose one-line message
names the file and line.  Writers replace the target file atomically.

Examples
--------
>>> import os, tempfile, scipy.sparse
>>> from kkpy.sparse.io import read_tsv, write_tsv, ParseError
>>> d = tempfile.mkdtemp()
>>> a = scipy.sparse.csr_array([[0, 0.0625], [1.0, 0]], dtype="float32")
>>> write_tsv(os.path.join(d, "a.tsv.gz"), a)
>>> (read_tsv(os.path.join(d, "a.tsv.gz")).to_scipy() != a).nnz
0
>>> _ = open(os.path.join(d, "bad.tsv"), "w").write("1\\t1\\t1\\n2\\t2\\n")
>>> try:
...     read_tsv(os.path.join(d, "bad.tsv"))
... except ParseError as e:
...     print(str(e).replace(d + os.sep, ""))
bad.tsv:2: expected 3 tab-separated fields, got 2
"""

from ._errors import ParseError
from ._mtx import read_mtx, read_mtx_coo, write_mtx
from ._tsv import read_tsv, read_tsv_coo, write_tsv

__all__ = ["ParseError", "read_tsv", "read_tsv_coo", "write_tsv",
           "read_mtx", "read_mtx_coo", "write_mtx"]
