"""Execution policies: what index space a pattern covers and on which space."""
from __future__ import annotations

import operator

from ._spaces import ExecutionSpace, DefaultExecutionSpace

__all__ = ["AUTO", "RangePolicy", "MDRangePolicy", "TeamPolicy", "as_policy"]


class _Auto:
    """Sentinel for 'let the space choose' (``Kokkos::AUTO``)."""

    def __repr__(self):
        return "kkpy.AUTO"


AUTO = _Auto()


def _split_space(args):
    """Kokkos allows the space as an optional first argument; peel it off."""
    if args and isinstance(args[0], ExecutionSpace):
        return args[0], args[1:]
    if args and args[0] is None:
        return DefaultExecutionSpace(), args[1:]
    return DefaultExecutionSpace(), args


def _index(value, what):
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {type(value).__name__}") from None


class RangePolicy:
    """The 1-D index range ``[begin, end)``.

    ``RangePolicy(space, begin, end)``, ``RangePolicy(begin, end)`` or
    ``RangePolicy(end)``.

    Parameters
    ----------
    space : ExecutionSpace, optional
        Defaults to :func:`kkpy.DefaultExecutionSpace`.
    begin, end : int
    schedule : {"static", "dynamic"}
        ``static`` gives each thread an equal contiguous share; ``dynamic``
        hands out chunks of ``chunk`` indices on demand, for uneven work.
    chunk : int, optional
        Chunk size for the dynamic schedule (default: let numba choose).

    Examples
    --------
    >>> import kkpy
    >>> p = kkpy.RangePolicy(kkpy.Serial(), 2, 5)
    >>> p.begin, p.end, len(p)
    (2, 5, 3)
    """

    kind = "range"
    #: Number of index arguments a kernel receives.
    nindex = 1

    def __init__(self, *args, schedule="static", chunk=None):
        space, rest = _split_space(args)
        if len(rest) == 1:
            begin, end = 0, rest[0]
        elif len(rest) == 2:
            begin, end = rest
        else:
            raise TypeError("RangePolicy([space,] [begin,] end): wrong number of arguments")
        self.space = space
        self.begin = _index(begin, "RangePolicy begin")
        self.end = _index(end, "RangePolicy end")
        if schedule not in ("static", "dynamic"):
            raise ValueError(f"schedule must be 'static' or 'dynamic', got {schedule!r}")
        if chunk is not None and _index(chunk, "chunk") < 1:
            raise ValueError("chunk must be at least 1")
        self.schedule = schedule
        self.chunk = chunk

    def __len__(self):
        return max(0, self.end - self.begin)

    def __repr__(self):
        return f"RangePolicy({self.space!r}, {self.begin}, {self.end}, schedule={self.schedule!r})"


class MDRangePolicy:
    """A rectangular multi-dimensional index space (rank 2 to 6).

    Parameters
    ----------
    space : ExecutionSpace, optional
    begin, end : tuple of int
    tile : tuple of int, optional
        Tile extents; each thread works tile by tile so that data touched by a
        tile stays in cache.  Without tiles the outermost index is split among
        threads.

    Examples
    --------
    >>> import kkpy
    >>> p = kkpy.MDRangePolicy(kkpy.Serial(), (0, 0), (2, 3))
    >>> p.rank, p.extents
    (2, (2, 3))
    """

    kind = "mdrange"

    def __init__(self, *args, tile=None):
        space, rest = _split_space(args)
        if len(rest) != 2:
            raise TypeError("MDRangePolicy([space,] begin_tuple, end_tuple, tile=None)")
        begin, end = (tuple(_index(v, "MDRangePolicy bound") for v in t) for t in rest)
        if len(begin) != len(end) or not 2 <= len(begin) <= 6:
            raise ValueError("MDRangePolicy: begin and end must be tuples of the same rank, 2 to 6")
        if tile is not None:
            tile = tuple(_index(v, "tile") for v in tile)
            if len(tile) != len(begin) or min(tile) < 1:
                raise ValueError("MDRangePolicy: tile must have one positive extent per rank")
        # An end below its begin is an empty extent, as in a RangePolicy.
        end = tuple(max(b, e) for b, e in zip(begin, end))
        self.space, self.begin, self.end, self.tile = space, begin, end, tile
        self.nindex = len(begin)

    @property
    def rank(self):
        return len(self.begin)

    @property
    def extents(self):
        return tuple(max(0, e - b) for b, e in zip(self.begin, self.end))

    def __repr__(self):
        return f"MDRangePolicy({self.space!r}, {self.begin}, {self.end}, tile={self.tile})"


class TeamPolicy:
    """A league of teams; each team has ``team_size`` threads and scratch memory.

    Parameters
    ----------
    space : ExecutionSpace, optional
    league_size : int
    team_size : int or AUTO
        On host spaces a team has one thread, as in Kokkos's Serial backend:
        ``AUTO`` means 1 and a larger size is refused, since the host runs a
        team's threads one after another and ``team_barrier()`` could not
        make one wait for another.  On Cuda a team is a thread block, and
        ``AUTO`` means 128.
    vector_length : int
    scratch_size : int
        Bytes of per-team scratch memory (level 0).

    Examples
    --------
    >>> import kkpy
    >>> p = kkpy.TeamPolicy(kkpy.Serial(), 4, kkpy.AUTO).set_scratch_size(0, per_team=64)
    >>> p.league_size, p.team_size, p.scratch_size
    (4, 1, 64)
    """

    kind = "team"
    nindex = 1  # the member

    def __init__(self, *args, vector_length=1, scratch_size=0):
        space, rest = _split_space(args)
        if len(rest) == 1:
            league, team = rest[0], AUTO
        elif len(rest) == 2:
            league, team = rest
        elif len(rest) == 3:
            league, team, vector_length = rest
        else:
            raise TypeError("TeamPolicy([space,] league_size, team_size=AUTO[, vector_length])")
        self.space = space
        self.league_size = _index(league, "league_size")
        if self.league_size < 0:
            raise ValueError("league_size must be non-negative")
        if team is AUTO:
            team = 128 if space.backend == "cuda" else 1
        self.team_size = _index(team, "team_size")
        if self.team_size < 1:
            raise ValueError("team_size must be at least 1")
        if self.team_size > 1 and space.backend == "host":
            # A barrier needs the team's threads to run at once; the host runs
            # them one after another, so results after team_barrier() would be
            # silently wrong.  Kokkos's Serial backend refuses them too.
            raise ValueError(f"TeamPolicy({space!r}, {self.league_size}, {self.team_size}): "
                             f"host teams have one thread (team_size 1 or kkpy.AUTO); "
                             f"use the Cuda space for larger teams")
        self.vector_length = _index(vector_length, "vector_length")
        self.scratch_size = _index(scratch_size, "scratch_size")

    def set_scratch_size(self, level, per_team=0, per_thread=0):
        """Request scratch bytes per team (and per thread, added per team); returns self."""
        if level not in (0, 1):
            raise ValueError("scratch level must be 0 or 1")
        self.scratch_size = max(self.scratch_size, _index(per_team, "per_team")
                                + self.team_size * _index(per_thread, "per_thread"))
        return self

    def team_size_recommended(self, *_):
        return self.team_size

    def __repr__(self):
        return f"TeamPolicy({self.space!r}, {self.league_size}, {self.team_size})"


def as_policy(policy):
    """Accept an int ``n`` as ``RangePolicy(0, n)`` on the default space, as Kokkos does."""
    if isinstance(policy, (RangePolicy, MDRangePolicy, TeamPolicy)):
        return policy
    try:
        n = operator.index(policy)
    except TypeError:
        raise TypeError(
            f"expected an execution policy or an integer range length, got {type(policy).__name__}"
        ) from None
    return RangePolicy(n)
