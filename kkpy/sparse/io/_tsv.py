"""The Graph Challenge's TSV triples: ``row<TAB>col<TAB>value``, 1-based."""

import os

import numba
import numpy as np
import scipy.sparse

from ._atomic import atomic_write
from ._format import write_triples
from ._parse import CHECK_FINITE, CHECK_FLOAT32, FLOAT_VALUE, open_chunks, scan_triples

__all__ = ["read_tsv_coo", "read_tsv", "write_tsv"]


def _slice_shape(nrows, ncols, rows):
    if rows is None:
        return nrows, ncols
    start, stop = rows
    return max(0, min(stop, nrows) - start), ncols


def _check_rows(rows):
    if rows is None:
        return None
    start, stop = (int(x) for x in rows)
    if start < 0 or stop < start:
        raise ValueError(f"rows must be a range [start, stop) with 0 <= start <= stop, got {rows}")
    return start, stop


def read_tsv_coo(path, shape=None, dtype=np.float32, index_dtype=np.int32, rows=None,
                 finite=False):
    """Read a TSV triples file into 0-based COO arrays.

    The file holds one ``row<TAB>col<TAB>value`` line per entry, 1-based,
    plain or gzip-compressed (chosen by a ``.gz`` suffix).  Runs of blanks
    also separate fields, and blank lines are skipped.  The file is read in
    blocks, so memory is bounded by the result, not the text.

    Parameters
    ----------
    path : str or os.PathLike
    shape : tuple of (int or None), optional
        Matrix shape; indices beyond it are errors.  Where None (either
        axis, or both by default), the largest index in the file.
    dtype : numpy dtype
        Value type (values are parsed as float64, then cast).
    index_dtype : numpy dtype
        Type of the returned index arrays.
    rows : tuple of int, optional
        Keep only the 0-based rows ``[start, stop)``, re-based to start at
        0, without materialising the others (the whole file is still
        checked).
    finite : bool
        Refuse values that are not finite (NaN, infinities) and, for a
        float32 ``dtype``, values beyond float32's range (which the cast
        would make infinite): ParseError naming the line.

    Returns
    -------
    rows, cols : ndarray of index_dtype
        0-based indices, in file order; duplicates are kept.
    vals : ndarray of dtype
    shape : tuple of int
        Of the returned rows (``stop - start`` rows when ``rows`` is given,
        clipped to the matrix).

    Raises
    ------
    ParseError
        Malformed line, index out of range, or corrupt gzip data; the
        message names the file and line.
    OSError
        The file cannot be opened.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "m.tsv")
    >>> _ = open(p, "w").write("1\\t2\\t0.5\\n3\\t1\\t2\\n")
    >>> r, c, v, shape = read_tsv_coo(p)
    >>> r.tolist(), c.tolist(), v.tolist(), shape
    ([0, 2], [1, 0], [0.5, 2.0], (3, 2))
    """
    rows = _check_rows(rows)
    name = os.fspath(path)
    with open_chunks(path, name) as chunks:
        r, c, v, (maxr, maxc) = scan_triples(
            name, chunks, nfields=3, value_kind=FLOAT_VALUE, shape=shape,
            index_dtype=index_dtype, rows=rows, checks=_checks(finite, dtype))
    shape = (None, None) if shape is None else shape
    full = tuple(int(m if s is None else s) for s, m in zip(shape, (maxr, maxc)))
    return r, c, v.astype(dtype, copy=False), _slice_shape(*full, rows)


def _checks(finite, dtype):
    """The parser's value checks (see :func:`scan_triples`) that ``finite`` asks for."""
    if not finite:
        return 0
    return CHECK_FINITE | (CHECK_FLOAT32 if np.dtype(dtype) == np.float32 else 0)


def read_tsv(path, shape=None, dtype=np.float32, index_dtype=np.int32, rows=None,
             finite=False):
    """Read a TSV triples file as a :class:`~kkpy.sparse.CrsMatrix`.

    Same arguments as :func:`read_tsv_coo`; duplicate entries are summed
    and column indices are sorted within each row.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "m.tsv")
    >>> _ = open(p, "w").write("1\\t1\\t1\\n2\\t2\\t3\\n1\\t1\\t1\\n")
    >>> read_tsv(p).toarray()
    array([[2., 0.],
           [0., 3.]], dtype=float32)
    """
    r, c, v, shape = read_tsv_coo(path, shape, dtype, index_dtype, rows, finite)
    return coo_to_csr(r, c, v, shape, os.fspath(path))


@numba.njit(cache=True)
def _row_map_if_sorted(rows, cols, nrows, row_map):
    """Fill ``row_map`` from COO entries already in canonical CSR order.

    True when rows never decrease and columns strictly increase within a
    row (so no duplicates); False as soon as an entry breaks that order,
    with ``row_map`` then unfinished.  Indices are in range: the reader
    checked them.
    """
    row_map[:] = 0
    prev_r = -1
    prev_c = -1
    for i in range(rows.size):
        r = np.int64(rows[i])
        c = np.int64(cols[i])
        if r < prev_r or (r == prev_r and c <= prev_c):
            return False
        row_map[r + 1] += 1
        prev_r = r
        prev_c = c
    for r in range(nrows):
        row_map[r + 1] += row_map[r]
    return True


def coo_to_csr(rows, cols, vals, shape, name):
    """COO arrays read from file ``name`` to a canonical CrsMatrix.

    Duplicates are summed in file order and rows sorted.  A shape too large
    for memory (a size line of 2e9 rows, say) names the file.  Entries that
    are in CSR order already (a file written from a CSR matrix, as scipy
    and kkpy write them) are taken as they are, without the sort.
    """
    from .._crs import CrsMatrix
    from .._validate import TooLargeError

    nrows = int(shape[0])
    small = rows.dtype == np.int32 and max(nrows, rows.size) <= np.iinfo(np.int32).max
    if rows.dtype in (np.int32, np.int64) and rows.dtype == cols.dtype and nrows < rows.size:
        # Only where the row map is smaller than the entries already in
        # memory: a size line declaring 2e9 rows goes to from_coo, which
        # checks that it fits and says "too large" rather than allocating.
        row_map = np.empty(nrows + 1, np.int32 if small else np.int64)
        if _row_map_if_sorted(rows, cols, nrows, row_map):
            # check=False: the pass above has checked the structure.
            return CrsMatrix(vals, cols if small else cols.astype(np.int64), row_map,
                             int(shape[1]), check=False)
    try:
        return CrsMatrix.from_coo(rows, cols, vals, shape, index_dtype=rows.dtype)
    except TooLargeError as e:
        raise TooLargeError(f"{name}: {e}") from None


def row_major_entries(matrix, what):
    """What the writers take, as 0-based ``(rows, cols, vals, shape)`` in row-major order.

    ``matrix`` is a scipy matrix or array_like, or a CrsMatrix (shared, no
    copy).  Duplicates are summed.  A canonical CSR input (the common
    case) is used as it is, without the sort a COO input needs.
    """
    m = matrix.to_scipy() if hasattr(matrix, "to_scipy") else matrix
    if not scipy.sparse.issparse(m):
        m = np.asarray(m)
        if m.ndim != 2:
            raise ValueError(f"{what} needs a 2-D matrix")
    csr = scipy.sparse.csr_array(m)
    if not csr.has_canonical_format:
        csr = csr.copy() if csr is m else csr  # never sort the caller's matrix in place
        csr.sum_duplicates()
    rows = np.repeat(np.arange(csr.shape[0], dtype=csr.indices.dtype), np.diff(csr.indptr))
    return rows, csr.indices, csr.data, csr.shape


def write_tsv(path, matrix):
    """Write a sparse matrix as 1-based TSV triples, atomically.

    Entries are written in row-major order, values as the shortest text
    that reads back to the same number.  A ``.gz`` suffix compresses.  The
    file appears only once complete.

    Parameters
    ----------
    path : str or os.PathLike
    matrix : CrsMatrix, scipy sparse array or matrix, or dense array_like
        Stored entries are written, explicit zeros included (duplicates
        summed).

    Examples
    --------
    >>> import os, tempfile, scipy.sparse
    >>> p = os.path.join(tempfile.mkdtemp(), "m.tsv")
    >>> write_tsv(p, scipy.sparse.csr_array([[0, 0.0625], [1.0, 0]]))
    >>> print(open(p).read(), end="")
    1	2	0.0625
    2	1	1
    """
    rows, cols, vals, _ = row_major_entries(matrix, "write_tsv")
    with atomic_write(path) as f:
        write_triples(f, rows, cols, vals)
