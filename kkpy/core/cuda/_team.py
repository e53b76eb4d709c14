"""The team member a ``TeamPolicy`` kernel receives on the GPU.

A team is a thread block: ``team_rank()`` is the thread's index in the
block, ``team_barrier()`` is ``cuda.syncthreads()`` and ``team_scratch(level)``
is the block's dynamic shared memory (both levels; at most 48 KiB, the
default limit of a block).  Unlike the host, where team threads run one
after another, the threads of a GPU team really run together, so a barrier
does order what they write.

Nested ranges split indices *cyclically* here: thread ``r`` of ``t`` takes
``begin + r``, ``begin + r + t``, ...  Neighbouring threads then touch
neighbouring elements, which the GPU merges into one memory transaction.
Every index is still visited exactly once, so kernels written against the
host's contiguous split give the same results.

In the simulator (``NUMBA_ENABLE_CUDASIM=1``) kernels run as Python: the
member is a small object and the host's nested ranges are used as they are.
"""
from __future__ import annotations

import threading

from numba.core import config

__all__ = ["make_cuda_member"]

_FIELDS = ("league_rank", "league_size", "team_rank", "team_size")


class _SimTeamMember:
    """The member in the simulator, where each GPU thread is a Python thread."""

    __slots__ = ("_ranks", "_scratch")

    def __init__(self, league_rank, league_size, team_rank, team_size, scratch):
        self._ranks = (int(league_rank), int(league_size), int(team_rank), int(team_size))
        self._scratch = scratch

    def league_rank(self):
        return self._ranks[0]

    def league_size(self):
        return self._ranks[1]

    def team_rank(self):
        return self._ranks[2]

    def team_size(self):
        return self._ranks[3]

    def team_barrier(self):
        threading.current_thread().syncthreads()

    def _gather(self, value):
        """Every thread's ``value``, in team-rank order, to every thread of the team."""
        thread = threading.current_thread()
        # One slot list per block: the simulator's manager of this block.
        slots = thread._manager.__dict__.setdefault("_kkpy_slots", {})
        thread.syncthreads()  # everyone has read the previous gather's slots
        slots[self._ranks[2]] = value
        thread.syncthreads()
        return [slots[r] for r in range(self._ranks[3])]

    def team_broadcast(self, value, root=0):
        return self._gather(value)[root]

    def team_scratch(self, level):
        if level not in (0, 1):
            raise ValueError("team_scratch: level must be 0 or 1")
        return self._scratch


def make_cuda_member(league_rank, league_size, team_rank, team_size, scratch):
    """The member the Cuda team driver hands to a kernel (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> m = make_cuda_member(3, 4, 1, 32, np.zeros(8, np.uint8))
    >>> m.league_rank(), m.team_rank(), m.team_size()
    (3, 1, 32)
    """
    return _SimTeamMember(league_rank, league_size, team_rank, team_size, scratch)

