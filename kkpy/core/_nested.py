"""Nested patterns inside a team kernel, as Kokkos writes them.

Inside a ``TeamPolicy`` kernel::

    total = kkpy.parallel_reduce(kkpy.TeamThreadRange(member, n), f, *args)
    total = kkpy.parallel_scan(kkpy.ThreadVectorRange(member, n), g, *args)
    value = kkpy.single(kkpy.PerTeam(member), h, *args)
    value = member.team_broadcast(value, root)

``f(j, *args)`` returns index ``j``'s contribution, as a top-level reduction
kernel does; a reducer (``kkpy.Max``, ``kkpy.MinLoc``...) may come last
among the arguments, where Kokkos puts it.  ``g(j, update, final, *args)`` is
Kokkos's scan functor: ``update`` holds the sum of the contributions before
``j``; ``g`` returns ``update`` plus its own contribution, and writes its
output only when ``final`` is true.  Both return the total to every thread
of the team.

numba cannot pass a lambda that captures variables to another function, so
``f`` is a ``@kkpy.kernel`` (or ``numba.njit``) function and what it needs is
passed as arguments.

How each runs:

* Compiled host code: a team has one thread, so each is a plain loop over
  the range and ``single``/``team_broadcast`` just call or return.
* The interpreter (``NUMBA_DISABLE_JIT=1``) and the CUDA simulator: the same
  Python functions run; in the simulator a team's threads really run at once,
  and a team-level reduction or scan combines the threads' partial results
  in team-rank order through the block (see ``_SimTeamMember``).
* Compiled GPU code: :mod:`kkpy.core.cuda._nested` (a team is a thread
  block; the threads' partial results combine through shared memory).
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import models, overload, overload_method, register_model, typeof_impl

from ._kernel import Kernel
from ._reducers import Reducer, Sum
from ._team import CpuTeamMemberType, NestedRange

__all__ = ["PerTeam", "PerThread", "single", "nested_reduce", "nested_scan"]


# ---------------------------------------------------------------------------
# Python (interpreter, simulator)

def _py(func):
    """The plain Python function behind a kernel, for runs without the compiler."""
    return getattr(func, "py_func", func)


class PerTeam:
    """``single(PerTeam(member), f, *args)`` runs ``f`` once for the whole team.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> from kkpy.core._team import make_team_member
    >>> m = make_team_member(0, 1, 0, 1, np.empty(0, np.uint8))
    >>> kkpy.single(kkpy.PerTeam(m), max, 3, 4)
    4
    """

    __slots__ = ("member",)

    def __init__(self, member):
        self.member = member


class PerThread(PerTeam):
    """``single(PerThread(member), f, *args)`` runs ``f`` once per team thread
    (once for its vector lanes)."""

    __slots__ = ()


def single(scope, func, *args):
    """Run ``func(*args)`` once per team (``PerTeam``) or per thread (``PerThread``).

    Returns ``func``'s result to every thread of the scope: Kokkos's
    ``single(PerTeam(member), lambda, value)`` broadcast.

    Examples
    --------
    See :class:`PerTeam`.
    """
    if not isinstance(scope, PerTeam):
        raise TypeError(f"single: first argument must be kkpy.PerTeam(member) or "
                        f"kkpy.PerThread(member), got {type(scope).__name__}")
    f = _py(func)
    member = scope.member
    if type(scope) is PerThread or member.team_size() == 1:
        return f(*args)
    value = f(*args) if member.team_rank() == 0 else None
    return member.team_broadcast(value, 0)


def _python_join(reducer):
    if reducer.loc:
        return None
    if reducer.expr is not None:
        return eval("lambda a, b: " + reducer.expr.format(a="a", b="b"))  # noqa: S307
    return _py(reducer.join)


def _fold(reducer, pairs, dtype):
    """Fold ``(value, index)`` pairs in order, as the compiled host loop does."""
    acc, loc = reducer.identity(dtype), -1
    join = _python_join(reducer)
    better = (None if not reducer.loc else
              eval("lambda a, b: " + reducer.expr.format(a="a", b="b")))  # noqa: S307
    for value, index in pairs:
        if reducer.loc:
            if index < 0:
                continue
            if loc < 0 or better(acc, value):
                acc, loc = value, index
        else:
            acc = join(acc, value)
    return acc, loc


def _split_reducer(args, reducer):
    if args and isinstance(args[-1], Reducer):
        return args[:-1], args[-1]
    return args, reducer


def nested_reduce(r, func, args, reducer=Sum):
    """Python form of a nested ``parallel_reduce`` over ``r`` (a nested range)."""
    args, reducer = _split_reducer(args, reducer)
    f = _py(func)
    values = [(f(j, *args), j) for j in r]
    dtype = np.asarray(values[0][0]).dtype if values else np.dtype(np.float64)
    dtype = reducer.result_dtype(dtype)
    acc, loc = _fold(reducer, values, dtype)
    member = r.member
    if r.level == "team" and member.team_size() > 1:
        parts = member._gather((acc, loc))
        acc, loc = _fold(reducer, [(a, i if reducer.loc else 0) for a, i in parts], dtype)
    return reducer.finish(acc, loc)


def nested_scan(r, func, args):
    """Python form of a nested ``parallel_scan`` (Kokkos's ``(j, update, final)``)."""
    f = _py(func)
    member = r.member
    offset = 0
    if r.level == "team" and member.team_size() > 1:
        mine = 0
        for j in r:
            mine = f(j, mine, False, *args)
        parts = member._gather(mine)
        offset = sum(parts[:member.team_rank()], 0)
        total = sum(parts, 0)
    update = offset
    for j in r:
        update = f(j, update, True, *args)
    if r.level == "team" and member.team_size() > 1:
        return total
    return update


# ---------------------------------------------------------------------------
# Compiled host code

@typeof_impl.register(Kernel)
def _typeof_kernel(val, c):
    # A kernel named inside another kernel is its compiled host function, so
    # it can be called, or handed to a nested pattern.
    return typeof_impl(val.host, c)


class ReducerType(types.Dummy):
    """numba type of a builtin reducer named in compiled code (``kkpy.Max``)."""

    def __init__(self, reducer):
        self.reducer = reducer
        builtin = hasattr(reducer, "_ident") and getattr(reducer, "bound", None) is None
        super().__init__(name=f"kkpy.{reducer.name}" if builtin else f"Reducer({id(reducer)})")


register_model(ReducerType)(models.OpaqueModel)


@typeof_impl.register(Reducer)
def _typeof_reducer(val, c):
    return ReducerType(val)


def _lower_reducer():
    from numba.core.imputils import lower_constant

    @lower_constant(ReducerType)
    def _constant(context, builder, ty, pyval):
        return context.get_dummy_value()


_lower_reducer()


def return_type(fnty, argtys, what, typingctx=None):
    """What calling ``fnty`` with ``argtys`` returns, in ``typingctx`` (the CPU's
    by default); a ``TypingError`` naming ``what`` when it cannot be called."""
    if typingctx is None:
        from numba.core.registry import cpu_target

        typingctx = cpu_target.typing_context
    try:
        sig = typingctx.resolve_function_type(fnty, tuple(argtys), {})
    except Exception as err:  # numba's own message says why
        raise TypingError(f"{what}: cannot call {fnty} with {tuple(argtys)}: {err}") from None
    if sig is None:
        raise TypingError(f"{what}: cannot call {fnty} with {tuple(argtys)}")
    return sig.return_type


def callee_args(n):
    """``, args[0], ..., args[n-1]``: the extra arguments in generated source."""
    return "".join(f", args[{k}]" for k in range(n))


def build(source, glb):
    """The function ``impl`` that ``source`` defines, with globals ``glb``."""
    exec(compile(source, "<kkpy nested pattern>", "exec"), glb)
    return glb["impl"]


def reduce_parts(func, args, typingctx=None):
    """``(reducer, dtype, loop)`` of a nested ``parallel_reduce``: ``loop`` is the
    source of one thread's sequential fold of its indices into ``acc`` (and
    ``li``, the index, for MinLoc/MaxLoc), the body of ``impl``."""
    argtys = list(args)
    reducer = Sum
    if argtys and isinstance(argtys[-1], ReducerType):
        reducer = argtys.pop().reducer
    if getattr(reducer, "bound", None) is not None or not hasattr(reducer, "_ident"):
        raise TypingError("nested parallel_reduce: pass kkpy's builtin reducers (kkpy.Sum, "
                          "kkpy.Max, kkpy.MinLoc, ...) unbound; the result is returned")
    from numba.np.numpy_support import as_dtype

    rt = return_type(func, [types.intp, *argtys], "nested parallel_reduce", typingctx)
    try:
        dtype = reducer.result_dtype(as_dtype(rt))
    except Exception:
        raise TypingError(f"nested parallel_reduce: the kernel must return a scalar, "
                          f"it returns {rt}") from None
    call = f"policy(j{callee_args(len(argtys))})"
    if reducer.loc:
        body = (f"        b = {call}\n"
                f"        if li < 0 or ({reducer.expr.format(a='acc', b='b')}):\n"
                f"            acc = b\n            li = j\n")
    else:
        body = f"        acc = {reducer.expr.format(a='acc', b=call)}\n"
    loop = f"    acc = IDENT\n    li = -1\n    for j in label:\n{body}"
    return reducer, dtype, loop


def _reduce_impl(func, args):
    reducer, dtype, loop = reduce_parts(func, args)
    ret = "acc, li" if reducer.loc else "acc"
    src = f"def impl(label, policy, *args):\n{loop}    return {ret}\n"
    return build(src, {"IDENT": reducer.identity(dtype)})


def _scan_impl(func, args):
    n = len(args)
    src = (f"def impl(label, policy, *args):\n    update = 0\n"
           f"    for j in label:\n        update = policy(j, update, True{callee_args(n)})\n"
           f"    return update\n")
    return build(src, {})


def register_in_kernel_patterns(parallel_reduce, parallel_scan):
    """Teach numba the in-kernel forms of the public ``parallel_reduce`` / ``parallel_scan``.

    :mod:`._patterns` calls this with its functions, so this module need not import it.
    """

    @overload(parallel_reduce, target="cpu")
    def _reduce(label, policy, *args):
        if isinstance(label, types.RangeType):
            return _reduce_impl(policy, args)

    @overload(parallel_scan, target="cpu")
    def _scan(label, policy, *args):
        if isinstance(label, types.RangeType):
            return _scan_impl(policy, args)



@overload(PerTeam, target="cpu")
def _per_team(member):
    if isinstance(member, CpuTeamMemberType):
        return lambda member: member


@overload(PerThread, target="cpu")
def _per_thread(member):
    if isinstance(member, CpuTeamMemberType):
        return lambda member: member


@overload(single, target="cpu")
def _single(scope, func, *args):
    # One thread per host team: PerTeam and PerThread both run func once.
    if isinstance(scope, CpuTeamMemberType):
        return lambda scope, func, *args: func(*args)


@overload_method(CpuTeamMemberType, "team_broadcast", target="cpu")
def _team_broadcast(member, value, root=0):
    return lambda member, value, root=0: value
