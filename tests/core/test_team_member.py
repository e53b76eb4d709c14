"""The host team member and nested ranges: every (team, thread, index) is
visited exactly once, scratch stays private to a team, and compiled code,
the interpreter twin and numba's disk cache all agree.
"""
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit, prange
from numba.core.errors import TypingError

from kkpy.core._team import (
    TeamThreadRange, TeamVectorRange, ThreadVectorRange, make_team_member,
    member_type,
)


@njit
def _kernel(m, begin, end, hits, thread_counts, vector_counts, lane_counts,
            scratch_sums):
    lr, tr = m.league_rank(), m.team_rank()
    hits[lr, tr] += 1
    for i in TeamThreadRange(m, begin, end):
        thread_counts[lr, i - begin] += 1
    for i in TeamVectorRange(m, end - begin):
        vector_counts[lr, i] += 1
    for i in ThreadVectorRange(m, begin, end):
        lane_counts[lr, i - begin] += 1
    # Team rank 0 fills the team's scratch; later ranks of the same team
    # must read exactly that back, whatever other teams do meanwhile.
    words = m.team_scratch(0).view(np.int64)
    if tr == 0:
        for k in range(words.shape[0]):
            words[k] = lr
    m.team_barrier()
    total = 0
    for k in range(words.shape[0]):
        total += words[k]
    scratch_sums[lr, tr] = total
    return m.league_size() * 1000 + m.team_size()


@njit(parallel=True)
def _drive(league_size, team_size, scratch_bytes, nchunk, *args):
    """The lead's host driver: scratch allocated once per chunk of teams."""
    sizes = np.zeros((league_size, team_size), np.int64)
    for c in prange(nchunk):
        lo = c * league_size // nchunk
        hi = (c + 1) * league_size // nchunk
        scratch = np.empty(scratch_bytes, np.uint8)
        for lr in range(lo, hi):
            for tr in range(team_size):
                member = make_team_member(lr, league_size, tr, team_size,
                                          scratch)
                sizes[lr, tr] = _kernel(member, *args)
    return sizes


def _run_driver(driver, league_size, team_size, begin, end, words):
    n = end - begin
    arrays = [np.zeros((league_size, team_size), np.int64)] + [
        np.zeros((league_size, max(n, 1)), np.int64) for _ in range(3)] + [
        np.zeros((league_size, team_size), np.int64)]
    sizes = driver(league_size, team_size, 8 * words, min(league_size, 4),
                   begin, end, *arrays)
    return sizes, arrays


@settings(max_examples=15)
@given(league_size=st.integers(1, 40), team_size=st.integers(1, 4),
       begin=st.integers(-5, 5), length=st.integers(0, 30),
       words=st.integers(1, 8))
def test_driver_visits_every_team_thread_and_index_once(
        league_size, team_size, begin, length, words):
    end = begin + length
    sizes, (hits, per_thread, per_vector, per_lane, sums) = _run_driver(
        _drive, league_size, team_size, begin, end, words)
    assert (hits == 1).all()
    assert (sizes == league_size * 1000 + team_size).all()
    assert (per_thread[:, :length] == 1).all()
    assert (per_vector[:, :length] == 1).all()
    assert (per_lane[:, :length] == team_size).all()
    ranks = np.arange(league_size)[:, None]
    np.testing.assert_array_equal(sums, np.broadcast_to(ranks * words,
                                                        sums.shape))


@njit
def _blocks(begin, end, team_size):
    out = np.zeros((team_size, 2), np.int64)
    scratch = np.empty(0, np.uint8)
    for tr in range(team_size):
        r = TeamThreadRange(make_team_member(0, 1, tr, team_size, scratch),
                            begin, end)
        out[tr, 0], out[tr, 1] = r.start, r.stop
    return out


@given(begin=st.integers(-50, 50), length=st.integers(-3, 100),
       team_size=st.integers(1, 4))
def test_team_thread_range_splits_into_balanced_ordered_blocks(
        begin, length, team_size):
    end = begin + length
    compiled = _blocks(begin, end, team_size)
    scratch = np.empty(0, np.uint8)
    for tr in range(team_size):
        member = make_team_member(0, 1, tr, team_size, scratch)
        r = TeamThreadRange(member, begin, end)
        assert (r.start, r.stop) == tuple(compiled[tr])
        assert r.step == 1
        assert list(TeamVectorRange(member, begin, end)) == list(r)
        assert list(ThreadVectorRange(member, begin, end)) == list(
            range(begin, end))
    # Each rank's block starts where the previous one stopped...
    covered = [i for start, stop in compiled for i in range(start, stop)]
    assert covered == list(range(begin, end))
    # ...and block sizes differ by at most one.
    sizes = np.maximum(compiled[:, 1] - compiled[:, 0], 0)
    assert sizes.max() - sizes.min() <= 1


def test_one_argument_ranges_start_at_zero():
    @njit
    def bounds(scratch):
        m = make_team_member(0, 1, 0, 2, scratch)
        return (TeamThreadRange(m, 7).start, TeamThreadRange(m, 7).stop,
                TeamVectorRange(m, 7).stop, ThreadVectorRange(m, 7).start,
                ThreadVectorRange(m, 7).stop)

    scratch = np.empty(0, np.uint8)
    assert bounds(scratch) == (0, 4, 4, 0, 7)
    m = make_team_member(0, 1, 0, 2, scratch)
    assert list(TeamThreadRange(m, 7)) == list(TeamVectorRange(m, 7)) == [
        0, 1, 2, 3]
    assert list(ThreadVectorRange(m, 7)) == list(range(7))


def test_compiled_member_and_interpreter_twin_agree():
    @njit
    def describe(scratch):
        m = make_team_member(np.int32(3), 9, np.uint8(2), 4, scratch)
        m.team_barrier()
        s = m.team_scratch(1)
        s[0] = 7
        return (m.league_rank(), m.league_size(), m.team_rank(),
                m.team_size(), s.shape[0], m.team_scratch(0)[0])

    a, b = np.zeros(16, np.uint8), np.zeros(16, np.uint8)
    m = make_team_member(3, 9, 2, 4, b)
    m.team_barrier()
    m.team_scratch(1)[0] = 7
    assert describe(a) == (m.league_rank(), m.league_size(), m.team_rank(),
                           m.team_size(), m.team_scratch(0).shape[0],
                           m.team_scratch(0)[0]) == (3, 9, 2, 4, 16, 7)
    assert np.shares_memory(m.team_scratch(0), b)


def test_scratch_levels_other_than_0_and_1_are_rejected():
    @njit
    def level(scratch, lev):
        return make_team_member(0, 1, 0, 1, scratch).team_scratch(lev).size

    scratch = np.zeros(4, np.uint8)
    assert level(scratch, 1) == 4
    with pytest.raises(ValueError, match="level must be 0 or 1"):
        level(scratch, 2)
    with pytest.raises(ValueError, match="level must be 0 or 1"):
        make_team_member(0, 1, 0, 1, scratch).team_scratch(2)


def test_member_type_is_what_kernels_are_compiled_for():
    @njit
    def kernel(m):
        return m.team_rank()

    @njit
    def call(scratch):
        return kernel(make_team_member(0, 1, 0, 1, scratch))

    call(np.empty(3, np.uint8))
    assert kernel.signatures == [(member_type(),)]


@pytest.mark.parametrize("source, message", [
    ("make_team_member(0.5, 1, 0, 1, s)",
     "make_team_member: ranks and sizes must be integers, got float64"),
    ("make_team_member(0, 1, 0, 1, s.view(np.int64))",
     "make_team_member: scratch must be a 1-D uint8 array"),
    ("TeamThreadRange(s, 3)",
     "TeamThreadRange: first argument must be a team member"),
    ("ThreadVectorRange(make_team_member(0, 1, 0, 1, s), 0.5)",
     "ThreadVectorRange: bounds must be integers, got float64"),
])
def test_bad_types_give_a_typing_error_naming_the_function(source, message):
    namespace = {"make_team_member": make_team_member, "np": np,
                 "TeamThreadRange": TeamThreadRange,
                 "ThreadVectorRange": ThreadVectorRange}
    exec(f"def bad(s):\n    return {source}\n", namespace)
    with pytest.raises(TypingError, match=message.replace("(", r"\(")):
        njit(namespace["bad"])(np.zeros(8, np.uint8))


_CACHED_MODULE = '''
import numpy as np
from numba import njit, prange
from kkpy.core._atomics import atomic_add
from kkpy.core._team import make_team_member, TeamThreadRange

@njit(cache=True)
def kernel(m, total):
    s = m.team_scratch(0)
    s[0] = m.league_rank()
    for i in TeamThreadRange(m, 10):
        atomic_add(total, 0, i + s[0])

@njit(cache=True)
def one_team(total):
    kernel(make_team_member(0, 1, 0, 1, np.empty(8, np.uint8)), total)

@njit(cache=True, parallel=True)
def drive(league_size, team_size, total):
    for lr in prange(league_size):
        scratch = np.empty(8, np.uint8)
        for tr in range(team_size):
            kernel(make_team_member(lr, league_size, tr, team_size, scratch),
                   total)
'''

_CACHED_RUN = '''
import numpy as np, cached_team
total = np.zeros(1, np.int64)
cached_team.drive(20, 3, total)
cached_team.one_team(total)
assert total[0] == 21 * 45 + 10 * sum(range(20)), total
print(sum(cached_team.drive.stats.cache_hits.values()),
      sum(cached_team.one_team.stats.cache_hits.values()))
'''


def test_members_and_atomics_work_from_numba_disk_cache(tmp_path,
                                                       run_python):
    (tmp_path / "cached_team.py").write_text(_CACHED_MODULE)
    hits = []
    for _ in range(2):
        out = run_python(_CACHED_RUN, cwd=tmp_path, path=[tmp_path],
                         NUMBA_DISABLE_JIT="0")
        assert "NumbaWarning" not in out.stderr, out.stderr
        hits.append(out.stdout.split())
    assert hits == [["0", "0"], ["1", "1"]]


def test_team_kernels_run_as_plain_python_with_jit_disabled(run_python):
    script = textwrap.dedent("""
        import numpy as np
        from numba import njit, prange
        from kkpy.core._team import make_team_member, TeamThreadRange

        @njit(parallel=True)
        def drive(league_size, team_size, n, counts):
            for lr in prange(league_size):
                scratch = np.zeros(8, np.uint8)
                for tr in range(team_size):
                    m = make_team_member(lr, league_size, tr, team_size,
                                         scratch)
                    m.team_barrier()
                    m.team_scratch(0)[0] += 1
                    for i in TeamThreadRange(m, n):
                        counts[lr, i] += m.team_scratch(0)[0]

        counts = np.zeros((5, 11), np.int64)
        drive(5, 3, 11, counts)
        assert not hasattr(drive, "signatures"), "jit was not disabled"
        # Team rank r saw the scratch counter at r + 1.
        expected = np.repeat([1, 2, 3], [4, 4, 3])
        assert (counts == expected).all(), counts
        print("ok")
    """)
    assert run_python(script, NUMBA_DISABLE_JIT="1").stdout.strip() == "ok"
