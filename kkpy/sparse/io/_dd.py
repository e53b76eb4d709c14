"""Exact decimal <-> binary conversion helpers on double-double arithmetic.

A decimal ``m * 10**q`` (``m`` below 10**18) is multiplied out as a
double-double (about 106 bits) from a table of ``10**q`` held as
``hi + lo`` pairs.  The result's error is below ``2**-100`` of its size,
so it rounds to the correct double unless it lies that close to a
rounding boundary; those rare cases, and exponents outside the table, are
reported so that the caller takes an exact slow path (Python's or numpy's
correctly rounded conversions).  The same products give the writer its
digits: see :func:`digits`.
"""

import math
from fractions import Fraction

import numba
import numpy as np

__all__ = ["QMIN", "QMAX", "POW10_HI", "POW10_LO", "dd_times_pow10",
           "decimal_to_double", "digits"]

# Table range: 10**QMAX and the low parts of 10**QMIN stay normal doubles,
# and Dekker's split of the high parts cannot overflow.
QMIN, QMAX = -290, 290


def _table():
    hi = np.empty(QMAX - QMIN + 1)
    lo = np.empty(QMAX - QMIN + 1)
    for q in range(QMIN, QMAX + 1):
        exact = Fraction(10) ** q
        h = float(exact)
        hi[q - QMIN] = h
        lo[q - QMIN] = float(exact - Fraction(h))
    return hi, lo


POW10_HI, POW10_LO = _table()
_EPS = 2.0 ** -100


@numba.njit(cache=True, inline="always")
def _split(a):
    t = 134217729.0 * a  # 2**27 + 1
    hi = t - (t - a)
    return hi, a - hi


@numba.njit(cache=True, inline="always")
def _two_prod(a, b):
    """a * b = p + e exactly (Dekker; no fused multiply-add needed)."""
    p = a * b
    a1, a2 = _split(a)
    b1, b2 = _split(b)
    e = ((a1 * b1 - p) + a1 * b2 + a2 * b1) + a2 * b2
    return p, e


@numba.njit(cache=True)
def dd_times_pow10(xh, xl, q, hi_tab, lo_tab):
    """(xh + xl) * 10**q as a normalised double-double (QMIN <= q <= QMAX)."""
    ph = hi_tab[q - QMIN]
    pl = lo_tab[q - QMIN]
    p, e = _two_prod(xh, ph)
    e += xh * pl + xl * ph
    s = p + e
    return s, e - (s - p)


@numba.njit(cache=True)
def decimal_to_double(m, q, hi_tab, lo_tab):
    """m * 10**q correctly rounded (0 < m < 10**18); (value, ok), not ok: take the slow path."""
    if q < QMIN or q > QMAX:
        return 0.0, False
    mh = float(m)
    ml = float(m - np.int64(mh))
    h, lo = dd_times_pow10(mh, ml, q, hi_tab, lo_tab)
    if not (abs(h) < 1.7e308) or abs(h) < 1e-300:
        return 0.0, False
    if ml == 0.0 and lo_tab[q - QMIN] == 0.0:
        return h, True  # exact operands: h is the correctly rounded product
    # The exact value lies within tol = |h| * 2**-100 of h + lo.  Rounding
    # is monotonic, so if h plus a little more than lo + tol and h plus a
    # little less than lo - tol both round to h, so does every value
    # between, the exact one included; else it may sit on the other side
    # of a midpoint (a quarter ulp below a power of two, where the spacing
    # halves, included).  Twice tol covers the rounding of lo +- t (below
    # |h| * 2**-106).  Two additions instead of frexp and ldexp: 10 ns a
    # value against 16.5 (1e6 17-digit values, one thread).
    t = abs(h) * (2.0 * _EPS)
    if h + (lo + t) != h or h + (lo - t) != h:
        return 0.0, False
    return h, True


@numba.njit(cache=True)
def _round_dd(h, lo):
    """Nearest integer to h + lo (h >= 0, below 2**62), ties to even as repr does."""
    f = math.floor(h)
    t = (h - f) + lo
    r = math.floor(t + 0.5)
    d = np.int64(f) + np.int64(r)
    if t + 0.5 == r and d % 2 == 1:
        d -= 1
    return d


@numba.njit(cache=True)
def digits(x, single, hi_tab, lo_tab):
    """Shortest decimal digits that read back to ``x`` (finite, > 0).

    Returns ``(D, E, ok)``: ``x`` is ``D * 10**(E - ndigits(D) + 1)``, with
    ``E`` the decimal exponent of the leading digit and trailing zeros
    of ``D`` removed.  Reading back means as a double, then cast to
    float32 when ``single``.  Tries 15 then 16 (6 to 8 for float32)
    digits, verified by reading them back with :func:`decimal_to_double`,
    then 17 (9): 17 correctly rounded digits always identify a double, and
    the double-double product is far within the margin.  ``ok`` False:
    outside the table, take the slow path.
    """
    if not (x > 0.0) or x > 1e290 or x < 1e-270:
        return 0, 0, False
    e10 = int(math.floor(math.log10(x)))
    lo_p, hi_p = (6, 9) if single else (15, 17)
    p = lo_p
    while p <= hi_p:
        # digits D = round(x * 10**(p-1-e10)), with e10 corrected once
        # either way when log10 rounded across a power of ten.
        for _ in range(3):
            s = p - 1 - e10
            h, lo = dd_times_pow10(x, 0.0, s, hi_tab, lo_tab)
            d = _round_dd(h, lo)
            if d >= np.int64(10) ** p:
                e10 += 1
            elif d < np.int64(10) ** (p - 1):
                e10 -= 1
            else:
                break
        if p == hi_p:
            break
        v, exact = decimal_to_double(d, -s, hi_tab, lo_tab)
        if exact and (np.float32(v) == np.float32(x) if single else v == x):
            break
        p += 1
    while d % 10 == 0:
        d //= 10
    return d, e10, True
