"""Reducers for ``parallel_reduce``: how two partial results combine.

A reducer is a join (an expression or a compiled function of two values) plus
an identity, the result of reducing nothing.  Partial results are combined in
a fixed chunk order, so a reduction gives the same bits for any thread count.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Reducer", "Sum", "Prod", "Min", "Max", "MinLoc", "MaxLoc", "LAnd", "LOr"]


class Reducer:
    """A user reducer: ``identity`` and a ``join(a, b)`` function.

    ``join`` must be associative; it is compiled like a kernel.

    Parameters
    ----------
    identity : scalar
        The neutral element (returned for an empty range).
    join : callable
        ``join(a, b) -> c``, a plain Python function or a ``@kkpy.kernel``.
    name : str, optional

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> def absmax(a, b):
    ...     return max(abs(a), abs(b))
    >>> @kkpy.kernel
    ... def value(i, x):
    ...     return x[i]
    >>> x = np.array([1.0, -7.0, 3.0])
    >>> pol = kkpy.RangePolicy(kkpy.Serial(), 0, 3)
    >>> kkpy.parallel_reduce("absmax", pol, value, x, reducer=kkpy.Reducer(0.0, absmax))
    7.0
    """

    loc = False
    expr = None  # builtin joins are inlined expressions of a and b

    def __init__(self, identity, join, name=None):
        self._identity = identity
        self.join = join
        self.name = name or getattr(join, "__name__", "custom")

    def identity(self, dtype):
        return np.asarray(self._identity).astype(dtype, casting="unsafe")[()]

    def result_dtype(self, dtype):
        return np.dtype(dtype)

    def finish(self, value, index=None):
        return value.item() if hasattr(value, "item") else value

    def __repr__(self):
        return f"kkpy.Reducer({self._identity!r}, {self.name})"


class _Builtin(Reducer):
    def __init__(self, name, expr, identity, loc=False, widen=False):
        self.name, self.expr, self._ident, self.loc, self._widen = name, expr, identity, loc, widen
        self.join = None

    def result_dtype(self, dtype):
        dtype = np.dtype(dtype)
        if self._widen and (dtype.kind in "biu"):
            # numpy sums integers in 64 bits; so do we, so results match np.sum
            return np.dtype(np.uint64 if dtype.kind == "u" else np.int64)
        if self.name in ("LAnd", "LOr"):
            return np.dtype(np.bool_)
        return dtype

    def identity(self, dtype):
        return self._ident(np.dtype(dtype))

    def finish(self, value, index=None):
        value = value.item() if hasattr(value, "item") else value
        if self.loc:
            return (value, int(index))
        return value

    def __repr__(self):
        return f"kkpy.{self.name}"


def _extreme(which):
    def ident(dtype):
        if dtype.kind == "f":
            return dtype.type(np.inf if which == "max" else -np.inf)
        if dtype.kind == "b":
            return np.bool_(which == "max")
        info = np.iinfo(dtype)
        return dtype.type(info.max if which == "max" else info.min)
    return ident


#: Sum of contributions (integers accumulate in 64 bits, like numpy).
Sum = _Builtin("Sum", "{a} + {b}", lambda d: d.type(0), widen=True)
#: Product of contributions.
Prod = _Builtin("Prod", "{a} * {b}", lambda d: d.type(1), widen=True)
#: Smallest contribution (+inf, or the type's max, for an empty range).
Min = _Builtin("Min", "{b} if {b} < {a} else {a}", _extreme("max"))
#: Largest contribution.
Max = _Builtin("Max", "{b} if {b} > {a} else {a}", _extreme("min"))
#: ``(value, index)`` of the smallest contribution; ties go to the lowest index.
MinLoc = _Builtin("MinLoc", "{b} < {a}", _extreme("max"), loc=True)
#: ``(value, index)`` of the largest contribution; ties go to the lowest index.
MaxLoc = _Builtin("MaxLoc", "{b} > {a}", _extreme("min"), loc=True)
#: Logical and of the contributions' truth values.
LAnd = _Builtin("LAnd", "{a} and ({b} != 0)", lambda d: np.bool_(True))
#: Logical or of the contributions' truth values.
LOr = _Builtin("LOr", "{a} or ({b} != 0)", lambda d: np.bool_(False))
