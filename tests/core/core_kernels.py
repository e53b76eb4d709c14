"""Kernels shared by the core tests.

They live at module level in a real file so that kkpy caches their drivers
on disk, as it would for a user's kernels.
"""
import numpy as np

import kkpy


@kkpy.kernel
def value(i, x):
    return x[i]


@kkpy.kernel
def scaled_copy(i, x, y, a):
    y[i] = a * x[i] + i


@kkpy.kernel
def is_positive(i, x):
    return x[i] > 0


@kkpy.kernel
def visit2(i, j, hits):
    hits[i, j] += 1


@kkpy.kernel
def visit3(i, j, k, hits):
    hits[i, j, k] += 1


@kkpy.kernel
def visit4(i, j, k, m, hits):
    hits[i, j, k, m] += 1


@kkpy.kernel
def md_value2(i, j, a):
    return a[i, j]


@kkpy.kernel
def md_value3(i, j, k, a):
    return a[i, j, k]


@kkpy.kernel
def team_visit(member, hits, sizes):
    lr, tr = member.league_rank(), member.team_rank()
    hits[lr, tr] += 1
    sizes[lr, tr, 0] = member.league_size()
    sizes[lr, tr, 1] = member.team_size()


@kkpy.kernel
def team_thread_sweep(member, hits):
    # Each team's threads together cover the row once; team threads run one
    # after another on the host, so the += does not race.
    for j in kkpy.TeamThreadRange(member, hits.shape[1]):
        hits[member.league_rank(), j] += 1


@kkpy.kernel
def team_value(member, x):
    return x[member.league_rank()] * (member.team_rank() + 1)


@kkpy.kernel
def team_scratch_sum(member, x, out):
    # Scratch is per team: stage the row there, then sum it.
    buf = member.team_scratch(0).view(np.float64)
    lr = member.league_rank()
    for j in range(x.shape[1]):
        buf[j] = x[lr, j]
    s = 0.0
    for j in range(x.shape[1]):
        s += buf[j]
    out[lr] = s


def absmax(a, b):
    """A user reducer's join: the larger magnitude."""
    return max(abs(a), abs(b))


def _eight_sums(i, x, w, out):
    # eight running sums side by side: the shape the SLP vectoriser packs
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = x[0, 0] * 0
    for p in range(w.shape[0]):
        row = x[p]
        a0 += w[p] * row[0]
        a1 += w[p] * row[1]
        a2 += w[p] * row[2]
        a3 += w[p] * row[3]
        a4 += w[p] * row[4]
        a5 += w[p] * row[5]
        a6 += w[p] * row[6]
        a7 += w[p] * row[7]
    o = out[i]
    o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = a0, a1, a2, a3, a4, a5, a6, a7


eight_sums = kkpy.kernel(_eight_sums)
eight_sums_slp = kkpy.kernel(_eight_sums, fastmath={"contract"}, slp_vectorize=True)
