"""Streaming parser for 1-based ``row col [value]`` text triples.

TSV and MatrixMarket bodies are the same thing once the header is gone:
one entry per line, fields separated by blanks.  A numba scanner turns a
block of complete lines into COO arrays in one pass and reports the first
bad line, so the readers can name it.  It is about 4x faster than
``np.loadtxt`` and keeps memory bounded by reading fixed-size blocks.

Each block is cut at line ends into one piece per thread (its lines
counted first, so that each piece knows where its entries go), and the
pieces are scanned in parallel straight into the result arrays, which a
MatrixMarket size line lets the reader make at their final size.

Digits are read eight at a time: one unaligned 64-bit load, a check that
all eight bytes are digits, and two multiply-shift rounds that combine
them (an index token shorter than eight takes the same single load).
Numbers of at most 18 digits and a decimal exponent within +-22 take
Clinger's exact fast path (one correctly rounded multiply or divide of
exact operands); other ones up to 18 digits are multiplied out in
double-double arithmetic (:mod:`._dd`), exact unless within 2**-100 of a
rounding boundary.  Anything else that is still valid syntax
(more digits, huge exponents, boundary cases, inf/nan) is gathered and
handed to ``np.fromstring``, i.e. numpy's correctly rounded parser, so
the result is always the correctly rounded double; it is then cast to
the requested dtype, as ``np.loadtxt`` does.
"""

import itertools
import re
import sys

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from ..host._pool import empty
from ._dd import POW10_HI, POW10_LO, decimal_to_double
from ._errors import ParseError
from ._open import open_chunks

__all__ = ["open_chunks", "scan_triples", "NO_VALUE", "FLOAT_VALUE", "INT_VALUE",
           "CHECK_FINITE", "CHECK_FLOAT32"]

# What the third field holds.
NO_VALUE, FLOAT_VALUE, INT_VALUE = 0, 1, 2

# Error codes the scanner returns (0 means no error).
_E_FIELDS, _E_ROW, _E_COL, _E_VALUE, _E_ROW_RANGE, _E_COL_RANGE, _E_NONFINITE, _E_NARROW = \
    range(1, 9)

# Value checks (bit flags): refuse inf and nan; refuse a finite value that
# float32 cannot hold (it would become inf when cast).
CHECK_FINITE, CHECK_FLOAT32 = 1, 2
# Beyond this a float64 rounds to infinity in float32 (its largest, plus half its ulp).
_F32_LIMIT = 3.4028235677973366e38

_POW10 = np.array([10.0**i for i in range(23)])
_MAX_EXACT = 2**53


@numba.njit(cache=True)
def _is_blank(b):
    return b == 32 or b == 9 or b == 13


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
def _to_double(m, dexp, neg, pow10):
    """``+-m * 10**dexp`` (0 < m < 10**18) correctly rounded: (value, exact),
    not exact: the caller takes the slow path."""
    if m <= _MAX_EXACT and -22 <= dexp <= 22:
        # Clinger: both operands exact, so one rounding.
        v = float(m)
        v = v * pow10[dexp] if dexp >= 0 else v / pow10[-dexp]
    else:
        v, exact = decimal_to_double(m, dexp, POW10_HI, POW10_LO)
        if not exact:
            return 0.0, False
    return -v if neg else v, True


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
    if dropped:
        return 0.0, 1
    v, exact = _to_double(m, dexp, neg, pow10)
    return v, 0 if exact else 1


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


# -- eight digits at a time (SWAR: a uint64 as eight bytes) ----------------
# Bytes are loaded little-endian, so the token's first character is the
# low byte.  Only used where eight bytes lie inside the buffer.
_U8 = np.uint64(8)
_ASCII0 = np.uint64(0x3030303030303030)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_PLUS_0x76 = np.uint64(0x7676767676767676)
_HIGH = np.uint64(0x8080808080808080)
_PAIR_MASK = np.uint64(0x000000FF000000FF)
_MUL_HI = np.uint64(100 + (1000000 << 32))
_MUL_LO = np.uint64(1 + (10000 << 32))
_POW10_INT = np.array([10 ** i for i in range(19)], np.int64)


@intrinsic
def _load_u64(typingctx, arr, idx):
    """The eight bytes at ``arr[idx:idx + 8]`` as one unaligned native load."""
    sig = types.uint64(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)

    return sig, codegen


@intrinsic
def _byte(typingctx, arr, idx):
    """``arr[idx]`` for an index known to be in range and not negative.

    A plain ``arr[idx]`` with a signed index also tests for a negative one
    (Python's wraparound) on every byte the scanner reads: the scan of
    bench_io's 1e6-line file took 52.7 ms of CPU that way against 45.7
    with this (one thread, medians of 15, alternating).  Like numba's own
    indexing it checks no bounds: the scanner's loops keep to the buffer.
    """
    sig = arr.dtype(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load(builder.gep(ary.data, [args[1]]))

    return sig, codegen


_LITTLE_ENDIAN = sys.byteorder == "little"


@numba.njit(cache=True, inline="always")
def _load8(buf, p):
    if _LITTLE_ENDIAN:
        return _load_u64(buf, p)
    # Composed byte by byte, which LLVM did not merge into one load (the
    # scan of indices ran 30% slower than a plain digit loop).
    w = np.uint64(0)
    for i in range(8):
        w |= np.uint64(buf[p + i]) << np.uint64(8 * i)
    return w


@numba.njit(cache=True, inline="always")
def _nondigits(w):
    """Bit 7 of each byte of ``w`` that is not an ASCII digit, others 0."""
    x = w ^ _ASCII0  # digits become 0..9
    # x & 0x7f plus 0x76 reaches bit 7 exactly from 10 up, and cannot carry
    # into the next byte; bytes with bit 7 already set are not digits.
    return (((x & _LOW7) + _PLUS_0x76) | x) & _HIGH


@numba.njit(cache=True, inline="always")
def _value8(t):
    """Value of the eight digits in ``t`` (ASCII minus '0' in every byte,
    first digit lowest) by two multiply-shift rounds of pairs."""
    t = t * np.uint64(10) + (t >> _U8)
    t = (((t & _PAIR_MASK) * _MUL_HI)
         + (((t >> np.uint64(16)) & _PAIR_MASK) * _MUL_LO)) >> np.uint64(32)
    return np.int64(t)


@numba.njit(cache=True, inline="always")
def _digit_run(buf, pos, n, v):
    """Append the digits at ``_byte(buf, pos:)`` to ``v`` (``v * 10**len + digits``).

    Returns (v, end).  ``v`` wraps beyond 18 digits: callers that keep it
    check the length first.
    """
    while pos + 8 <= n:
        w = _load8(buf, pos)
        m = _nondigits(w)
        t = w - _ASCII0  # borrows only run upward, out of the digits kept
        if m == 0:
            v = v * 100000000 + _value8(t)
            pos += 8
            continue
        nd = np.int64(trailing_zeros(m)) >> 3
        if nd:
            # The nd digits to the top bytes: zeros below them are leading zeros.
            v = v * _POW10_INT[nd] + _value8(t << np.uint64(64 - 8 * nd))
        return v, pos + nd
    while pos < n and 48 <= _byte(buf, pos) <= 57:
        v = v * 10 + (_byte(buf, pos) - 48)
        pos += 1
    return v, pos


@numba.njit(cache=True, inline="always")
def _quick_float(buf, s, n, pow10):
    """Parse the plain decimal at ``_byte(buf, s:)`` if it is one: (value, end, ok).

    Handles ``[+-]digits[.digits][(e|E)[+-]digits]`` with at most 18
    digits in all and a value that Clinger's fast path or the
    double-double product converts exactly.  Not ok means nothing about
    the token: :func:`_parse_float` decides it.  Ends at the first byte
    after the number, which the caller checks ends the token.
    """
    i = s
    neg = _byte(buf, i) == 45
    if neg or _byte(buf, i) == 43:
        i += 1
    m, j = _digit_run(buf, i, n, 0)
    nd = j - i
    nf = 0
    if j < n and _byte(buf, j) == 46:
        m, k = _digit_run(buf, j + 1, n, m)
        nf = k - j - 1
        j = k
    if nd + nf == 0 or nd + nf > 18:
        return 0.0, j, False
    dexp = -nf
    if j < n and (_byte(buf, j) | 32) == 101:
        j += 1
        eneg = j < n and _byte(buf, j) == 45
        if j < n and (eneg or _byte(buf, j) == 43):
            j += 1
        x, k = _digit_run(buf, j, n, 0)
        if k == j or k - j > 4:
            return 0.0, k, False
        dexp += -x if eneg else x
        j = k
    if m == 0:
        return -0.0 if neg else 0.0, j, True
    v, exact = _to_double(m, dexp, neg, pow10)
    return v, j, exact


_BLANKS = re.compile(rb"[ \t\r]+")


def _value_fault(v, checks):
    """Error code for a parsed value that ``checks`` refuse, else 0."""
    if checks & CHECK_FINITE and not np.isfinite(v):
        return _E_NONFINITE
    if checks & CHECK_FLOAT32 and np.isfinite(v) and abs(v) > _F32_LIMIT:
        return _E_NARROW  # compared, not cast: a cast would warn of the overflow
    return 0


def _diagnose(line, nfields, value_kind, nrows, ncols, checks=0):
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
        if value_kind == FLOAT_VALUE:
            with np.errstate(over="ignore"):
                return _value_fault(np.fromstring(fields[2], sep=" ")[0], checks), 0
    return 0, 0


@numba.njit(cache=True, nogil=True)
def _scan(buf, pos, n, nfields, value_kind, checks, nrows, ncols, row_lo, row_hi,
          out_r, out_c, out_f, out_i, k, slow_idx, slow_line, slow_buf, nslow, nbytes,
          pow10):
    """Scan the complete lines in ``_byte(buf, pos:n)`` (``_byte(buf, n - 1)`` is a newline).

    Entries go to ``out_*[k:]``, values for the slow path to
    ``slow_*[nslow:]`` and ``slow_buf[nbytes:]``.  Returns
    (k, lines, bad_pos, nslow, nbytes, max_row, max_col).  A line it
    rejects stops the scan: ``lines`` counts the good lines before it,
    ``bad_pos`` is where it starts (-1 if none), and :func:`_diagnose`
    then names the problem.
    """
    line = 0
    maxr = 0
    maxc = 0
    lim = buf.size  # eight-byte loads may look past n, never past the buffer
    f32max = _F32_LIMIT
    while pos < n:
        start = pos
        while _is_blank(_byte(buf, pos)):
            pos += 1
        if _byte(buf, pos) == 10:
            pos += 1
            line += 1
            continue
        ok = True
        # Row and column: digits then a blank (the row always, the column
        # unless it ends a pattern line).
        r, e = _digit_run(buf, pos, lim, 0)
        if e == pos or e - pos > 18 or not _is_blank(_byte(buf, e)):
            ok = False
        else:
            pos = e
            while _is_blank(_byte(buf, pos)):
                pos += 1
            c, e = _digit_run(buf, pos, lim, 0)
            if e == pos or e - pos > 18:
                ok = False
            pos = e
            if ok and nfields == 3:
                if not _is_blank(_byte(buf, pos)):
                    ok = False
                while _is_blank(_byte(buf, pos)):
                    pos += 1
                vs = pos
                if value_kind == 1 and _byte(buf, pos) != 10:
                    v, pos, quick = _quick_float(buf, vs, lim, pow10)
                    quick = quick and (_byte(buf, pos) == 10 or _is_blank(_byte(buf, pos)))
                else:
                    quick = False
                if not quick:
                    pos = vs
                    while _byte(buf, pos) != 10 and not _is_blank(_byte(buf, pos)):
                        pos += 1
                ve = pos
        if ok:
            while _is_blank(_byte(buf, pos)):
                pos += 1
            ok = (_byte(buf, pos) == 10 and 1 <= r <= nrows and 1 <= c <= ncols
                  and (nfields == 2 or ve > vs))
        if ok:
            keep = row_lo <= r - 1 < row_hi
            if value_kind == 1:
                if not quick:
                    v, status = _parse_float(buf, vs, ve, pow10)
                    if status == 2:
                        ok = False
                    elif status == 1:
                        # Checked once parsed; every line's, so that a
                        # filtered-out row's bad value is still reported.
                        slow_idx[nslow] = k if keep else -1
                        slow_line[nslow] = line
                        nslow += 1
                        for i in range(vs, ve):
                            slow_buf[nbytes] = _byte(buf, i)
                            nbytes += 1
                        slow_buf[nbytes] = 32
                        nbytes += 1
                        v = 0.0  # finite until the slow path fills it in
                if ok and checks & 2 and abs(v) > f32max:
                    ok = False
                if keep and ok:
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


@numba.njit(cache=True)
def _count_newlines(buf, a, b):
    # Over a slice from 0: with range(a, b) an index may be negative, and
    # numba's wraparound check for it kept the loop from vectorising (9x
    # slower: 6.8 ms against 0.77 ms for 16 MiB).
    sub = buf[a:b]
    t = 0
    for j in range(sub.size):
        t += sub[j] == 10
    return t


@numba.njit(cache=True)
def _cut_lines(buf, pieces):
    """Cut ``buf`` (complete lines) into ``pieces`` at line ends.

    Serial: the count is memory-bound (under a millisecond for 16 MiB), so
    threads would gain less than they cost to wake.

    Returns the cuts and the prefix sum of the pieces' line counts: piece
    ``i`` may write its entries from ``base[i]`` on without meeting the
    next one's, whatever the file holds (blank lines only leave gaps).
    """
    n = buf.size
    cut = np.empty(pieces + 1, np.int64)
    cut[0] = 0
    for i in range(1, pieces):
        p = max(cut[i - 1], (n * i) // pieces)
        while p < n and buf[p - 1] != 10:
            p += 1
        cut[i] = p
    cut[pieces] = n
    count = np.zeros(pieces, np.int64)
    for i in range(pieces):
        count[i] = _count_newlines(buf, cut[i], cut[i + 1])
    base = np.zeros(pieces + 1, np.int64)
    for i in range(pieces):
        base[i + 1] = base[i] + count[i]
    return cut, base


@numba.njit(cache=True, parallel=True)
def _scan_pieces(buf, cut, base, k0, nfields, value_kind, checks, nrows, ncols, row_lo,
                 row_hi, out_r, out_c, out_f, out_i, slow_idx, slow_line, slow_buf, pow10):
    """Scan the pieces of :func:`_cut_lines` in parallel.

    Piece ``i`` writes entries to ``out_*[k0 + base[i]:]``, so the caller's
    arrays are filled in place, and its slow-path values to ``slow_*``
    from ``base[i]`` (bytes from ``cut[i] + base[i]``).  Returns a
    (pieces, 7) table of :func:`_scan`'s results.
    """
    pieces = cut.size - 1
    res = np.zeros((pieces, 7), np.int64)
    for i in numba.prange(pieces):
        sb = cut[i] + base[i] if value_kind == 1 else 0
        k, lines, bad, ns, nb, mr, mc = _scan(
            buf, cut[i], cut[i + 1], nfields, value_kind, checks, nrows, ncols, row_lo,
            row_hi, out_r, out_c, out_f, out_i, k0 + base[i], slow_idx, slow_line, slow_buf,
            base[i] if value_kind == 1 else 0, sb, pow10)
        res[i, 0] = k
        res[i, 1] = lines
        res[i, 2] = bad
        res[i, 3] = ns
        res[i, 4] = nb
        res[i, 5] = mr
        res[i, 6] = mc
    return res


def _describe(line, nfields, value_kind, sep_word, shape, declared, checks=0):
    """One-line message for a line the scanner rejected."""
    code, detail = _diagnose(line, nfields, value_kind, *shape, checks)
    fields = [f.decode("utf-8", "replace") for f in _BLANKS.split(line) if f]
    return _message(code, detail, fields, nfields, sep_word, shape, declared)


def _message(code, detail, fields, nfields, sep_word, shape, declared):
    if code == _E_FIELDS:
        return f"expected {nfields} {sep_word} fields, got {detail}"
    if code == _E_ROW:
        return f"row index {fields[0]!r} is not a positive integer"
    if code == _E_COL:
        return f"column index {fields[1]!r} is not a positive integer"
    if code == _E_VALUE:
        return f"value {fields[2]!r} is not a number"
    if code == _E_NONFINITE:
        return f"value {fields[2]!r} is not finite"
    if code == _E_NARROW:
        return f"value {fields[2]!r} overflows float32"
    if code in (_E_ROW_RANGE, _E_COL_RANGE):
        axis = 0 if code == _E_ROW_RANGE else 1
        which, bound = ("row", "column")[axis], shape[axis]
        if declared[axis]:
            return f"{which} index {detail} out of range 1..{bound}"
        if int(detail) < 1:
            return f"{which} index {detail} is below 1 (indices are 1-based)"
        return f"{which} index {detail} does not fit the index dtype"
    return "malformed line"  # the scanner and _diagnose disagree: a bug


# Below this many bytes a block is one piece: thread start-up would cost
# more than the scan.
_PIECE_BYTES = 1 << 16


def scan_triples(name, chunks, *, nfields, value_kind, shape=None,
                 index_dtype=np.int32, rows=None, first_line=1,
                 sep_word="tab-separated", initial=b"", checks=0, capacity=0):
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
    initial : bytes or (bytes, int)
        Already-read bytes that precede ``chunks``; with an int, they
        start at that offset (so a header's reader need not copy the rest).
    checks : int
        ``CHECK_FINITE`` and/or ``CHECK_FLOAT32`` (bit flags): values
        that fail them are errors naming the line.
    capacity : int
        Expected number of entries (a MatrixMarket size line's): the
        result arrays are made that long at once.  Only an estimate: more
        entries grow them, fewer are trimmed.

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
    # The result arrays, filled in place block after block (no per-block
    # arrays to convert and join: that was a fifth of read_mtx's time).
    # ``capacity`` is the caller's estimate; they grow if it falls short.
    out = [empty(int(capacity), index_dtype), empty(int(capacity), index_dtype),
           empty(int(capacity) if value_kind != NO_VALUE else 0, vdtype)]
    narrays = 2 if value_kind == NO_VALUE else 3
    kept = 0
    maxr = maxc = 0
    line0 = first_line
    carry = b""
    threads = numba.get_num_threads()
    no_f, no_i = np.empty(0, np.float64), np.empty(0, np.int64)

    def scan_block(block, off, end):
        # Lines block[off:end], scanned in place: a block is never
        # copied to cut off its partial last line.
        nonlocal maxr, maxc, line0, kept
        buf = np.frombuffer(block, np.uint8, count=end - off, offset=off)
        pieces = max(1, min(threads, buf.size // _PIECE_BYTES))
        cut, base = _cut_lines(buf, pieces)
        need = kept + int(base[-1])
        if need > out[0].size:
            grown = max(need, 2 * out[0].size)
            for j in range(narrays):
                a, out[j] = out[j], empty(grown, out[j].dtype)
                out[j][:kept] = a[:kept]
        r, c, v = out
        total = int(base[-1]) if value_kind == FLOAT_VALUE else 0
        # scratch of every block: from the pool, whose pages are already touched
        slow_idx, slow_line = empty(total, np.int64), empty(total, np.int64)
        slow_buf = empty(buf.size + total if total else 0, np.uint8)
        res = _scan_pieces(buf, cut, base, kept, nfields, value_kind, checks, nrows, ncols,
                           lo, hi, r, c, v if value_kind == FLOAT_VALUE else no_f,
                           v if value_kind == INT_VALUE else no_i, slow_idx, slow_line,
                           slow_buf, _POW10)
        k, nlines, bad, nslow, nbytes = (res[:, j] for j in range(5))
        lines_before = np.concatenate(([0], np.cumsum(nlines)[:-1]))
        failed = np.flatnonzero(bad >= 0)
        # Slow-path values of the pieces before the first bad line.
        upto = failed[0] if failed.size else pieces
        for i in range(upto):
            # _scan returns end positions: its outputs started at the bases.
            if nslow[i] > base[i]:
                s0 = cut[i] + base[i]
                with np.errstate(over="ignore"):
                    parsed = np.fromstring(slow_buf[s0:nbytes[i]].tobytes(), sep=" ")
                at = slow_idx[base[i]:nslow[i]]
                fault = (np.array([_value_fault(x, checks) for x in parsed])
                         if checks else np.zeros(0, np.int64))
                if fault.any():
                    j = int(np.flatnonzero(fault)[0])
                    where = line0 + lines_before[i] + slow_line[base[i] + j]
                    start = off + int(cut[i])
                    for _ in range(slow_line[base[i] + j]):
                        start = block.find(b"\n", start) + 1
                    text = block[start:block.find(b"\n", start)]
                    fields = [f.decode("utf-8", "replace") for f in _BLANKS.split(text) if f]
                    raise ParseError(name, where, _message(
                        int(fault[j]), 0, fields, nfields, sep_word, (nrows, ncols), declared))
                v[at[at >= 0]] = parsed[at >= 0]
        if failed.size:
            i = failed[0]
            b = off + int(bad[i])
            text = block[b:block.find(b"\n", b)]
            raise ParseError(name, line0 + lines_before[i] + nlines[i], _describe(
                text, nfields, value_kind, sep_word, (nrows, ncols), declared, checks))
        maxr, maxc = max(maxr, int(res[:, 5].max())), max(maxc, int(res[:, 6].max()))
        line0 += int(nlines.sum())
        # Blank or filtered-out lines leave a gap at the end of their piece:
        # close them up, piece after piece (numpy copies overlapping slices safely).
        at = kept
        for i in range(pieces):
            s0, s1 = kept + int(base[i]), int(k[i])
            if s0 != at and s1 > s0:
                for a in out[:narrays]:
                    a[at:at + s1 - s0] = a[s0:s1]
            at += s1 - s0
        kept = at

    if isinstance(initial, tuple):
        initial, initial_start = initial
    else:
        initial_start = 0
    blocks = itertools.chain(((initial, initial_start),), ((b, 0) for b in chunks))
    for block, start in blocks:
        if carry:
            # Only the line that straddles two blocks is joined by copying.
            nl = block.find(b"\n", start) + 1
            if not nl:
                carry += block[start:]
                continue
            joined = carry + block[start:nl]
            scan_block(joined, 0, len(joined))
            carry, start = b"", nl
        cut = block.rfind(b"\n", start) + 1
        if cut > start:
            scan_block(block, start, cut)
            carry = block[cut:]
        else:
            carry = block[start:]
        chunks.lines_done = line0 - 1
    if carry.strip():
        joined = carry + b"\n"
        scan_block(joined, 0, len(joined))
    chunks.lines_done = line0 - 1
    # Trim; copy when the estimate (or a row filter) left much unused.
    r, c, v = ((a[:kept].copy() if kept < 0.9 * a.size else a[:kept]) for a in out)
    v = None if value_kind == NO_VALUE else v
    if rows is not None and lo:
        r -= index_dtype.type(lo)
    return r, c, v, (maxr, maxc)
