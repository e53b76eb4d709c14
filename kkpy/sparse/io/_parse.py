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
import itertools
import os
import re
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


@numba.njit(cache=True)
def _is_blank(b):
    return b == 32 or b == 9 or b == 13


@numba.njit(cache=True)
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


@numba.njit(cache=True)
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


@numba.njit(cache=True)
def _parse_int(buf, s, e):
    """Signed int64 in buf[s:e]; returns (value, ok), not ok on overflow."""
    i = s
    neg = False
    if i < e and (buf[i] == 43 or buf[i] == 45):
        neg = buf[i] == 45
        i += 1
    if i == e:
        return 0, False
    # Accumulate negatively: int64 holds -2**63 but not +2**63.
    v = 0
    while i < e:
        d = buf[i] - 48
        if d < 0 or d > 9:
            return 0, False
        if v < -922337203685477580 or (v == -922337203685477580 and d > 8):
            return 0, False
        v = v * 10 - d
        i += 1
    if neg:
        return v, True
    if v == -9223372036854775807 - 1:
        return 0, False
    return -v, True


_BLANKS = re.compile(rb"[ \t\r]+")


def _diagnose(line, nfields, value_kind, nrows, ncols):
    """Say what is wrong with one line the scanner rejected: (code, detail).

    Runs once per bad file, so it is plain Python; it splits on the same
    blanks and checks values with the same compiled parsers as the
    scanner, so the two agree on what is valid.  Checks the field count
    first, then each field in turn.
    """
    fields = [f for f in _BLANKS.split(line) if f]
    if len(fields) != nfields:
        return _E_FIELDS, len(fields)
    r, c = (int(f) if f.isdigit() and len(f) <= 18 else -1 for f in fields[:2])
    if r < 0:
        return _E_ROW, 0
    if c < 0:
        return _E_COL, 0
    if not 1 <= r <= nrows:
        return _E_ROW_RANGE, r
    if not 1 <= c <= ncols:
        return _E_COL_RANGE, c
    if value_kind != NO_VALUE:
        v = np.frombuffer(fields[2], np.uint8)
        if (_parse_float(v, 0, v.size, _POW10)[1] == 2 if value_kind == FLOAT_VALUE
                else not _parse_int(v, 0, v.size)[1]):
            return _E_VALUE, 0
    return 0, 0


@numba.njit(cache=True, nogil=True)
def _scan(buf, nfields, value_kind, nrows, ncols, row_lo, row_hi,
          out_r, out_c, out_f, out_i, slow_idx, slow_buf, pow10):
    """Scan complete lines in ``buf`` (which ends with a newline).

    Returns (stored, lines, bad_pos, nslow, slow_bytes, max_row, max_col).
    A line it rejects stops the scan: ``lines`` counts the good lines
    before it, ``bad_pos`` is where it starts (-1 if none), and
    :func:`_diagnose` then names the problem.
    """
    n = buf.size
    pos = 0
    line = 0
    k = 0
    nslow = 0
    nbytes = 0
    maxr = 0
    maxc = 0
    # The last value token and what it parsed to: challenge files repeat
    # one value on every line, and a byte compare beats re-parsing.
    ps = pe = 0
    pv = 0.0
    while pos < n:
        start = pos
        while _is_blank(buf[pos]):
            pos += 1
        if buf[pos] == 10:
            pos += 1
            line += 1
            continue
        ok = True
        # Row and column: digits then a blank (the row always, the column
        # unless it ends a pattern line).
        r = 0
        fs = pos
        while 48 <= buf[pos] <= 57:
            r = r * 10 + (buf[pos] - 48)
            pos += 1
        if pos == fs or pos - fs > 18 or not _is_blank(buf[pos]):
            ok = False
        else:
            while _is_blank(buf[pos]):
                pos += 1
            c = 0
            fs = pos
            while 48 <= buf[pos] <= 57:
                c = c * 10 + (buf[pos] - 48)
                pos += 1
            if pos == fs or pos - fs > 18:
                ok = False
            elif nfields == 3:
                if not _is_blank(buf[pos]):
                    ok = False
                while _is_blank(buf[pos]):
                    pos += 1
                vs = pos
                while buf[pos] != 10 and not _is_blank(buf[pos]):
                    pos += 1
                ve = pos
        if ok:
            while _is_blank(buf[pos]):
                pos += 1
            ok = (buf[pos] == 10 and 1 <= r <= nrows and 1 <= c <= ncols
                  and (nfields == 2 or ve > vs))
        if ok:
            keep = row_lo <= r - 1 < row_hi
            if value_kind == 1:
                same = ve - vs == pe - ps
                if same:
                    for i in range(ve - vs):
                        if buf[vs + i] != buf[ps + i]:
                            same = False
                            break
                if same:
                    v = pv
                else:
                    v, status = _parse_float(buf, vs, ve, pow10)
                    if status == 2:
                        ok = False
                    elif status == 1:
                        if keep:
                            slow_idx[nslow] = k
                            nslow += 1
                            for i in range(vs, ve):
                                slow_buf[nbytes] = buf[i]
                                nbytes += 1
                            slow_buf[nbytes] = 32
                            nbytes += 1
                    else:
                        ps, pe, pv = vs, ve, v
                if keep:
                    out_f[k] = v
            elif value_kind == 2:
                iv, ok = _parse_int(buf, vs, ve)
                if keep:
                    out_i[k] = iv
        if not ok:
            return k, line, start, nslow, nbytes, maxr, maxc
        pos += 1  # past the newline
        maxr = max(maxr, r)
        maxc = max(maxc, c)
        if keep:
            out_r[k] = r - 1
            out_c[k] = c - 1
            k += 1
        line += 1
    return k, line, -1, nslow, nbytes, maxr, maxc


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


def _describe(line, nfields, value_kind, sep_word, shape, declared):
    """One-line message for a line the scanner rejected."""
    code, detail = _diagnose(line, nfields, value_kind, *shape)
    fields = [f.decode("utf-8", "replace") for f in _BLANKS.split(line) if f]
    if code == _E_FIELDS:
        return f"expected {nfields} {sep_word} fields, got {detail}"
    if code == _E_ROW:
        return f"row index {fields[0]!r} is not a positive integer"
    if code == _E_COL:
        return f"column index {fields[1]!r} is not a positive integer"
    if code == _E_VALUE:
        return f"value {fields[2]!r} is not a number"
    if code in (_E_ROW_RANGE, _E_COL_RANGE):
        axis = 0 if code == _E_ROW_RANGE else 1
        which, bound = ("row", "column")[axis], shape[axis]
        if declared[axis]:
            return f"{which} index {detail} out of range 1..{bound}"
        return f"{which} index {detail} does not fit the index dtype"
    return "malformed line"  # the scanner and _diagnose disagree: a bug


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
    shape : tuple of (int or None), optional
        Declared shape; indices beyond it are errors.  Where None (or for
        both axes when ``shape`` is None), indices
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
    # 1-based ceiling; the scanner's int64 arguments cap it at 2**63 - 1.
    limit = min(int(np.iinfo(index_dtype).max) + 1, 2**63 - 1)
    shape = (None, None) if shape is None else shape
    declared = tuple(s is not None for s in shape)
    nrows, ncols = (limit if s is None else int(s) for s in shape)
    if max(nrows, ncols) > limit:
        raise ValueError(f"shape {shape} does not fit index dtype {index_dtype}")
    lo, hi = (0, limit) if rows is None else (int(rows[0]), int(rows[1]))
    vdtype = np.int64 if value_kind == INT_VALUE else np.float64
    out_r, out_c, out_v = [], [], []
    maxr = maxc = 0
    line0 = first_line
    carry = b""
    empty_f = np.empty(0, np.float64)
    empty_i = np.empty(0, np.int64)

    def scan_block(block):
        nonlocal maxr, maxc, line0
        buf = np.frombuffer(block, np.uint8)
        cap = block.count(b"\n")
        # One compiled signature for all index dtypes: scan into int64 and
        # narrow afterwards (cheap next to parsing; saves a compile).
        r = np.empty(cap, np.int64)
        c = np.empty(cap, np.int64)
        vf = np.empty(cap, np.float64) if value_kind == FLOAT_VALUE else empty_f
        vi = np.empty(cap, np.int64) if value_kind == INT_VALUE else empty_i
        slow_idx = np.empty(cap if value_kind == FLOAT_VALUE else 0, np.int64)
        slow_buf = np.empty(len(block) + cap if value_kind == FLOAT_VALUE else 0, np.uint8)
        k, nlines, bad_pos, nslow, nbytes, mr, mc = _scan(
            buf, nfields, value_kind, nrows, ncols, lo, hi,
            r, c, vf, vi, slow_idx, slow_buf, _POW10)
        if bad_pos >= 0:
            bad = block[bad_pos:block.find(b"\n", bad_pos)]
            raise ParseError(name, line0 + nlines, _describe(
                bad, nfields, value_kind, sep_word, (nrows, ncols), declared))
        if nslow:
            vf[slow_idx[:nslow]] = np.fromstring(slow_buf[:nbytes].tobytes(), sep=" ")
        maxr, maxc = max(maxr, mr), max(maxc, mc)
        line0 += nlines
        out_r.append(r[:k].astype(index_dtype))
        out_c.append(c[:k].astype(index_dtype))
        if value_kind != NO_VALUE:
            # Copy when mostly empty (a row filter) so the block can go.
            v = vf if value_kind == FLOAT_VALUE else vi
            out_v.append(v[:k].copy() if k < cap // 2 else v[:k])

    for block in itertools.chain((initial,), chunks):
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
    chunks.lines_done = line0 - 1
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
