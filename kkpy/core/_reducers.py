"""Reducers for ``parallel_reduce``: how two partial results combine.

A reducer is a join (an expression or a compiled function of two values) plus
an identity, the result of reducing nothing.  Partial results are combined in
a fixed chunk order, so a reduction gives the same bits for any thread count.
"""
from __future__ import annotations

import copy

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
    #: Result holders a bound reducer (``kkpy.Max(result)``) writes into.
    bound = None

    def __call__(self, *holders):
        """Bind result holders, as Kokkos's ``Max<T>(result)`` does.

        ``parallel_reduce(label, policy, kernel, *args, kkpy.Max(result))``
        then stores the result in ``result``, a View or array of one element
        (``MinLoc(value, index)``: the index in a second holder), and still
        returns it.

        Examples
        --------
        >>> import numpy as np, kkpy
        >>> @kkpy.kernel
        ... def value(i, x):
        ...     return x[i]
        >>> best = kkpy.View("best", 1)
        >>> kkpy.parallel_reduce("max", kkpy.RangePolicy(kkpy.Serial(), 0, 3), value,
        ...                      np.array([2.0, 7.0, 1.0]), kkpy.Max(best))
        7.0
        >>> best.tolist()
        [7.0]
        """
        if not 1 <= len(holders) <= (2 if self.loc else 1):
            raise TypeError(f"kkpy.{self.name}(...) takes {'1 or 2 holders (value, index)' if self.loc else '1 result holder'}, "
                            f"got {len(holders)}")
        for h in holders:
            if getattr(h, "size", None) != 1:
                raise ValueError(f"kkpy.{self.name}(result): result must be a View or array of "
                                 f"one element, got {type(h).__name__} of shape {getattr(h, 'shape', None)}")
        bound = copy.copy(self)
        bound.bound = holders
        return bound

    def store(self, result):
        """Write ``result`` into the bound holders, if any; return it."""
        if self.bound:
            from ._views import deep_copy

            parts = result if self.loc else (result,)
            for holder, part in zip(self.bound, parts):
                if isinstance(part, tuple):
                    raise ValueError(f"kkpy.{self.name}: an MDRange index is a tuple; "
                                     "take it from the returned value")
                deep_copy(holder, np.asarray(part).astype(holder.dtype)[()])
        return result

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
