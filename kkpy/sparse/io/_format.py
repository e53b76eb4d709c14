"""Fast text formatting of 1-based ``row col [value]`` lines.

A numba kernel writes whole blocks of lines into a byte buffer, one
piece per thread.  Floats get the shortest text that reads back to the
same number, as ``repr`` (and scipy's ``mmwrite``) write: for doubles,
Schubfach's digits in integer arithmetic (:mod:`._shortest`); for
float32 values, which are read back through a double, digits from a
double-double product verified by an exact read-back (:mod:`._dd`).
Only inf and nan (and float32 values outside the double-double table's
range) are formatted in Python.
"""

import math

import numba
import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros

from ._dd import POW10_HI, POW10_LO, digits
from ._shortest import G_HI, G_LO, H_TAB, K_TAB, shortest

__all__ = ["format_value", "write_triples"]

# Lines per block: ~40 MB of text at most, so memory stays bounded.
BLOCK_LINES = 1 << 20


def format_value(x):
    """Shortest text that reads back (as float64, then cast) to ``x``.

    Parameters
    ----------
    x : numpy floating scalar

    Returns
    -------
    str

    Examples
    --------
    >>> format_value(np.float32(0.0625)), format_value(np.float32(1.0))
    ('0.0625', '1')
    >>> format_value(np.float64(1e-300))
    '1e-300'
    """
    if not np.isfinite(x):
        return str(float(x))
    if x == 0 or 1e-4 <= abs(x) < 1e16:
        s = np.format_float_positional(x, unique=True, trim="-")
    else:
        s = np.format_float_scientific(x, unique=True, trim="-")
    # numpy's shortest digits identify x among values of x's own type; we
    # read through float64 first, so check for a double-rounding miss.
    if type(x)(float(s)) != x:
        s = repr(float(x))
    return s


# "00" .. "99": two digits per division, and unsigned operands, so that
# the division by a constant compiles to a multiply without the sign
# fix-ups of Python's floor division (together 3x faster than a digit
# at a time on the benchmark's 17-digit values).
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), np.uint8).copy()
_POW10_U = np.array([10 ** i for i in range(20)], np.uint64)


@numba.njit(cache=True, inline="always")
def _ndigits(d):
    """Decimal digits of uint64 ``d`` (1 for 0).

    From the bit length: ``b * 1233 >> 12`` is floor(b * log10(2)), which
    is the digit count or one less, and one compare decides: 1.1 ns a
    value against 5 ns for a loop of compares, on 16-17 digit values (the
    writer counts the digits of every index and every value).
    """
    bits = 64 - np.int64(leading_zeros(d | np.uint64(1)))
    t = (bits * 1233) >> 12
    return t + 1 if (d | np.uint64(1)) >= _POW10_U[t] else t  # d | 1: 0 has one digit


@numba.njit(cache=True, inline="always")
def _put_digits(out, p, d, nd):
    """The ``nd`` decimal digits of uint64 ``d`` (leading zeros kept) at ``p``."""
    e = p + nd
    while e - p >= 2:
        q = d // np.uint64(100)
        r = np.int64(d - q * np.uint64(100))
        out[e - 1] = _PAIRS[2 * r + 1]
        out[e - 2] = _PAIRS[2 * r]
        e -= 2
        d = q
    if e > p:
        out[p] = 48 + np.int64(d % np.uint64(10))
    return p + nd


@numba.njit(cache=True, inline="always")
def _put_int(out, p, v):
    if v < 0:
        out[p] = 45
        p += 1
        u = np.uint64(-(v + 1)) + np.uint64(1)  # -v overflows for the most negative int64
    else:
        u = np.uint64(v)
    return _put_digits(out, p, u, _ndigits(u))


@numba.njit(cache=True)
def _put_float(out, p, x, single, hi_tab, lo_tab):
    """Write ``x`` as ``repr`` would (shortest round-trip text, ``1e-05``
    and ``1e+16`` style outside [1e-4, 1e16), integral values without
    ``.0``); returns (new p, ok).  Not ok: a value :func:`_dd.digits`
    cannot convert (float32 subnormal or huge; non-finite): the caller
    formats it.
    """
    if x == 0.0:
        if math.copysign(1.0, x) < 0:
            out[p] = 45
            p += 1
        out[p] = 48
        return p + 1, True
    if single:
        di, e10, ok = digits(abs(x), single, hi_tab, lo_tab)
        if not ok:
            return p, False
        d = np.uint64(di)
        nd = _ndigits(d)
    elif not math.isfinite(x):
        return p, False
    else:
        di, e = shortest(abs(x), G_HI, G_LO, K_TAB, H_TAB)
        d = np.uint64(di)
        nd = _ndigits(d)
        e10 = e + nd - 1
    if x < 0:
        out[p] = 45
        p += 1
    if -4 <= e10 < 16:
        if e10 < 0:
            out[p] = 48
            out[p + 1] = 46
            p += 2
            for _ in range(-e10 - 1):
                out[p] = 48
                p += 1
            return _put_digits(out, p, d, nd), True
        if nd <= e10 + 1:
            p = _put_digits(out, p, d, nd)
            for _ in range(e10 + 1 - nd):
                out[p] = 48
                p += 1
            return p, True
        # All digits one place right, then the integer part back over the
        # gap, which the point then fills.
        _put_digits(out, p + 1, d, nd)
        for i in range(e10 + 1):
            out[p + i] = out[p + i + 1]
        out[p + e10 + 1] = 46
        return p + nd + 1, True
    _put_digits(out, p + 1, d, nd)
    out[p] = out[p + 1]
    p += 1
    if nd > 1:
        out[p] = 46
        p += nd
    out[p] = 101
    out[p + 1] = 45 if e10 < 0 else 43
    e = abs(e10)
    return _put_digits(out, p + 2, np.uint64(e), 3 if e >= 100 else 2), True


@numba.njit(cache=True, parallel=True)
def _format_pieces(rows, cols, kind, fvals, ivals, single, slow_at, slow_tab, slow_off,
                   sep, hi_tab, lo_tab, bounds, width, out, used):
    """Lines ``r+1 sep c+1 [sep value]`` of entries ``bounds[i]:bounds[i+1]``
    into ``out[bounds[i] * width:]``, one piece per thread; ``used[i]``
    bytes each.  Values listed in ``slow_at`` come from the text table.
    """
    for piece in numba.prange(bounds.size - 1):
        lo, hi = bounds[piece], bounds[piece + 1]
        p = lo * width
        j = np.searchsorted(slow_at, lo)
        # Sparse files list a row's entries together, and challenge files
        # repeat one value: copy the previous line's text instead of
        # formatting the same number again.
        prev = -1
        rs = re = 0
        have_v = False
        pv = 0.0
        vs = ve = 0
        for i in range(lo, hi):
            r = np.int64(rows[i])
            if r == prev:
                for k in range(rs, re):
                    out[p] = out[k]
                    p += 1
            else:
                rs = p
                p = _put_int(out, p, r + 1)
                re = p
                prev = r
            out[p] = sep
            p = _put_int(out, p + 1, np.int64(cols[i]) + 1)
            if kind == 1:
                out[p] = sep
                p += 1
                x = fvals[i]
                if j < slow_at.size and slow_at[j] == i:
                    for k in range(slow_off[j], slow_off[j + 1]):
                        out[p] = slow_tab[k]
                        p += 1
                    j += 1
                elif have_v and x == pv and math.copysign(1.0, x) == math.copysign(1.0, pv):
                    for k in range(vs, ve):
                        out[p] = out[k]
                        p += 1
                else:
                    vs = p
                    p, _ = _put_float(out, p, x, single, hi_tab, lo_tab)
                    ve = p
                    pv = x
                    have_v = True
            elif kind == 2:
                out[p] = sep
                p = _put_int(out, p + 1, np.int64(ivals[i]))
            out[p] = 10
            p += 1
        used[piece] = p - lo * width


def _slow_table(v, v64, single):
    """Values the compiled formatter leaves to Python: positions and texts."""
    if single:
        a = np.abs(v64)
        at = np.flatnonzero(~((a >= 1e-270) & (a <= 1e290)) & (a != 0))
    else:
        at = np.flatnonzero(~np.isfinite(v64))
    texts = [format_value(x) for x in v[at]]
    off = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)), out=off[1:])
    table = np.frombuffer("".join(texts).encode("ascii"), np.uint8)
    return at, table, off, int(np.diff(off).max()) if len(texts) else 0


def write_triples(f, rows, cols, vals=None, sep="\t"):
    """Write 0-based COO arrays to binary file ``f`` as 1-based text lines.

    Parameters
    ----------
    f : binary file
    rows, cols : array_like of int
        0-based indices.
    vals : array_like, optional
        Floats (shortest exact text), integers, or None for no value
        column.
    sep : str
        Field separator.
    """
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    n = rows.size
    empty_i = np.empty(0, np.int64)
    empty_f = np.empty(0, np.float64)
    empty_b = np.empty(0, np.uint8)
    pieces = 4 * numba.get_num_threads()
    for lo in range(0, n, BLOCK_LINES):
        hi = min(n, lo + BLOCK_LINES)
        r, c = rows[lo:hi], cols[lo:hi]
        width = 2 * 21 + 3
        fv, ints, kind, single = empty_f, empty_i, 0, False
        at, table, off = empty_i, empty_b, np.zeros(1, np.int64)
        if vals is not None:
            v = np.asarray(vals[lo:hi])
            if v.dtype.kind not in "fiub":
                raise ValueError(f"cannot write values of dtype {v.dtype} (real numbers only)")
            if v.dtype.kind in "iub":
                kind, ints = 2, v.astype(np.int64)
                width += 21
            else:
                kind, single = 1, v.dtype.itemsize <= 4
                fv = v.astype(np.float64)
                at, table, off, longest = _slow_table(v, fv, single)
                width += max(longest, 25)
        bounds = np.linspace(0, hi - lo, pieces + 1).astype(np.int64)
        out = np.empty((hi - lo) * width, np.uint8)
        used = np.zeros(pieces, np.int64)
        _format_pieces(r, c, kind, fv, ints, single, at, table, off, ord(sep),
                       POW10_HI, POW10_LO, bounds, width, out, used)
        for i in range(pieces):
            start = bounds[i] * width
            f.write(out[start:start + used[i]].data)
