"""Streaming parser for 1-based ``row col [value]`` text triples.

TSV and MatrixMarket bodies are the same thing once the header is gone:
one entry per line, fields separated by blanks.  A numba scanner turns a
block of complete lines into COO arrays in one pass and reports the first
bad line, so the readers can name it.  It is about 4x faster than
``np.loadtxt`` and keeps memory bounded by reading fixed-size blocks.

Floats with at most 18 significant digits and a decimal exponent within
+-22 take Clinger's exact fast path (one correctly rounded multiply or
divide of exact operands).  Anything else that is still valid syntax
(more digits, big exponents, inf/nan) is gathered and handed to
``np.fromstring``, i.e. numpy's correctly rounded parser, so the result is
always the correctly rounded double; it is then cast to the requested
dtype, as ``np.loadtxt`` does.
"""

import gzip
import os
import zlib

import numba
import numpy as np

from ._errors import ParseError

__all__ = ["open_chunks", "scan_triples", "NO_VALUE", "FLOAT_VALUE", "INT_VALUE"]

# What the third field holds.
NO_VALUE, FLOAT_VALUE, INT_VALUE = 0, 1, 2

# 16 MiB blocks: large enough that per-block Python work is noise, small
# enough that a block and its output arrays stay far below a node's memory.
CHUNK_BYTES = 1 << 24

# Error codes the scanner returns (0 means no error).
_E_FIELDS, _E_ROW, _E_COL, _E_VALUE, _E_ROW_RANGE, _E_COL_RANGE = range(1, 7)

_POW10 = np.array([10.0**i for i in range(23)])
_MAX_EXACT = 2**53


@numba.njit(cache=True, inline="always")
def _is_blank(b):
    return b == 32 or b == 9 or b == 13


@numba.njit(cache=True, inline="always")
def _parse_index(buf, s, e):
    """Unsigned decimal in buf[s:e]; -1 if not one (or absurdly long)."""
    if e - s > 18 or e == s:
        return -1
    v = 0
    for i in range(s, e):
        d = buf[i] - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


@numba.njit(cache=True)
def _lower(b):
    return b | 32 if 65 <= b <= 90 else b


@numba.njit(cache=True)
def _is_special(buf, s, e):
    """inf, infinity or nan (any case), the non-finite words strtod takes."""
    n = e - s
    a = _lower(buf[s]) if n > 0 else 0
    if n == 3:
        b, c = _lower(buf[s + 1]), _lower(buf[s + 2])
        return (a == 105 and b == 110 and c == 102) or (a == 110 and b == 97 and c == 110)
    if n == 8:
        for i, ch in enumerate((105, 110, 102, 105, 110, 105, 116, 121)):
            if _lower(buf[s + i]) != ch:
                return False
        return True
    return False


@numba.njit(cache=True, inline="always")
def _parse_float(buf, s, e, pow10):
    """Parse buf[s:e]; returns (value, status), status 0 ok, 1 slow, 2 bad."""
    i = s
    neg = False
    if i < e and (buf[i] == 43 or buf[i] == 45):
        neg = buf[i] == 45
        i += 1
    m = 0
    nd = 0
    dexp = 0
    seen = False
    dropped = False
    while i < e and 48 <= buf[i] <= 57:
        d = buf[i] - 48
        seen = True
        if nd < 18:
            if m != 0 or d != 0:
                m = m * 10 + d
                nd += 1
        else:
            dexp += 1
            dropped = dropped or d != 0
        i += 1
    if i < e and buf[i] == 46:
        i += 1
        while i < e and 48 <= buf[i] <= 57:
            d = buf[i] - 48
            seen = True
            if nd < 18:
                if m != 0 or d != 0:
                    m = m * 10 + d
                    nd += 1
                dexp -= 1
            else:
                dropped = dropped or d != 0
            i += 1
    if not seen:
        return 0.0, 1 if _is_special(buf, i, e) else 2
    if i < e and (buf[i] == 101 or buf[i] == 69):
        i += 1
        eneg = False
        if i < e and (buf[i] == 43 or buf[i] == 45):
            eneg = buf[i] == 45
            i += 1
        if i == e:
            return 0.0, 2
        x = 0
        while i < e and 48 <= buf[i] <= 57:
            if x < 100000:  # beyond this only overflow/underflow differ
                x = x * 10 + (buf[i] - 48)
            i += 1
        dexp += -x if eneg else x
    if i != e:
        return 0.0, 2
    if m == 0:
        return -0.0 if neg else 0.0, 0
    if dropped or m > _MAX_EXACT or dexp < -22 or dexp > 22:
        return 0.0, 1
    v = float(m)
    v = v * pow10[dexp] if dexp >= 0 else v / pow10[-dexp]
    return -v if neg else v, 0


@numba.njit(cache=True, inline="always")
def _parse_int(buf, s, e):
    """Signed int64 in buf[s:e]; returns (value, ok)."""
    i = s
    neg = False
    if i < e and (buf[i] == 43 or buf[i] == 45):
        neg = buf[i] == 45
        i += 1
    if i == e or e - i > 18:
        return 0, False
    v = 0
    while i < e:
        d = buf[i] - 48
        if d < 0 or d > 9:
            return 0, False
        v = v * 10 + d
        i += 1
    return -v if neg else v, True


@numba.njit(cache=True)
def _scan(buf, nfields, value_kind, nrows, ncols, row_lo, row_hi,
          out_r, out_c, out_f, out_i, slow_idx, slow_buf, pow10):
    """Scan complete lines in ``buf`` (which ends with a newline).

    Returns (stored, lines, error, error_line, error_pos, detail, nslow,
    slow_bytes, max_row, max_col); on error the scan stops at that line.
    """
    n = buf.size
    pos = 0
    line = 0
    k = 0
    nslow = 0
    nbytes = 0
    maxr = 0
    maxc = 0
    while pos < n:
        start = pos
        while pos < n and _is_blank(buf[pos]):
            pos += 1
        if pos >= n:
            break
        if buf[pos] == 10:
            pos += 1
            line += 1
            continue
        # Tokenise the line: remember the first three fields, count all.
        nf = 0
        s0 = e0 = s1 = e1 = s2 = e2 = 0
        while True:
            fs = pos
            while pos < n and buf[pos] != 10 and not _is_blank(buf[pos]):
                pos += 1
            if nf == 0:
                s0, e0 = fs, pos
            elif nf == 1:
                s1, e1 = fs, pos
            elif nf == 2:
                s2, e2 = fs, pos
            nf += 1
            while pos < n and _is_blank(buf[pos]):
                pos += 1
            if pos >= n or buf[pos] == 10:
                break
        pos += 1  # past the newline
        if nf != nfields:
            return k, line, _E_FIELDS, line, start, nf, nslow, nbytes, maxr, maxc
        r = _parse_index(buf, s0, e0)
        if r < 0:
            return k, line, _E_ROW, line, start, 0, nslow, nbytes, maxr, maxc
        c = _parse_index(buf, s1, e1)
        if c < 0:
            return k, line, _E_COL, line, start, 0, nslow, nbytes, maxr, maxc
        if r < 1 or r > nrows:
            return k, line, _E_ROW_RANGE, line, start, r, nslow, nbytes, maxr, maxc
        if c < 1 or c > ncols:
            return k, line, _E_COL_RANGE, line, start, c, nslow, nbytes, maxr, maxc
        maxr = max(maxr, r)
        maxc = max(maxc, c)
        if r - 1 < row_lo or r - 1 >= row_hi:
            # Still validate the value so a file is good or bad as a whole.
            if value_kind == 1:
                if _parse_float(buf, s2, e2, pow10)[1] == 2:
                    return k, line, _E_VALUE, line, start, 0, nslow, nbytes, maxr, maxc
            elif value_kind == 2:
                if not _parse_int(buf, s2, e2)[1]:
                    return k, line, _E_VALUE, line, start, 0, nslow, nbytes, maxr, maxc
            line += 1
            continue
        if value_kind == 1:
            v, status = _parse_float(buf, s2, e2, pow10)
            if status == 2:
                return k, line, _E_VALUE, line, start, 0, nslow, nbytes, maxr, maxc
            if status == 1:
                slow_idx[nslow] = k
                nslow += 1
                for i in range(s2, e2):
                    slow_buf[nbytes] = buf[i]
                    nbytes += 1
                slow_buf[nbytes] = 32
                nbytes += 1
            out_f[k] = v
        elif value_kind == 2:
            iv, ok = _parse_int(buf, s2, e2)
            if not ok:
                return k, line, _E_VALUE, line, start, 0, nslow, nbytes, maxr, maxc
            out_i[k] = iv
        out_r[k] = r - 1
        out_c[k] = c - 1
        k += 1
        line += 1
    return k, line, 0, 0, 0, 0, nslow, nbytes, maxr, maxc


class open_chunks:
    """The bytes of a plain or ``.gz`` file, in blocks, as a context manager.

    Opening errors (missing file, permissions) propagate as ``OSError``.
    A corrupt or truncated gzip stream becomes :class:`ParseError` at the
    first line not yet complete, which is why the consumer keeps
    ``lines_done`` (complete lines consumed so far) up to date.
    """

    def __init__(self, path, name=None):
        self.name = os.fspath(path) if name is None else name
        if os.fspath(path).endswith(".gz"):
            self._file = gzip.open(path, "rb")
        else:
            self._file = open(path, "rb", buffering=0)
        self.lines_done = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()

    def __iter__(self):
        while True:
            try:
                block = self._file.read(CHUNK_BYTES)
            except (EOFError, OSError, zlib.error) as exc:
                # gzip reports truncation as EOFError and garbage as
                # BadGzipFile (an OSError) or zlib.error.
                what = str(exc).rstrip(".") or type(exc).__name__
                raise ParseError(self.name, self.lines_done + 1,
                                 f"corrupt or truncated gzip data ({what})") from None
            if not block:
                return
            yield block


def _line_text(buf, pos):
    end = buf.find(b"\n", pos)
    text = buf[pos:end if end >= 0 else len(buf)].decode("utf-8", "replace")
    return text.strip()


def _field(text, i):
    fields = text.split()
    return fields[i] if i < len(fields) else ""


def _describe(code, detail, text, nfields, sep_word, shape, shape_declared):
    if code == _E_FIELDS:
        return f"expected {nfields} {sep_word} fields, got {detail}"
    if code == _E_ROW:
        return f"row index {_field(text, 0)!r} is not a positive integer"
    if code == _E_COL:
        return f"column index {_field(text, 1)!r} is not a positive integer"
    if code == _E_VALUE:
        return f"value {_field(text, 2)!r} is not a number"
    which, bound = ("row", shape[0]) if code == _E_ROW_RANGE else ("column", shape[1])
    if shape_declared:
        return f"{which} index {detail} out of range 1..{bound}"
    return f"{which} index {detail} does not fit the index dtype"


def scan_triples(name, chunks, *, nfields, value_kind, shape=None,
                 index_dtype=np.int32, rows=None, first_line=1,
                 sep_word="tab-separated", initial=b""):
    """Parse every remaining line of ``chunks`` as a 1-based triple.

    Parameters
    ----------
    name : str
        File name for error messages.
    chunks : open_chunks
        The blocks; told the progress so that gzip errors name a line.
    nfields : int
        Fields per line: 3 with a value, 2 without.
    value_kind : int
        ``NO_VALUE``, ``FLOAT_VALUE`` (float64 out) or ``INT_VALUE``
        (int64 out).
    shape : tuple of int, optional
        Declared shape; indices beyond it are errors.  Without it, indices
        are limited only by ``index_dtype``.
    rows : tuple of int, optional
        Keep only 0-based rows in ``[start, stop)`` (re-based to 0);
        the rest of the file is still validated.
    first_line : int
        Line number of the first line in ``chunks`` (after a header).
    initial : bytes
        Already-read bytes that precede ``chunks``.

    Returns
    -------
    rows, cols : ndarray of index_dtype
        0-based.
    vals : ndarray of float64 or int64, or None
    max_index : tuple of int
        Largest 1-based row and column seen (0 when the file is empty).
    """
    index_dtype = np.dtype(index_dtype)
    limit = int(np.iinfo(index_dtype).max) + 1  # 1-based ceiling
    declared = shape is not None
    nrows, ncols = (int(shape[0]), int(shape[1])) if declared else (limit, limit)
    if declared and max(nrows, ncols) > limit:
        raise ValueError(f"shape {shape} does not fit index dtype {index_dtype}")
    lo, hi = (0, limit) if rows is None else (int(rows[0]), int(rows[1]))
    vdtype = np.int64 if value_kind == INT_VALUE else np.float64
    out_r, out_c, out_v = [], [], []
    maxr = maxc = 0
    line0 = first_line
    carry = initial
    empty_f = np.empty(0, np.float64)
    empty_i = np.empty(0, np.int64)

    def scan_block(block):
        nonlocal maxr, maxc, line0
        buf = np.frombuffer(block, np.uint8)
        cap = block.count(b"\n")
        r = np.empty(cap, index_dtype)
        c = np.empty(cap, index_dtype)
        vf = np.empty(cap, np.float64) if value_kind == FLOAT_VALUE else empty_f
        vi = np.empty(cap, np.int64) if value_kind == INT_VALUE else empty_i
        slow_idx = np.empty(cap if value_kind == FLOAT_VALUE else 0, np.int64)
        slow_buf = np.empty(len(block) + cap if value_kind == FLOAT_VALUE else 0, np.uint8)
        (k, nlines, err, eline, epos, detail, nslow, nbytes, mr, mc) = _scan(
            buf, nfields, value_kind, nrows, ncols, lo, hi,
            r, c, vf, vi, slow_idx, slow_buf, _POW10)
        if err:
            text = _line_text(block, epos)
            raise ParseError(name, line0 + eline, _describe(
                err, detail, text, nfields, sep_word, (nrows, ncols), declared))
        if nslow:
            vf[slow_idx[:nslow]] = np.fromstring(slow_buf[:nbytes].tobytes(), sep=" ")
        maxr, maxc = max(maxr, mr), max(maxc, mc)
        line0 += nlines
        out_r.append(r[:k].copy() if k < cap // 2 else r[:k])
        out_c.append(c[:k].copy() if k < cap // 2 else c[:k])
        if value_kind != NO_VALUE:
            v = vf if value_kind == FLOAT_VALUE else vi
            out_v.append(v[:k].copy() if k < cap // 2 else v[:k])

    for block in chunks:
        data = carry + block if carry else block
        cut = data.rfind(b"\n") + 1
        if cut:
            scan_block(data[:cut] if cut < len(data) else data)
            carry = data[cut:]
        else:
            carry = data
        chunks.lines_done = line0 - 1
    if carry.strip():
        scan_block(carry + b"\n")
    if not out_r:
        out_r.append(np.empty(0, index_dtype))
        out_c.append(np.empty(0, index_dtype))
        out_v.append(np.empty(0, vdtype))
    r = np.concatenate(out_r) if len(out_r) > 1 else out_r[0]
    c = np.concatenate(out_c) if len(out_c) > 1 else out_c[0]
    v = None
    if value_kind != NO_VALUE:
        v = np.concatenate(out_v) if len(out_v) > 1 else out_v[0]
    if rows is not None and lo:
        r -= index_dtype.type(lo)
    return r, c, v, (maxr, maxc)
