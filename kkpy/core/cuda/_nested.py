"""Compiled GPU forms of the nested patterns (see :mod:`kkpy.core._nested`).

Inside a ``TeamPolicy`` kernel on the GPU a team is a thread block, and
``TeamThreadRange`` gives thread ``r`` of ``t`` the indices ``begin + r``,
``begin + r + t``, ... (:mod:`._team_types`): a ``range`` whose step is the
team size.  So a nested pattern over a range whose step is above one works
for the whole team, and one over a step-one range (``ThreadVectorRange``, or
any range of a one-thread team) is one thread's loop, as on the host.

* ``parallel_reduce``: each thread folds its own indices in order, then
  thread 0 folds the threads' partial results in team-rank order, 32 at a
  time through a small shared array, and hands the result to every thread.
  MinLoc/MaxLoc ties go to the lowest index, as on the host.
* ``parallel_scan``: the range is walked in chunks of one index per thread;
  each thread asks the functor for its index's contribution
  (``update = 0, final = False``), thread 0 turns the contributions into
  exclusive prefixes in index order, and each thread calls the functor once
  more with its prefix and ``final = True``.  As on the host, the scan adds.
* ``single(PerTeam(member), f, ...)``: thread 0 calls ``f``; its result
  reaches every thread.  ``single(PerThread(member), ...)``: every thread
  calls ``f`` (a GPU thread has one vector lane).
* ``member.team_broadcast(value, root)``: ``root``'s ``value`` to every thread.

Each goes through shared memory and ``cuda.syncthreads()``, so, as in
Kokkos, every thread of the team must reach the same nested pattern.  The
functions they call are ``@kkpy.kernel`` kernels: naming one in a GPU kernel
types it as its device form (registered here), so kernels may also call each
other directly.  Only compiled GPU code uses this module; the simulator runs
the Python forms.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, types
from numba.core.errors import TypingError
from numba.cuda.extending import overload, overload_method
from numba.cuda.typing.typeof import typeof, typeof_impl
from numba.np.numpy_support import as_dtype, from_dtype

from .. import _nested, _patterns
from .._kernel import Kernel
from ._drivers import _fold_partial, device_form
from ._team_types import CudaTeamMemberType

__all__: list = []

#: Partial results thread 0 collects per round: one warp's worth.
_SLOTS = 32


@typeof_impl.register(Kernel)
def _typeof_kernel(val, c):
    # A kernel named inside a GPU kernel is its device function.
    return typeof(device_form(val), c.purpose)


def _typing_context():
    from numba.cuda.descriptor import cuda_target

    return cuda_target.typing_context


def _collect(write, per_slot, read, pad):
    """Source of the rounds in which thread 0 visits every thread's slot in rank order.

    In each round threads ``w .. w + 31`` run ``write`` (their slot is
    ``tr - w``), thread 0 runs ``per_slot`` for each slot ``s`` in order,
    and, after everyone has waited for it, the same threads run ``read``.
    Each argument makes source lines from an indentation.
    """
    inner = pad + "    "
    return (f"{pad}w = 0\n"
            f"{pad}while w < ts:\n"
            f"{inner}mine = tr >= w and tr < w + {_SLOTS}\n"
            f"{inner}if mine:\n{write(inner + '    ')}"
            f"{inner}cuda.syncthreads()\n"
            f"{inner}if tr == 0:\n"
            f"{inner}    for s in range(min({_SLOTS}, ts - w)):\n"
            f"{per_slot(inner + '        ')}"
            f"{inner}cuda.syncthreads()\n"
            + (f"{inner}if mine:\n{read(inner + '    ')}{inner}cuda.syncthreads()\n"
               if read else "")
            + f"{inner}w += {_SLOTS}\n")


def _lines(*lines):
    """A source maker for :func:`_collect`: ``lines`` at the indentation it gets."""
    return lambda pad: "".join(f"{pad}{line}\n" for line in lines)


def _reduce_impl(func, args):
    reducer, dtype, loop = _nested.reduce_parts(func, args, _typing_context())
    fold = _fold_partial(reducer, "", "x", "y", "lx", "ly").splitlines()
    rounds = _collect(_lines("sv[tr - w] = acc", "sl[tr - w] = li"),
                      _lines("y = sv[s]", "ly = sl[s]", *fold), None, "        ")
    ret = "acc, li" if reducer.loc else "acc"
    src = (f"def impl(label, policy, *args):\n{loop}"
           f"    if label.step > 1:\n"
           f"        sv = cuda.shared.array({_SLOTS}, DT)\n"
           f"        sl = cuda.shared.array({_SLOTS}, np.int64)\n"
           f"        tr = cuda.threadIdx.x\n        ts = cuda.blockDim.x\n"
           f"        x = IDENT\n        lx = -1\n"
           f"{rounds}"
           f"        if tr == 0:\n            sv[0] = x\n            sl[0] = lx\n"
           f"        cuda.syncthreads()\n"
           f"        acc = sv[0]\n        li = sl[0]\n"
           # the next nested pattern may reuse the slots once everyone has read them
           f"        cuda.syncthreads()\n"
           f"    return {ret}\n")
    ident = reducer.identity(dtype)
    return _nested.build(src, {"cuda": cuda, "np": np, "IDENT": ident, "DT": from_dtype(dtype)})


def _scan_type(func, args):
    """The type of the scan's ``update``: what the functor returns for it."""
    what = "nested parallel_scan"
    ctx = _typing_context()
    rt = _nested.return_type(func, [types.intp, types.int64, types.boolean, *args], what, ctx)
    if rt != types.int64:
        rt = _nested.return_type(func, [types.intp, rt, types.boolean, *args], what, ctx)
    try:
        as_dtype(rt)
    except Exception:
        raise TypingError(f"{what}: the functor must return a scalar, it returns {rt}") from None
    return rt


def _scan_impl(func, args):
    rt = _scan_type(func, args)
    extra = _nested.callee_args(len(args))
    rounds = _collect(_lines("sv[tr - w] = part"),
                      _lines("t = sv[s]", "sv[s] = carry", "carry = carry + t"),
                      _lines("before = sv[tr - w]"), "            ")
    src = (f"def impl(label, policy, *args):\n"
           f"    if label.step > 1:\n"
           f"        sv = cuda.shared.array({_SLOTS}, DT)\n"
           f"        tr = cuda.threadIdx.x\n        ts = cuda.blockDim.x\n"
           f"        carry = ZERO\n"
           # chunks of ts indices, the same number for every thread of the team
           f"        c = label.start - tr\n"
           f"        while c < label.stop:\n"
           f"            j = c + tr\n"
           f"            part = ZERO\n            before = ZERO\n"
           f"            if j < label.stop:\n"
           f"                part = policy(j, ZERO, False{extra})\n"
           f"{rounds}"
           f"            if j < label.stop:\n"
           f"                policy(j, before, True{extra})\n"
           f"            c += ts\n"
           f"        if tr == 0:\n            sv[0] = carry\n"
           f"        cuda.syncthreads()\n        carry = sv[0]\n        cuda.syncthreads()\n"
           f"        return carry\n"
           f"    update = ZERO\n"
           f"    for j in label:\n        update = policy(j, update, True{extra})\n"
           f"    return update\n")
    zero = as_dtype(rt).type(0)
    return _nested.build(src, {"cuda": cuda, "ZERO": zero, "DT": rt})


@overload(_patterns.parallel_reduce, target="cuda")
def _reduce(label, policy, *args):
    if isinstance(label, types.RangeType):
        return _reduce_impl(policy, args)


@overload(_patterns.parallel_scan, target="cuda")
def _scan(label, policy, *args):
    if isinstance(label, types.RangeType):
        return _scan_impl(policy, args)


# -- single and team_broadcast ---------------------------------------------------

# PerThread(member) is the member itself; PerTeam(member) a 1-tuple of it, so
# that ``single`` tells the two apart by type.
@overload(_nested.PerTeam, target="cuda")
def _per_team(member):
    if isinstance(member, CudaTeamMemberType):
        return lambda member: (member,)


@overload(_nested.PerThread, target="cuda")
def _per_thread(member):
    if isinstance(member, CudaTeamMemberType):
        return lambda member: member


def _slot_type(rt, what):
    try:
        as_dtype(rt)
    except Exception:
        raise TypingError(f"{what}: on the GPU the value goes through shared memory, so it "
                          f"must be a scalar; got {rt}") from None
    return rt


@overload(_nested.single, target="cuda")
def _single(scope, func, *args):
    if isinstance(scope, CudaTeamMemberType):
        return lambda scope, func, *args: func(*args)
    if not (isinstance(scope, types.BaseTuple) and len(scope) == 1
            and isinstance(scope[0], CudaTeamMemberType)):
        return None
    rt = _nested.return_type(func, args, "single(PerTeam)", _typing_context())
    call = f"func({_nested.callee_args(len(args))[2:]})"
    if isinstance(rt, types.NoneType):
        src = (f"def impl(scope, func, *args):\n"
               f"    if cuda.threadIdx.x == 0:\n        {call}\n"
               f"    cuda.syncthreads()\n")
        return _nested.build(src, {"cuda": cuda})
    src = (f"def impl(scope, func, *args):\n"
           f"    slot = cuda.shared.array(1, DT)\n"
           f"    if cuda.threadIdx.x == 0:\n        slot[0] = {call}\n"
           f"    cuda.syncthreads()\n    value = slot[0]\n    cuda.syncthreads()\n"
           f"    return value\n")
    return _nested.build(src, {"cuda": cuda, "DT": _slot_type(rt, "single(PerTeam)")})


@overload_method(CudaTeamMemberType, "team_broadcast", target="cuda")
def _team_broadcast(member, value, root=0):
    dt = _slot_type(value, "team_broadcast")

    def impl(member, value, root=0):
        slot = cuda.shared.array(1, dt)
        if cuda.threadIdx.x == root:
            slot[0] = value
        cuda.syncthreads()
        out = slot[0]
        cuda.syncthreads()
        return out

    return impl
