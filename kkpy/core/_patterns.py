"""The three parallel patterns: ``parallel_for``, ``parallel_reduce``, ``parallel_scan``.

These functions validate arguments, translate numba's typing errors into a
one-line message that names the pattern label, the kernel and the argument,
and hand the launch to the backend of the policy's execution space.
"""
from __future__ import annotations

import numpy as np
from numba.core.errors import TypingError

from .. import profiling
from ._kernel import as_kernel
from ._policies import as_policy
from ._reducers import Reducer, Sum
from ._views import kernel_arg

__all__ = ["parallel_for", "parallel_reduce", "parallel_scan", "KernelError"]


class KernelError(TypeError):
    """A kernel could not be launched with the given arguments."""


def _backend(space):
    if space.backend == "host":
        from . import _host
        return _host
    from . import _cuda
    return _cuda


def _split_label(label, policy, kernel, args):
    """Kokkos makes the label optional: ``parallel_for(policy, kernel, *args)``."""
    if isinstance(label, str):
        return label, policy, kernel, args
    return None, label, policy, (kernel, *args) if kernel is not _NO_ARG else args


_NO_ARG = object()


def _index_count(policy):
    return {"range": 1, "team": 1}.get(policy.kind) or policy.rank


def _check_arity(pattern, label, policy, k, args):
    nidx = _index_count(policy)
    if k.nparams is not None and k.nparams != nidx + len(args):
        what = "member" if policy.kind == "team" else ("i" if nidx == 1 else f"{nidx} indices")
        raise KernelError(
            f"{pattern} '{label}': kernel '{k.name}' takes {k.nparams} arguments "
            f"({what} plus {k.nparams - nidx}), but {len(args)} extra argument(s) were given")


def _first_line(err):
    for line in str(err).splitlines():
        line = line.strip()
        if line and not line.startswith(("- ", "During:", "File", "^", "[1]", "Failed in")):
            return line
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _describe(args):
    from numba import typeof

    out = []
    for n, a in enumerate(args):
        try:
            out.append(f"arg {n + 1}: {typeof(a)}")
        except Exception:
            out.append(f"arg {n + 1}: unsupported {type(a).__name__}")
    return ", ".join(out) or "no arguments"


def _launch(pattern, label, policy, kernel, args, run):
    k = as_kernel(kernel)
    policy = as_policy(policy)
    label = label or k.name
    _check_arity(pattern, label, policy, k, args)
    args = tuple(kernel_arg(a) for a in args)
    timing = profiling._timer_enabled
    if timing:
        profiling._begin(label, pattern)
    try:
        return run(policy, k, args)
    except TypingError as err:
        raise KernelError(
            f"{pattern} '{label}': kernel '{k.name}' cannot be compiled for ({_describe(args)}): "
            f"{_first_line(err)}") from None
    except ValueError as err:
        if "cannot determine Numba type" in str(err):
            raise KernelError(f"{pattern} '{label}': kernel '{k.name}' got an argument numba "
                              f"cannot compile for: {err}") from None
        raise
    finally:
        if timing:
            profiling._end(label, pattern)


def parallel_for(label, policy, kernel=_NO_ARG, *args):
    """Run ``kernel`` once for every index of ``policy``.

    Parameters
    ----------
    label : str, optional
        Name for profiling and errors; may be omitted (``parallel_for(policy, kernel, ...)``).
    policy : RangePolicy, MDRangePolicy, TeamPolicy or int
        An int ``n`` means ``RangePolicy(0, n)`` on the default space.
    kernel : callable
        ``kernel(i, *args)`` for a RangePolicy, ``kernel(i, j[, k...], *args)``
        for an MDRangePolicy, ``kernel(member, *args)`` for a TeamPolicy.
    *args
        Views, arrays and scalars passed to every call.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> @kkpy.kernel
    ... def fill(i, j, a):
    ...     a[i, j] = 10 * i + j
    >>> a = kkpy.View("a", (2, 3), dtype=np.int64)
    >>> kkpy.parallel_for("fill", kkpy.MDRangePolicy((0, 0), (2, 3)), fill, a)
    >>> a.tolist()
    [[0, 1, 2], [10, 11, 12]]
    """
    label, policy, kernel, args = _split_label(label, policy, kernel, args)
    _launch("parallel_for", label, policy, kernel, args,
            lambda p, k, a: _backend(p.space).parallel_for(p, k, a))


def parallel_reduce(label, policy, kernel=_NO_ARG, *args, reducer=Sum):
    """Combine the values ``kernel`` returns for every index, and return the result.

    Parameters
    ----------
    label, policy, kernel, *args
        As for :func:`parallel_for`; the kernel *returns* its contribution.
    reducer : Reducer, default Sum
        ``Sum``, ``Prod``, ``Min``, ``Max``, ``MinLoc``, ``MaxLoc`` (these two
        return ``(value, index)``), ``LAnd``, ``LOr`` or a :class:`Reducer`.

    Returns
    -------
    scalar or tuple
        The reduction; the reducer's identity for an empty range.  The result
        does not depend on the number of threads.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> @kkpy.kernel
    ... def dot(i, x, y):
    ...     return x[i] * y[i]
    >>> x = np.arange(4.0)
    >>> kkpy.parallel_reduce("dot", 4, dot, x, x)
    14.0
    >>> kkpy.parallel_reduce("argmax", 4, dot, x, -x, reducer=kkpy.MaxLoc)
    (0.0, 0)
    """
    label, policy, kernel, args = _split_label(label, policy, kernel, args)
    if not isinstance(reducer, Reducer):
        raise TypeError(f"reducer must be a kkpy reducer (kkpy.Sum, ...), got {reducer!r}")

    def run(p, k, a):
        if reducer.loc and p.kind != "range":
            raise ValueError(f"{reducer.name} needs a RangePolicy")
        backend = _backend(p.space)
        dtype = backend.return_dtype(k, _index_types(p), a)
        return backend.parallel_reduce(p, k, a, reducer, dtype)

    return _launch("parallel_reduce", label, policy, kernel, args, run)


def _index_types(policy):
    from numba import types
    if policy.kind == "team":
        from ._team import member_type
        return (member_type(),)
    return (types.int64,) * _index_count(policy)


def parallel_scan(label, policy, kernel=_NO_ARG, *args, out=None, inclusive=False):
    """Prefix sums of the values ``kernel`` returns over a RangePolicy.

    Parameters
    ----------
    label, policy, kernel, *args
        As for :func:`parallel_reduce`.
    out : View or array, optional
        Receives the exclusive (or inclusive) prefix sums; ``out[k]`` belongs to
        index ``begin + k``.  If ``out`` has one more element than the range,
        an exclusive scan also stores the total there (a CRS ``row_map``).
    inclusive : bool, default False

    Returns
    -------
    scalar
        The total of all contributions.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> @kkpy.kernel
    ... def count(i, a):
    ...     return a[i]
    >>> a = np.array([3, 1, 2]); out = np.zeros(4, np.int64)
    >>> kkpy.parallel_scan("offsets", 3, count, a, out=out)
    6
    >>> out.tolist()
    [0, 3, 4, 6]
    """
    label, policy, kernel, args = _split_label(label, policy, kernel, args)

    def run(p, k, a):
        if p.kind != "range":
            raise ValueError("parallel_scan needs a RangePolicy")
        backend = _backend(p.space)
        if out is None:
            return backend.parallel_reduce(p, k, a, Sum, backend.return_dtype(k, _index_types(p), a))
        target = kernel_arg(out)
        if target.ndim != 1 or target.shape[0] < len(p):
            raise ValueError(f"parallel_scan '{label}': out must be 1-D with at least "
                             f"{len(p)} elements, got shape {tuple(target.shape)}")
        return backend.parallel_scan(p, k, a, target, inclusive)

    return _launch("parallel_scan", label, policy, kernel, args, run)
