"""Shortest round-trip decimal digits of a double, in 64-bit integer arithmetic.

The method is Schubfach (R. Giulietti, "The Schubfach way to render
doubles", 2020): for ``x = c * 2**q`` it picks the decimal exponent ``k``
at which the rounding interval of ``x`` (the reals that read back to
``x``) holds at most one multiple of ``10**(k+1)`` and at least one of
``10**k``, computes ``x``, and the interval's ends, times ``10**-k`` to
within a sticky bit (rounded to odd), and takes the multiple of
``10**(k+1)`` if it is in the interval, else the nearest multiple of
``10**k`` in it.  That is the shortest digit string that reads back to
``x``, and among shortest ones the closest, as ``repr`` gives.

The scaling uses ``10**-k`` as a 128-bit integer rounded up (a table of
``(hi, lo)`` uint64 pairs, built exactly with Python integers at import)
and a 64 x 128-bit product from 32-bit pieces, since numba has no 128-bit
integers.  It costs about a tenth of :func:`._dd.digits`' double-double
search, and covers every finite double, subnormals included.
"""

import functools
import math
from fractions import Fraction

import numba
import numpy as np

__all__ = ["shortest", "G_HI", "G_LO", "K_TAB", "H_TAB"]

_U32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


@functools.lru_cache(maxsize=None)
def _floor_log2_pow10(e):
    """floor(log2(10**e)), exactly (cached: the tables ask ~600 distinct e)."""
    if e >= 0:
        return (10 ** e).bit_length() - 1
    return -((10 ** -e).bit_length())  # 10**|e| is not a power of two for e != 0


def _floor_log10_pow2(q, scale=Fraction(1)):
    """floor(log10(scale * 2**q)), exactly."""
    t = math.log10(scale) + q * math.log10(2)  # off by ~1e-13 at most here
    k = math.floor(t)
    if 1e-9 < t - k < 1 - 1e-9:
        return k  # too far from an integer for the error to matter
    x = scale * Fraction(2) ** q
    while Fraction(10) ** k > x:
        k -= 1
    while Fraction(10) ** (k + 1) <= x:
        k += 1
    return k


# 10**-k for every k a double needs: k = floor(log10(2**q)) over q in
# [-1074, 971] spans [-324, 292].
_EMIN, _EMAX = -292, 324


def _pow10_table():
    hi = np.empty(_EMAX - _EMIN + 1, np.uint64)
    lo = np.empty_like(hi)
    for e in range(_EMIN, _EMAX + 1):
        r = _floor_log2_pow10(e) - 127  # g = 10**e / 2**r lies in [2**127, 2**128)
        g = (10 ** e >> r if r >= 0 else 10 ** e << -r) if e >= 0 else (1 << -r) // 10 ** -e
        g += 1  # rounded up: the product then never falls below an exact integer
        hi[e - _EMIN] = g >> 64
        lo[e - _EMIN] = g & ((1 << 64) - 1)
    return hi, lo


def _exponent_table():
    """Per biased exponent (0..2046): (k, h) for the regular case and for a
    power of two whose lower neighbour is closer (interval 3/4 as wide).

    ``h`` is the left shift of the scaled significand that makes the
    128-bit table entry's binary point fall at bit 128 of the product.
    """
    k = np.zeros((2047, 2), np.int64)
    h = np.zeros((2047, 2), np.int64)
    for be in range(2047):
        q = max(be, 1) - 1075
        regular = _floor_log10_pow2(q)
        irregular = _floor_log10_pow2(q, Fraction(3, 4))
        for j, kk in enumerate((regular, irregular)):
            k[be, j] = kk
            h[be, j] = q + _floor_log2_pow10(-kk) + 1
    return k, h


G_HI, G_LO = _pow10_table()
K_TAB, H_TAB = _exponent_table()


@numba.njit(cache=True, inline="always")
def _mul_64x64(a, b):
    """(hi, lo) uint64 halves of the 128-bit product of uint64 ``a`` and ``b``."""
    a0, a1 = a & _U32, a >> _S32
    b0, b1 = b & _U32, b >> _S32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    mid = (p00 >> _S32) + (p01 & _U32) + (p10 & _U32)
    hi = a1 * b1 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    return hi, (mid << _S32) | (p00 & _U32)


@numba.njit(cache=True, inline="always")
def _round_to_odd(g_hi, g_lo, cp):
    """floor(g * cp / 2**128), its lowest bit set when the rest is not zero."""
    x_hi, _ = _mul_64x64(g_lo, cp)
    y_hi, y_lo = _mul_64x64(g_hi, cp)
    z = y_lo + x_hi  # bits 64..127 of the product; wraps on carry
    top = y_hi + np.uint64(z < y_lo)
    return np.int64(top | np.uint64(z != np.uint64(0)))


@numba.njit(cache=True)
def shortest(x, g_hi, g_lo, k_tab, h_tab):
    """Shortest digits ``(D, E)`` with ``D * 10**E`` reading back to ``x``.

    ``x`` is a finite double > 0; ``D`` has no trailing zeros.  Among the
    shortest strings the nearest to ``x`` is taken (ties to even ``D``).

    Examples
    --------
    >>> shortest(0.3, G_HI, G_LO, K_TAB, H_TAB)
    (3, -1)
    >>> shortest(2.0 ** -1074, G_HI, G_LO, K_TAB, H_TAB)
    (5, -324)
    """
    bits = np.int64(np.float64(x).view(np.int64))
    be = (bits >> 52) & 0x7FF
    m = bits & 0xFFFFFFFFFFFFF
    c = m | (1 << 52) if be else m
    # At a power of two the next double down is half as far as the next
    # one up, so the interval's lower end is nearer (the subnormal
    # spacing does not change, so be == 1 is regular).
    irregular = m == 0 and be > 1
    j = 1 if irregular else 0
    k = k_tab[be, j]
    h = h_tab[be, j]
    gi = -k - _EMIN
    gh, gl = g_hi[gi], g_lo[gi]
    cb = c << 2
    cbl = cb - 1 if irregular else cb - 2
    cbr = cb + 2
    # 4 * (x and the interval's ends) * 10**-k, rounded to odd.
    vb = _round_to_odd(gh, gl, np.uint64(cb << h))
    vbl = _round_to_odd(gh, gl, np.uint64(cbl << h))
    vbr = _round_to_odd(gh, gl, np.uint64(cbr << h))
    # Round-half-even reading includes the ends exactly when c is even.
    odd = c & 1
    lower = vbl + odd
    upper = vbr - odd
    s = vb >> 2
    if s >= 10:
        sp = s // 10
        u_in = lower <= 40 * sp
        w_in = 40 * sp + 40 <= upper
        if u_in != w_in:
            d = sp + 1 if w_in else sp
            return _strip(d, k + 1)
    u_in = lower <= 4 * s
    w_in = 4 * s + 4 <= upper
    if u_in != w_in:
        return _strip(s + 1 if w_in else s, k)
    mid = 4 * s + 2
    up = vb > mid or (vb == mid and s & 1 == 1)
    return _strip(s + 1 if up else s, k)


@numba.njit(cache=True, inline="always")
def _strip(d, k):
    while d % 10 == 0:
        d //= 10
        k += 1
    return d, k
