"""The team member a ``TeamPolicy`` kernel receives on the host, and the
nested ranges it loops over.

On the host a team has one thread (``TeamPolicy`` refuses ``team_size > 1``
on host spaces, as Kokkos's Serial backend does), so the generated driver is,
in outline::

    for league_rank in prange(league_size):
        scratch = <scratch bytes, shared by the teams one host thread runs>
        member = make_team_member(league_rank, league_size, 0, 1, scratch)
        kernel(member, *args)

What that implies for kernels:

* ``team_barrier()`` does nothing, and need not: nothing of the team runs
  concurrently.  (With more threads per team run one after another, it
  could not make thread 0 wait for thread 1; that is why they are refused.)
* The nested ranges cover their whole range in the one thread; nested
  reductions and scans (:mod:`kkpy.core._nested`) are plain loops.
* The scratch buffer may be reused by the next team on the same host
  thread and is not cleared: initialise it before reading, as with Kokkos.

:func:`make_team_member` itself accepts any ``team_size``: tests use it to
check how the nested ranges split a range among a GPU-sized team.

In compiled code the member is a value of a numba extension type (a plain
struct, so functions using it can be cached with ``njit(cache=True)``); in
the interpreter (``NUMBA_DISABLE_JIT=1``) it is a small Python object with
the same methods.
"""

import numba
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.core.imputils import impl_ret_borrowed
from numba.extending import (intrinsic, make_attribute_wrapper, models,
                             overload, overload_method, register_model)

__all__ = [
    "make_team_member",
    "NestedRange",
    "TeamThreadRange",
    "ThreadVectorRange",
    "TeamVectorRange",
    "member_type",
]

_SCRATCH_LEVELS = (0, 1)


# ---------------------------------------------------------------------------
# Interpreter implementation.

class _HostTeamMember:
    """Interpreter twin of the compiled team member (same methods)."""

    __slots__ = ("_league_rank", "_league_size", "_team_rank", "_team_size",
                 "_scratch")

    def __init__(self, league_rank, league_size, team_rank, team_size,
                 scratch):
        self._league_rank = int(league_rank)
        self._league_size = int(league_size)
        self._team_rank = int(team_rank)
        self._team_size = int(team_size)
        self._scratch = scratch

    def league_rank(self):
        return self._league_rank

    def league_size(self):
        return self._league_size

    def team_rank(self):
        return self._team_rank

    def team_size(self):
        return self._team_size

    def team_barrier(self):
        pass

    def team_broadcast(self, value, root=0):
        return value

    def team_scratch(self, level):
        if level not in _SCRATCH_LEVELS:
            raise ValueError("team_scratch: level must be 0 or 1")
        return self._scratch

    def __repr__(self):
        return (f"TeamMember(league_rank={self._league_rank}/"
                f"{self._league_size}, team_rank={self._team_rank}/"
                f"{self._team_size})")


def make_team_member(league_rank, league_size, team_rank, team_size, scratch):
    """The handle a team kernel receives: its place in the league and team.

    Parameters
    ----------
    league_rank, league_size : int
        This team's index, and the number of teams.
    team_rank, team_size : int
        This thread's index within the team, and the threads per team.
    scratch : numpy.ndarray
        1-D uint8 array: the team's scratch memory, returned by
        ``member.team_scratch(level)``.  Pass an empty array when the
        kernel asks for none.

    Returns
    -------
    member
        Has ``league_rank()``, ``league_size()``, ``team_rank()``,
        ``team_size()``, ``team_barrier()`` and ``team_scratch(level)``.
        On the host scratch levels 0 and 1 are the same buffer.

    Examples
    --------
    >>> import numpy as np
    >>> m = make_team_member(2, 8, 1, 4, np.zeros(16, np.uint8))
    >>> m.league_rank(), m.league_size(), m.team_rank(), m.team_size()
    (2, 8, 1, 4)
    >>> m.team_scratch(0).view(np.float64)[:2]
    array([0., 0.])
    """
    return _HostTeamMember(league_rank, league_size, team_rank, team_size,
                           scratch)


class NestedRange:
    """A nested range in Python code: iterates like ``range``, and remembers
    its team member and level (``"team"`` or ``"vector"``) so that a nested
    ``parallel_reduce`` or ``parallel_scan`` over it can combine the team's
    partial results.  Compiled code gets a plain ``range``.

    Examples
    --------
    >>> import numpy as np
    >>> r = TeamThreadRange(make_team_member(0, 1, 0, 1, np.empty(0, np.uint8)), 2, 5)
    >>> list(r), len(r), r.start, r.stop, r.level
    ([2, 3, 4], 3, 2, 5, 'team')
    """

    __slots__ = ("member", "start", "stop", "level")
    step = 1

    def __init__(self, member, start, stop, level):
        self.member, self.start, self.stop, self.level = member, int(start), int(stop), level

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self):
        return max(0, self.stop - self.start)

    def __repr__(self):
        return f"{self.level}-range({self.start}, {self.stop})"


def TeamThreadRange(member, begin, end=None):
    """This team thread's share of ``range(begin, end)``, or of ``range(begin)``.

    The team's threads together cover every index exactly once.  On the
    host, where they run one after another, each takes a contiguous block
    (sizes differ by at most one), so the team as a whole sweeps the range
    once in order.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.empty(0, np.uint8)
    >>> [list(TeamThreadRange(make_team_member(0, 1, r, 3, s), 10, 17))
    ...  for r in range(3)]
    [[10, 11, 12], [13, 14], [15, 16]]
    """
    begin, end = _bounds(begin, end)
    lo, hi = _block(begin, end, member.team_rank(), member.team_size())
    return NestedRange(member, lo, hi, "team")


def TeamVectorRange(member, begin, end=None):
    """Indices split over the team's threads and vector lanes.

    Vector lanes run one after another on the host, so this is
    :func:`TeamThreadRange`.

    Examples
    --------
    >>> import numpy as np
    >>> m = make_team_member(0, 1, 1, 2, np.empty(0, np.uint8))
    >>> list(TeamVectorRange(m, 5))
    [3, 4]
    """
    return TeamThreadRange(member, begin, end)


def ThreadVectorRange(member, begin, end=None):
    """Indices split over one thread's vector lanes: all of them on the host.

    Examples
    --------
    >>> import numpy as np
    >>> m = make_team_member(0, 1, 1, 2, np.empty(0, np.uint8))
    >>> list(ThreadVectorRange(m, 2, 5))
    [2, 3, 4]
    """
    begin, end = _bounds(begin, end)
    return NestedRange(member, begin, end, "vector")


@numba.njit(cache=True)
def _bounds(begin, end):
    if end is None:
        return 0, begin
    return begin, end


@numba.njit(cache=True)
def _block(begin, end, rank, size):
    """``(lo, hi)`` of block ``rank`` when ``[begin, end)`` is cut in ``size``."""
    n = max(end - begin, 0)
    quot, rem = divmod(n, size)
    lo = begin + rank * quot + min(rank, rem)
    return lo, lo + quot + (1 if rank < rem else 0)


# ---------------------------------------------------------------------------
# Compiled implementation for the CPU target.

class CpuTeamMemberType(types.Type):
    """numba type of the host team member, parametrised by its scratch array."""

    def __init__(self, scratch):
        self.scratch = scratch
        super().__init__(name=f"CpuTeamMember({scratch})")


def member_type(scratch=types.Array(types.uint8, 1, "C")):
    """numba type of the member ``make_team_member`` builds around ``scratch``.

    For typing a kernel before the driver exists; the default is the type
    of ``np.empty(n, np.uint8)``.

    Examples
    --------
    >>> member_type()
    CpuTeamMember(array(uint8, 1d, C))
    """
    return CpuTeamMemberType(scratch)


_FIELDS = ("league_rank", "league_size", "team_rank", "team_size")


@register_model(CpuTeamMemberType)
class _CpuTeamMemberModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [(f, types.intp) for f in _FIELDS]
        members.append(("scratch", fe_type.scratch))
        super().__init__(dmm, fe_type, members)


# The methods take the Kokkos names, so the raw fields hide behind "_".
for _field in _FIELDS + ("scratch",):
    make_attribute_wrapper(CpuTeamMemberType, _field, "_" + _field)


def _is_scratch(scratch):
    return (isinstance(scratch, types.Array) and scratch.ndim == 1
            and scratch.dtype == types.uint8)


@intrinsic
def _new_cpu_team_member(typingctx, league_rank, league_size, team_rank,
                         team_size, scratch):
    def codegen(context, builder, sig, args):
        member = cgutils.create_struct_proxy(sig.return_type)(context,
                                                              builder)
        for field, value, ty in zip(_FIELDS, args, sig.args):
            setattr(member, field, context.cast(builder, value, ty,
                                                types.intp))
        member.scratch = args[-1]
        # The struct holds a new reference to the scratch array.
        return impl_ret_borrowed(context, builder, sig.return_type,
                                 member._getvalue())

    sig = CpuTeamMemberType(scratch)(league_rank, league_size, team_rank,
                                     team_size, scratch)
    return sig, codegen


@overload(make_team_member, target="cpu")
def _make_team_member_cpu(league_rank, league_size, team_rank, team_size,
                          scratch):
    for arg in (league_rank, league_size, team_rank, team_size):
        if not isinstance(arg, types.Integer):
            raise TypingError(f"make_team_member: ranks and sizes must be "
                              f"integers, got {arg}")
    if not _is_scratch(scratch):
        raise TypingError(f"make_team_member: scratch must be a 1-D uint8 "
                          f"array, got {scratch}")

    def impl(league_rank, league_size, team_rank, team_size, scratch):
        return _new_cpu_team_member(league_rank, league_size, team_rank,
                                    team_size, scratch)

    return impl


def _register_getter(field):
    attr = "_" + field

    @overload_method(CpuTeamMemberType, field, target="cpu")
    def getter(member):
        return lambda member: getattr(member, attr)


for _field in _FIELDS:
    _register_getter(_field)


@overload_method(CpuTeamMemberType, "team_barrier", target="cpu")
def _team_barrier(member):
    return lambda member: None


@overload_method(CpuTeamMemberType, "team_scratch", target="cpu")
def _team_scratch(member, level):
    if not isinstance(level, types.Integer):
        raise TypingError(f"team_scratch: level must be an integer, "
                          f"got {level}")

    def impl(member, level):
        if level != 0 and level != 1:
            raise ValueError("team_scratch: level must be 0 or 1")
        return member._scratch

    return impl


def _check_range_args(name, member, begin, end):
    if not isinstance(member, CpuTeamMemberType):
        raise TypingError(f"{name}: first argument must be a team member, "
                          f"got {member}")
    # An omitted ``end`` arrives as None itself or as its numba type.
    no_end = end is None or isinstance(end, (types.NoneType, types.Omitted))
    for arg in (begin,) if no_end else (begin, end):
        if not isinstance(arg, types.Integer):
            raise TypingError(f"{name}: bounds must be integers, got {arg}")


@overload(TeamThreadRange, target="cpu")
def _team_thread_range_cpu(member, begin, end=None):
    _check_range_args("TeamThreadRange", member, begin, end)

    def impl(member, begin, end=None):
        lo, hi = _bounds(begin, end)
        return range(*_block(lo, hi, member._team_rank, member._team_size))

    return impl


@overload(TeamVectorRange, target="cpu")
def _team_vector_range_cpu(member, begin, end=None):
    _check_range_args("TeamVectorRange", member, begin, end)
    return lambda member, begin, end=None: TeamThreadRange(member, begin, end)


@overload(ThreadVectorRange, target="cpu")
def _thread_vector_range_cpu(member, begin, end=None):
    _check_range_args("ThreadVectorRange", member, begin, end)

    def impl(member, begin, end=None):
        lo, hi = _bounds(begin, end)
        return range(lo, hi)

    return impl
