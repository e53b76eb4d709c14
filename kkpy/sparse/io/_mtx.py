"""MatrixMarket coordinate files: real, integer or pattern; general or symmetric."""

import os

import numpy as np
import scipy.sparse

from ._atomic import atomic_write
from ._errors import ParseError
from ._format import write_triples
from ._parse import FLOAT_VALUE, INT_VALUE, NO_VALUE, open_chunks, scan_triples
from ._tsv import coo_to_csr, row_major_entries

__all__ = ["read_mtx_coo", "read_mtx", "write_mtx"]

_FIELDS = {"real": FLOAT_VALUE, "double": FLOAT_VALUE, "integer": INT_VALUE,
           "pattern": NO_VALUE}
_SYMMETRIES = ("general", "symmetric", "skew-symmetric")


def _header_lines(chunks):
    """Yield (line number, text) of the header, then (buffer, offset) of the unread bytes.

    Walks an offset through the buffer rather than slicing it, so a header
    with many comment lines costs no more than its size.
    """
    it = iter(chunks)
    buf = b""
    pos = 0
    lineno = 0
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            # Sliced (copied) before the next read: a plain file's blocks
            # share one buffer, which that read overwrites.
            left = buf[pos:]
            block = next(it, None)
            if block is not None:
                # The block itself when nothing is left over, so that the
                # rest is handed on uncopied.
                buf, pos = (left + block if left else block), 0
                continue
            if not left:
                yield lineno + 1, None  # end of file
                return
            buf, pos, nl = left, 0, len(left)
        lineno += 1
        chunks.lines_done = lineno
        rest = yield lineno, buf[pos:nl].decode("latin-1")
        pos = nl + 1
        if rest:
            yield buf, pos  # the unread bytes, uncopied
            return


def _parse_banner(name, text):
    words = text.split() if text is not None else []
    if not words or words[0].lower() != "%%matrixmarket":
        raise ParseError(name, 1, "not a MatrixMarket file (no '%%MatrixMarket' banner)")
    if len(words) != 5:
        raise ParseError(name, 1, f"banner needs 4 words after %%MatrixMarket, got {len(words) - 1}")
    obj, fmt, field, symmetry = (w.lower() for w in words[1:])
    if obj != "matrix":
        raise ParseError(name, 1, f"unsupported object {obj!r} (only 'matrix')")
    if fmt != "coordinate":
        raise ParseError(name, 1, f"unsupported format {fmt!r} (only 'coordinate')")
    if field not in _FIELDS:
        raise ParseError(name, 1, f"unsupported field {field!r} (real, integer or pattern)")
    if symmetry not in _SYMMETRIES:
        raise ParseError(name, 1, f"unsupported symmetry {symmetry!r} "
                                  "(general, symmetric or skew-symmetric)")
    return field, symmetry


def _parse_size(name, lineno, text, index_dtype):
    words = text.split()
    if len(words) != 3 or not all(w.isdigit() and w.isascii() for w in words):
        raise ParseError(name, lineno, f"size line must be 'rows cols entries', got {text.strip()!r}")
    m, n, nnz = (int(w) for w in words)
    limit = int(np.iinfo(index_dtype).max) + 1
    if max(m, n) > limit:
        raise ParseError(name, lineno, f"shape {m}x{n} does not fit index dtype {np.dtype(index_dtype)}")
    return (m, n), nnz


def _entry_line(path, name, header_lines, entry):
    """1-based line of the ``entry``-th (0-based) data line; error path only."""
    seen = -1
    with open_chunks(path, name) as chunks:
        lineno = 0
        carry = b""
        for block in chunks:
            lines = (carry + block).split(b"\n")
            carry = lines.pop()
            for line in lines:
                lineno += 1
                if lineno > header_lines and line.strip():
                    seen += 1
                    if seen == entry:
                        return lineno
    return lineno + 1


def read_mtx_coo(path, dtype=None, index_dtype=np.int32):
    """Read a MatrixMarket coordinate file into 0-based COO arrays.

    Supports fields ``real``, ``integer`` and ``pattern`` and symmetries
    ``general``, ``symmetric`` and ``skew-symmetric`` (the mirror entries
    are added, negated for skew).  Plain or ``.gz``.

    Parameters
    ----------
    path : str or os.PathLike
    dtype : numpy dtype, optional
        Value type; by default int64 for ``integer`` files and float64
        otherwise (pattern entries are ones).
    index_dtype : numpy dtype

    Returns
    -------
    rows, cols, vals : ndarray
        0-based; duplicates are kept.
    shape : tuple of int
        As declared in the size line.

    Raises
    ------
    ParseError
        Bad banner or size line, malformed entry, index out of range, wrong
        number of entries, corrupt gzip data.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "m.mtx")
    >>> _ = open(p, "w").write(
    ...     "%%MatrixMarket matrix coordinate integer symmetric\\n"
    ...     "% a comment\\n3 3 2\\n2 1 7\\n3 3 1\\n")
    >>> r, c, v, shape = read_mtx_coo(p)
    >>> sorted(zip(r.tolist(), c.tolist(), v.tolist())), shape
    ([(0, 1, 7), (1, 0, 7), (2, 2, 1)], (3, 3))
    """
    name = os.fspath(path)
    index_dtype = np.dtype(index_dtype)
    with open_chunks(path, name) as chunks:
        header = _header_lines(chunks)
        _, banner = next(header)
        field, symmetry = _parse_banner(name, banner)
        for lineno, text in header:
            if text is None:
                raise ParseError(name, lineno, "missing size line 'rows cols entries'")
            if text.strip() and not text.lstrip().startswith("%"):
                break
        shape, nnz = _parse_size(name, lineno, text, index_dtype)
        rest = header.send(True)
        kind = _FIELDS[field]
        # The result arrays at the declared size, unless the file is too
        # short to hold that many lines (then the count is wrong anyway, and
        # the scan says so); a gzip'd file's text size is unknown, so start
        # at 2**20 there and let the arrays grow.
        bound = chunks.entry_bound()
        bound = 1 << 20 if bound is None else bound + (len(rest[0]) - rest[1]) // 4
        r, c, v, _ = scan_triples(
            name, chunks, nfields=2 if kind == NO_VALUE else 3, value_kind=kind,
            shape=shape, index_dtype=index_dtype, first_line=lineno + 1,
            sep_word="blank-separated", initial=rest, capacity=min(nnz, bound))
    if r.size != nnz:
        where = _entry_line(path, name, lineno, nnz) if r.size > nnz else chunks.lines_done + 1
        raise ParseError(name, where, f"size line declares {nnz} entries, file has {r.size}")
    if dtype is None:
        dtype = np.int64 if kind == INT_VALUE else np.float64
    v = np.ones(r.size, dtype) if v is None else v.astype(dtype, copy=False)
    if symmetry != "general":
        # The format stores only the lower triangle (strictly lower when
        # skew-symmetric); anything else would be mirrored into a silently
        # different matrix.
        bad = r < c if symmetry == "symmetric" else r <= c
        if bad.any():
            k = int(np.argmax(bad))
            where = "on the diagonal" if r[k] == c[k] else "above the diagonal"
            raise ParseError(name, _entry_line(path, name, lineno, k),
                             f"entry ({r[k] + 1}, {c[k] + 1}) lies {where} of a {symmetry} "
                             "matrix, which stores only its lower triangle")
        off = r != c
        mirror = v[off] if symmetry == "symmetric" else -v[off]
        r, c, v = (np.concatenate((r, c[off])), np.concatenate((c, r[off])),
                   np.concatenate((v, mirror)))
    return r, c, v, shape


def read_mtx(path, dtype=None, index_dtype=np.int32):
    """Read a MatrixMarket coordinate file as a :class:`~kkpy.sparse.CrsMatrix`.

    Same arguments as :func:`read_mtx_coo`; duplicates are summed.  As in
    ``scipy.io.mmread``, an ``integer`` field gives int64 values and the
    others float64.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "m.mtx")
    >>> _ = open(p, "w").write(
    ...     "%%MatrixMarket matrix coordinate pattern general\\n2 3 2\\n1 3\\n2 1\\n")
    >>> read_mtx(p).toarray()
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    return coo_to_csr(*read_mtx_coo(path, dtype, index_dtype), os.fspath(path))


def write_mtx(path, matrix, field=None, symmetry="general", comment=""):
    """Write a sparse matrix as a MatrixMarket coordinate file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.gz`` suffix compresses.
    matrix : CrsMatrix, scipy sparse array or matrix, or dense array_like
    field : {None, 'real', 'integer', 'pattern'}
        By default ``integer`` for integer or bool matrices, else ``real``.
    symmetry : {'general', 'symmetric', 'skew-symmetric'}
        For the symmetric kinds only the lower triangle is written; the
        matrix must have the declared symmetry.
    comment : str
        Written as ``%`` lines after the banner.

    Examples
    --------
    >>> import os, tempfile, scipy.sparse
    >>> p = os.path.join(tempfile.mkdtemp(), "m.mtx")
    >>> write_mtx(p, scipy.sparse.csr_array([[2.5, 1.0], [1.0, 0]]), symmetry="symmetric")
    >>> print(open(p).read(), end="")
    %%MatrixMarket matrix coordinate real symmetric
    2 2 2
    1 1 2.5
    2 1 1
    """
    if field not in (None, "real", "integer", "pattern"):
        raise ValueError(f"field must be 'real', 'integer' or 'pattern', got {field!r}")
    if symmetry not in _SYMMETRIES:
        raise ValueError(f"symmetry must be one of {_SYMMETRIES}, got {symmetry!r}")
    rows, cols, data, shape = row_major_entries(matrix, "write_mtx")
    if data.dtype.kind == "c":
        raise ValueError("complex matrices are not supported")
    if field is None:
        field = "integer" if data.dtype.kind in "iub" else "real"
    if symmetry != "general":
        sign = 1 if symmetry == "symmetric" else -1
        a = scipy.sparse.csr_array((data, (rows, cols)), shape=shape)
        if shape[0] != shape[1] or abs(a - sign * a.T).count_nonzero():
            raise ValueError(f"matrix is not {symmetry}")
        lower = rows >= cols if sign == 1 else rows > cols
        rows, cols, data = rows[lower], cols[lower], data[lower]
    vals = None
    if field == "integer":
        vals = data.astype(np.int64)
    elif field == "real":
        vals = data.astype(np.float64) if data.dtype.kind in "iub" else data
    head = [f"%%MatrixMarket matrix coordinate {field} {symmetry}"]
    head += [f"%{line}" for line in comment.splitlines()]
    head.append(f"{shape[0]} {shape[1]} {rows.size}")
    with atomic_write(path) as f:
        f.write(("\n".join(head) + "\n").encode())
        write_triples(f, rows, cols, vals, sep=" ")
