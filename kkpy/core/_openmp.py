"""How numba's OpenMP workers wait between parallel regions, set at ``import kkpy``.

Every numba parallel region in the process is affected, kkpy's backends'
and the readers' of :mod:`kkpy.sparse.io` alike, so the setting is made
when kkpy.core is imported, before any region can start.
"""
from __future__ import annotations

import os

__all__ = ["OMP_SPIN_COUNT"]

#: How long numba's OpenMP workers spin for the next parallel region before
#: they sleep (GNU OpenMP's ``GOMP_SPINCOUNT``, in spin iterations: tens of
#: microseconds).  kkpy's entries launch regions back to back with a little
#: Python between them, so waking sleeping workers each time was the cost
#: that mattered.  Medians on the 2-core dev machine (2026-12-07), a
#: parallel_scan of 8 elements / W @ W of the 1024-neuron layer on 2 threads:
#: workers sleeping at once (``OMP_WAIT_POLICY=PASSIVE``, kkpy's earlier
#: default) 128-208 us / 1.41-1.62 ms; spinning 10000 7.8 us / 0.83-0.89 ms
#: (3000 and 30000 alike; a raw numba region costs 2-5 us).  GNU's own
#: default, 300000, once stalled every region 8 ms on a machine busy with
#: other processes (a spinning worker spends its share of the CPU, and the
#: kernel then runs it late); 100000 did it again here under two busy loops
#: (13.5 ms a region), 10000 did not.  Under busy loops every setting was
#: erratic (W @ W 0.86-3.1 ms spinning 10000, 1.43-2.8 ms sleeping at once).
OMP_SPIN_COUNT = 10000

# GNU OpenMP (numba's usual threading layer) reads these when numba first
# starts its threads, i.e. at the first parallel launch, after this import.
# The readers of kkpy.sparse.io, which launch regions of their own, ran
# with GNU's default spin before this moved here from the host backend:
# read_mtx 2.6x slower on 2 threads of a machine busy with another process
# (0.288 s against 0.111 s).
# A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", str(OMP_SPIN_COUNT))
