"""Issue 15, finding 10: host teams with ``team_size > 1`` and ``team_barrier()``.

The host runs a team's threads one after another, so a barrier there cannot
make thread 0 wait for thread 1: a kernel that reads, after the barrier, what
a later thread wrote before it got stale values and no error.  Host teams
now have one thread, as in Kokkos's Serial backend; a larger team is refused.
"""
import numpy as np
import pytest

import kkpy


@kkpy.kernel
def reverse_through_scratch(member, a, out):
    # Thread r stages a[r], then, after the barrier, reads its mirror's value.
    buf = member.team_scratch(0).view(np.float64)
    r, t = member.team_rank(), member.team_size()
    buf[r] = a[member.league_rank(), r]
    member.team_barrier()
    out[member.league_rank(), r] = buf[t - 1 - r]


@pytest.mark.parametrize("space", [kkpy.Serial(), kkpy.Threads()], ids=["Serial", "Threads"])
def test_host_refuses_teams_whose_barrier_would_not_wait(space):
    with pytest.raises(ValueError, match=r"TeamPolicy\(.*, 3, 2\): host teams have one thread"):
        kkpy.TeamPolicy(space, 3, 2)
    with pytest.raises(ValueError, match="team_size 1 or kkpy.AUTO"):
        kkpy.TeamPolicy(space, 3, 4).set_scratch_size(0, per_team=32)


@pytest.mark.parametrize("space", [kkpy.Serial(), kkpy.Threads()], ids=["Serial", "Threads"])
def test_one_thread_teams_are_right_after_a_barrier(space):
    a = np.arange(6.0).reshape(6, 1)
    out = np.full_like(a, -1.0)
    policy = kkpy.TeamPolicy(space, 6, kkpy.AUTO).set_scratch_size(0, per_team=8)
    assert policy.team_size == 1
    kkpy.parallel_for("mirror", policy, reverse_through_scratch, a, out)
    assert np.array_equal(out, a)


def test_the_error_is_one_line():
    with pytest.raises(ValueError) as info:
        kkpy.TeamPolicy(kkpy.Serial(), 1, 8)
    assert "\n" not in str(info.value)
