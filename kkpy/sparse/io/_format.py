"""Fast text formatting of 1-based ``row col [value]`` lines.

A numba kernel writes whole blocks of lines into a byte buffer.  Floats
are formatted once per distinct value in Python (shortest string that
reads back to the same number) and copied as bytes, which is both exact
and fast for the few distinct values sparse files usually hold.
"""

import numba
import numpy as np

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


@numba.njit(cache=True)
def _put_int(out, p, v):
    if v < 0:
        out[p] = 45
        p += 1
        v = -v
    nd = 1
    q = v // 10
    while q:
        nd += 1
        q //= 10
    e = p + nd
    while True:
        e -= 1
        out[e] = 48 + v % 10
        v //= 10
        if e == p:
            break
    return p + nd


@numba.njit(cache=True)
def _format_block(rows, cols, kind, tok_of, tok_bytes, tok_off, ints, sep, out):
    """Write lines ``r+1 sep c+1 [sep value]`` into ``out``; bytes used."""
    p = 0
    # Sparse files list a row's entries together: copy the previous line's
    # row text instead of formatting the same number again.
    prev = -1
    ps = pe = 0
    for i in range(rows.size):
        r = np.int64(rows[i])
        if r == prev:
            for j in range(ps, pe):
                out[p] = out[j]
                p += 1
        else:
            ps = p
            p = _put_int(out, p, r + 1)
            pe = p
            prev = r
        out[p] = sep
        p = _put_int(out, p + 1, np.int64(cols[i]) + 1)
        if kind == 1:
            out[p] = sep
            p += 1
            t = tok_of[i]
            for j in range(tok_off[t], tok_off[t + 1]):
                out[p] = tok_bytes[j]
                p += 1
        elif kind == 2:
            out[p] = sep
            p = _put_int(out, p + 1, np.int64(ints[i]))
        out[p] = 10
        p += 1
    return p


# Up to this many distinct values get the shortest text (numpy's digit
# generation, a few microseconds each); beyond, a C-speed format that is
# exact but not always shortest keeps random-valued files fast.
SHORTEST_MAX = 4096


def _bulk_texts(uniq):
    """Exact texts for many values at about 0.2 us each."""
    if uniq.dtype == np.float32:
        # 9 significant digits land well inside a float32's rounding
        # interval, so reading them as float64 and casting is exact.
        return ["%.9g" % x for x in uniq.tolist()]
    return list(map(repr, uniq.astype(np.float64).tolist()))


def _token_table(vals):
    """Distinct values as one byte string with offsets, and each entry's id."""
    # Distinct bit patterns, not values: -0.0 and 0.0 compare equal.
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}.get(vals.dtype.itemsize)
    bits = vals.view(uint) if uint else vals
    if vals.size and np.all(bits == bits[0]):
        uniq, inverse = vals[:1], np.zeros(vals.size, np.int64)
    else:
        ubits, inverse = np.unique(bits, return_inverse=True)
        uniq = ubits.view(vals.dtype) if uint else ubits
    if uniq.size <= SHORTEST_MAX:
        texts = [format_value(u) for u in uniq]
    else:
        texts = _bulk_texts(uniq)
    off = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)), out=off[1:])
    table = np.frombuffer("".join(texts).encode("ascii"), np.uint8)
    longest = int(np.diff(off).max()) if len(texts) else 0
    return inverse, table, off, longest


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
    empty_b = np.empty(0, np.uint8)
    for lo in range(0, n, BLOCK_LINES):
        hi = min(n, lo + BLOCK_LINES)
        r, c = rows[lo:hi], cols[lo:hi]
        width = 2 * 21 + 3
        tok_of, table, off, ints, kind = empty_i, empty_b, empty_i, empty_i, 0
        if vals is not None:
            v = np.asarray(vals[lo:hi])
            if v.dtype.kind not in "fiub":
                raise ValueError(f"cannot write values of dtype {v.dtype} (real numbers only)")
            if v.dtype.kind in "iub":
                kind, ints = 2, v.astype(np.int64)
                width += 21
            else:
                kind = 1
                tok_of, table, off, longest = _token_table(v)
                width += longest
        out = np.empty((hi - lo) * width, np.uint8)
        used = _format_block(r, c, kind, tok_of, table, off, ints, ord(sep), out)
        f.write(out[:used].data)
