"""The three parallel patterns: ``parallel_for``, ``parallel_reduce``, ``parallel_scan``.

These functions validate arguments, translate numba's typing errors into a
one-line message that names the pattern label, the kernel and the argument,
and hand the launch to the backend of the policy's execution space.
"""
from __future__ import annotations

import numpy as np
from numba.core.errors import TypingError

from .. import profiling
from . import _backends
from ._kernel import Kernel, as_kernel
from ._nested import nested_reduce, nested_scan, register_in_kernel_patterns
from ._policies import MDRangePolicy, RangePolicy, TeamPolicy, as_policy
from ._reducers import Reducer, Sum
from ._team import NestedRange
from ._views import kernel_arg

_ndarray = np.ndarray
_POLICIES = frozenset((RangePolicy, MDRangePolicy, TeamPolicy))

__all__ = ["parallel_for", "parallel_reduce", "parallel_scan", "KernelError"]


class KernelError(TypeError):
    """A kernel could not be launched with the given arguments."""


def _backend(space):
    return _backends.backend(space.backend)


_NO_ARG = object()


def _nested_args(first, rest):
    """The kernel's arguments of a nested pattern (``first`` took the kernel's slot)."""
    return rest if first is _NO_ARG else (first, *rest)


def _split_label(label, policy, kernel, args):
    """Kokkos makes the label optional: ``parallel_for(policy, kernel, *args)``."""
    if label is None or isinstance(label, str):
        return label, policy, kernel, args
    return None, label, policy, (kernel, *args) if kernel is not _NO_ARG else args


def _params(k):
    """Positional parameter names of a kernel, for messages."""
    import inspect

    try:
        params = inspect.signature(k.py_func).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _arity_error(pattern, label, policy, k, args):
    names = _params(k)
    nidx = policy.nindex
    lead = ", ".join(names[:nidx]) or "the index"
    need = names[nidx:]
    head = f"{pattern} '{label}': kernel '{k.name}({', '.join(names)})' takes {len(need)} " \
           f"argument(s) after {lead}, got {len(args)}"
    if len(args) < len(need):
        return KernelError(head + "; missing " + ", ".join(repr(n) for n in need[len(args):]))
    return KernelError(head + f"; unexpected argument {len(need) + 1}")


def _arg_name(k, policy, n):
    names = _params(k)[policy.nindex:]
    return f"argument {n + 1} ('{names[n]}')" if n < len(names) else f"argument {n + 1}"


def _describe(k, policy, args):
    from numba import typeof

    names = _params(k)[policy.nindex:]
    out = []
    for n, a in enumerate(args):
        name = names[n] if n < len(names) else f"arg {n + 1}"
        try:
            out.append(f"{name}: {typeof(a)}")
        except Exception:
            out.append(f"{name}: unsupported {type(a).__name__}")
    return ", ".join(out) or "no arguments"


_NOISE = ("- ", "During:", "File", "^", "[1]", "Failed in", "<source", "There are", "Of which",
          "Overload", "With argument", "No match", "Rejected")


def _reason(err):
    """The one line of a numba typing error a user needs, plus where in their code."""
    import re

    # numba colours its messages where colorama is installed: the escapes would
    # hide every line's start from the filters below and land in the reason
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    lines = [ln.strip() for ln in text.splitlines()]
    reason = next((ln for ln in lines if ln and not ln.startswith(_NOISE)), type(err).__name__)
    sig = next((ln[3:].strip() for ln in lines if ln.startswith(">>>")), None)
    if sig and reason.startswith("No implementation of function"):
        reason = f"no implementation of {sig}"
    reason = re.sub(r"\s+", " ", reason)
    for m in re.finditer(r'File "([^"]+)", line (\d+)', text):
        if "kkdrv_" not in m.group(1) and "<kkpy driver" not in m.group(1):
            import os
            reason += f" (at {os.path.basename(m.group(1))}:{m.group(2)})"
            break
    return reason


def _prepare(pattern, label, policy, kernel, args, extra=0):
    """Normalise a launch: the label, policy, Kernel, and the arguments as compiled code sees them.

    ``extra`` counts parameters between the index and the arguments (a
    Kokkos-form scan's ``update, final``).
    """
    k = kernel if type(kernel) is Kernel else as_kernel(kernel)
    if type(policy) not in _POLICIES:
        policy = as_policy(policy)
    label = label or k.name
    nparams = k.nparams
    if nparams is not None and nparams != policy.nindex + extra + len(args):
        raise _arity_error(pattern, label, policy, k, args)
    for a in args:  # a loop, not a comprehension: plain arrays, the usual case, stay cheap
        if type(a) is not _ndarray:
            args = _kernel_args(pattern, label, policy, k, args)
            break
    return label, policy, k, args


def _kernel_args(pattern, label, policy, k, args):
    out = []
    for n, a in enumerate(args):
        try:
            out.append(kernel_arg(a))
        except TypeError as err:
            raise KernelError(f"{pattern} '{label}': kernel '{k.name}' "
                              f"{_arg_name(k, policy, n)} {err}") from None
    return tuple(out)


def _launch(pattern, label, policy, k, args, run, *extra):
    timing = profiling._timer_enabled
    if timing:
        profiling._begin(label, pattern)
    try:
        return run(policy, k, args, *extra)
    except TypingError as err:
        raise KernelError(
            f"{pattern} '{label}': kernel '{k.name}' cannot be compiled for "
            f"({_describe(k, policy, args)}): {_reason(err)}") from None
    except ValueError as err:
        if "cannot determine numba type" in str(err).lower():
            raise KernelError(f"{pattern} '{label}': kernel '{k.name}' got an argument numba "
                              f"cannot compile for ({_describe(k, policy, args)})") from None
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
    if type(label) is not str:
        label, policy, kernel, args = _split_label(label, policy, kernel, args)
    label, policy, k, args = _prepare("parallel_for", label, policy, kernel, args)
    _launch("parallel_for", label, policy, k, args, _backend(policy.space).parallel_for)


def parallel_reduce(label, policy, kernel=_NO_ARG, *args, reducer=Sum):
    """Combine the values ``kernel`` returns for every index, and return the result.

    Parameters
    ----------
    label, policy, kernel, *args
        As for :func:`parallel_for`; the kernel *returns* its contribution.
    reducer : Reducer, default Sum
        Given by keyword, or last among the arguments as Kokkos passes it,
        bound or not to a result holder (``kkpy.Max(result)`` stores the
        result there too).  ``Sum``, ``Prod``, ``Min``, ``Max``, ``MinLoc``, ``MaxLoc``, ``LAnd``,
        ``LOr`` or a :class:`Reducer`.  ``MinLoc`` and ``MaxLoc`` return
        ``(value, index)``: the index is an int for a RangePolicy, a tuple
        for an MDRangePolicy, the league rank for a TeamPolicy; ties go to
        the first in row-major order.

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
    >>> serial = kkpy.RangePolicy(kkpy.Serial(), 0, 4)
    >>> kkpy.parallel_reduce("argmin", serial, dot, x, -x, reducer=kkpy.MinLoc)
    (-9.0, 3)
    """
    if type(label) is not str:
        if type(label) is NestedRange:
            return nested_reduce(label, policy, _nested_args(kernel, args), reducer)
        label, policy, kernel, args = _split_label(label, policy, kernel, args)
    if isinstance(kernel, Reducer) or isinstance(policy, Reducer):
        raise TypeError(f"parallel_reduce '{label}': the reducer goes last, after the kernel and "
                        f"its arguments: parallel_reduce(label, policy, kernel, *args, reducer)")
    if args and isinstance(args[-1], Reducer):  # Kokkos's place for it
        if reducer is not Sum:
            raise TypeError(f"parallel_reduce '{label}': two reducers given (one last, "
                            f"one as reducer=); pass one")
        reducer, args = args[-1], args[:-1]
    if not isinstance(reducer, Reducer):
        raise TypeError(f"reducer must be a kkpy reducer (kkpy.Sum, ...), got {reducer!r}")
    label, policy, k, args = _prepare("parallel_reduce", label, policy, kernel, args)
    return reducer.store(_launch("parallel_reduce", label, policy, k, args, _run_reduce, reducer))


def _run_reduce(policy, k, args, reducer):
    backend = _backend(policy.space)
    dtype = backend.return_dtype(k, _index_types(policy), args)
    result = backend.parallel_reduce(policy, k, args, reducer, dtype)
    if reducer.loc and policy.kind == "mdrange":
        # The backends keep a row-major offset into the box; Kokkos gives the index.
        value, flat = result
        where = (tuple(int(b + i) for b, i in zip(policy.begin, np.unravel_index(flat, policy.extents)))
                 if flat >= 0 else (-1,) * policy.rank)
        return value, where
    return result


def _index_types(policy):
    from numba import types
    if policy.kind == "team":
        from ._team import member_type
        return (member_type(),)
    return (types.int64,) * policy.nindex


def parallel_scan(label, policy, kernel=_NO_ARG, *args, out=None, inclusive=False):
    """Prefix sums of the values ``kernel`` returns over a RangePolicy.

    The kernel is ``kernel(i, *args)`` returning index ``i``'s contribution,
    or Kokkos's functor form ``kernel(i, update, final, *args)`` (told apart
    by its number of parameters): ``update`` is the sum of the contributions
    before ``i``, the kernel returns ``update`` plus its own, and writes its
    output only when ``final`` is true.

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
    >>> kkpy.parallel_scan("offsets", kkpy.RangePolicy(kkpy.Serial(), 0, 3), count, a, out=out)
    6
    >>> out.tolist()
    [0, 3, 4, 6]
    """
    if type(label) is not str:
        if type(label) is NestedRange:
            return nested_scan(label, policy, _nested_args(kernel, args))
        label, policy, kernel, args = _split_label(label, policy, kernel, args)
    # Kokkos's functor form, f(i, update, final, *args), is told apart by its arity.
    nparams = as_kernel(kernel).nparams if kernel is not _NO_ARG else None
    final_form = nparams is not None and nparams == 3 + len(args)
    label, policy, k, args = _prepare("parallel_scan", label, policy, kernel, args,
                                      extra=2 if final_form else 0)
    if policy.kind != "range":
        raise ValueError(f"parallel_scan '{label}': needs a RangePolicy, got {policy!r}")
    if final_form:
        if out is not None or inclusive:
            raise ValueError(f"parallel_scan '{label}': a kernel (i, update, final, ...) writes "
                             f"its own output; drop out= and inclusive=")
        return _launch("parallel_scan", label, policy, k, args, _run_final_scan)
    if out is None:
        return _launch("parallel_scan", label, policy, k, args, _run_reduce, Sum)
    target = kernel_arg(out)
    if target.ndim != 1 or target.shape[0] < len(policy):
        raise ValueError(f"parallel_scan '{label}': out must be 1-D with at least "
                         f"{len(policy)} elements, got shape {tuple(target.shape)}")
    return _launch("parallel_scan", label, policy, k, args, _run_scan, target, bool(inclusive))


def _run_final_scan(policy, k, args):
    return _backend(policy.space).parallel_scan_final(policy, k, args)


def _run_scan(policy, k, args, out, inclusive):
    return _backend(policy.space).parallel_scan(policy, k, args, out, inclusive)


# Inside a compiled team kernel, parallel_reduce / parallel_scan over a team or
# vector range lower to loops (see _nested); they are the same public names.
register_in_kernel_patterns(parallel_reduce, parallel_scan)
