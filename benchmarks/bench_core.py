"""Core benchmarks: reduction speed, launch latency and compile time.

- ``Dot``: ``parallel_reduce`` dot product of two 2e7 float64 arrays on
  ``Threads`` against a hand-written numba ``prange`` loop (target: within
  1.2x); ``track_ratio`` times both in one process, interleaved.
- ``Launch``: seconds per launch of a cached ``parallel_for`` on a tiny
  range (target: at most 20 us), on Serial and Threads, beside the floors: a
  bare call of a numba function and numba's own ``prange`` on 16 indices.
- ``Compile``: first-call times of typical kernels in a fresh process with
  empty caches (``KKPY_CACHE_DIR``, ``NUMBA_CACHE_DIR`` in a temporary
  folder), and in a second process that finds them cached.

Run with asv (``asv run --python=same -b bench_core``), or directly for a
table of medians and ratios measured in one run
(``python benchmarks/bench_core.py [--repeat 7]``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import numba
import numpy as np
from numba import prange

import kkpy

N_DOT = 20_000_000


@kkpy.kernel
def dot_kernel(i, x, y):
    return x[i] * y[i]


@numba.njit(parallel=True, cache=True)
def dot_prange(x, y):
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i] * y[i]
    return s


@kkpy.kernel
def bump(i, x):
    x[i] += 1.0


@numba.njit(cache=True)
def bump_one(b, x):
    x[b] += 1.0


@numba.njit(parallel=True, cache=True)
def bump_prange(x):
    for i in prange(x.shape[0]):
        x[i] += 1.0


def dot_kkpy(x, y):
    return kkpy.parallel_reduce("dot", kkpy.RangePolicy(kkpy.Threads(), 0, len(x)), dot_kernel, x, y)


def median_seconds(fn, number=1, repeat=7):
    """Median over ``repeat`` batches of the time of one call (``number`` calls a batch)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def _dot_data():
    rng = np.random.default_rng(0)
    return rng.random(N_DOT), rng.random(N_DOT)


class Dot:
    """2e7-element float64 dot product: kkpy against numba's own prange reduction."""

    timeout = 300

    def setup(self):
        self.x, self.y = _dot_data()
        # compile (or load from cache) outside the timed region
        assert np.isclose(dot_kkpy(self.x, self.y), dot_prange(self.x, self.y))

    def time_kkpy_parallel_reduce(self):
        dot_kkpy(self.x, self.y)

    def time_numba_prange(self):
        dot_prange(self.x, self.y)

    def track_ratio(self):
        """kkpy time / numba prange time, medians of interleaved runs (lower is better)."""
        kk, nb = [], []
        for _ in range(7):
            kk.append(median_seconds(lambda: dot_kkpy(self.x, self.y), repeat=1))
            nb.append(median_seconds(lambda: dot_prange(self.x, self.y), repeat=1))
        return statistics.median(kk) / statistics.median(nb)

    track_ratio.unit = "ratio"


class Launch:
    """Launch latency of a cached kernel on a tiny range, in seconds per launch.

    Each figure is the median over batches of 2000 launches, measured one
    case at a time: after a Threads launch numba's OpenMP workers spin for a
    while, and on a small machine that slows whatever runs next.  (asv's own
    ``time_`` sampling of microsecond calls swung by 10x on a busy 2-core box.)
    """

    def setup(self):
        x = self.x = np.zeros(16)
        serial1 = kkpy.RangePolicy(kkpy.Serial(), 0, 1)
        threads1 = kkpy.RangePolicy(kkpy.Threads(), 0, 1)
        threads16 = kkpy.RangePolicy(kkpy.Threads(), 0, 16)
        self.cases = {
            # the floor: calling a compiled numba function from Python
            "numba_call": lambda: bump_one(0, x),
            "parallel_for_serial_1": lambda: kkpy.parallel_for("bump", serial1, bump, x),
            "parallel_for_threads_1": lambda: kkpy.parallel_for("bump", threads1, bump, x),
            # 16 indices wake numba's thread pool: this includes its fork/join ...
            "parallel_for_threads_16": lambda: kkpy.parallel_for("bump", threads16, bump, x),
            # ... whose floor is numba's own prange on 16 indices
            "numba_prange_16": lambda: bump_prange(x),
        }
        for launch in self.cases.values():
            launch()

    def _median(self, case, repeat=7):
        return median_seconds(self.cases[case], number=2000, repeat=repeat)

    def track_numba_call(self):
        return self._median("numba_call")

    def track_parallel_for_serial_1(self):
        return self._median("parallel_for_serial_1")

    def track_parallel_for_threads_1(self):
        return self._median("parallel_for_threads_1")

    def track_parallel_for_threads_16(self):
        return self._median("parallel_for_threads_16")

    def track_numba_prange_16(self):
        return self._median("numba_prange_16")

    for _name in list(locals()):
        if _name.startswith("track_"):
            locals()[_name].unit = "seconds"
    del _name


_KERNELS = '''
import kkpy

@kkpy.kernel
def axpy(i, a, x, y):
    y[i] += a * x[i]

@kkpy.kernel
def dot(i, x, y):
    return x[i] * y[i]
'''

_FIRST_CALLS = '''
import json, time
t0 = time.perf_counter()
import numba, numpy as np, kkpy, kmod
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
numba.njit(lambda a: a + 1)(1)  # numba's one-time start-up, not kkpy's compile
t_numba = time.perf_counter() - t0
x, y = np.ones(1000), np.zeros(1000)
pol = kkpy.RangePolicy(kkpy.Threads(), 0, 1000)
t0 = time.perf_counter()
kkpy.parallel_for("axpy", pol, kmod.axpy, 2.0, x, y)
t_for = time.perf_counter() - t0
t0 = time.perf_counter()
kkpy.parallel_reduce("dot", pol, kmod.dot, x, y)
t_reduce = time.perf_counter() - t0
t0 = time.perf_counter()
kkpy.parallel_for("axpy", pol, kmod.axpy, 2.0, x, y)
t_again = time.perf_counter() - t0
print(json.dumps({"import": t_import, "numba_start": t_numba, "parallel_for": t_for,
                  "parallel_reduce": t_reduce, "second_call": t_again}))
'''


def first_call_times():
    """First-call seconds in a process with empty caches, then in one with them filled."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "kmod.py"), "w") as fh:
            fh.write(_KERNELS)
        # Throw-away caches only (kkpy's stamps and drivers, numba's files):
        # the user's caches are neither read nor cleared.  The child imports
        # the kkpy this process measures, wherever PYTHONPATH points (asv drops it).
        kkpy_root = os.path.dirname(os.path.dirname(os.path.abspath(kkpy.__file__)))
        env = dict(os.environ, KKPY_CACHE_DIR=os.path.join(tmp, "kkpy-cache"),
                   NUMBA_CACHE_DIR=os.path.join(tmp, "numba-cache"),
                   PYTHONPATH=os.pathsep.join(filter(None, [tmp, kkpy_root,
                                                            os.environ.get("PYTHONPATH")])))
        runs = []
        for _ in range(2):
            proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_FIRST_CALLS)],
                                  cwd=tmp, env=env, capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(f"first-call script failed:\n{proc.stderr}")
            runs.append(json.loads(proc.stdout))
    return {"cold": runs[0], "cached": runs[1]}


class Compile:
    """First call of typical kernels on Threads (axpy parallel_for, dot parallel_reduce)."""

    timeout = 300

    def setup_cache(self):
        return first_call_times()

    def track_first_parallel_for_empty_cache(self, times):
        return times["cold"]["parallel_for"]

    def track_first_parallel_reduce_empty_cache(self, times):
        return times["cold"]["parallel_reduce"]

    def track_first_parallel_for_cached(self, times):
        return times["cached"]["parallel_for"]

    def track_first_parallel_reduce_cached(self, times):
        return times["cached"]["parallel_reduce"]

    for _name in list(locals()):
        if _name.startswith("track_"):
            locals()[_name].unit = "seconds"
    del _name


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"numba {numba.__version__}, {kkpy.Threads().concurrency()} threads, "
          f"layer {numba.config.THREADING_LAYER}")

    dot = Dot()
    dot.setup()
    kk, nb = [], []
    for _ in range(args.repeat):  # interleaved, so both see the same machine load
        kk.append(median_seconds(lambda: dot_kkpy(dot.x, dot.y), repeat=1))
        nb.append(median_seconds(lambda: dot_prange(dot.x, dot.y), repeat=1))
    kk_ms, nb_ms = statistics.median(kk) * 1e3, statistics.median(nb) * 1e3
    print(f"dot 2e7 float64: kkpy parallel_reduce {kk_ms:.1f} ms, numba prange {nb_ms:.1f} ms, "
          f"ratio {kk_ms / nb_ms:.2f} (target <= 1.2)")
    del dot

    launch = Launch()
    launch.setup()
    for case in launch.cases:
        us = launch._median(case, repeat=args.repeat) * 1e6
        floor = case.startswith("numba")
        print(f"launch, {case}: {us:.2f} us" + (" (floor)" if floor else " (target <= 20)"))

    times = first_call_times()
    for state in ("cold", "cached"):
        t = times[state]
        print(f"first calls, {'empty' if state == 'cold' else 'filled'} caches: "
              f"import {t['import']:.2f} s, numba start {t['numba_start']:.2f} s, "
              f"parallel_for {t['parallel_for']:.2f} s, parallel_reduce "
              f"{t['parallel_reduce']:.2f} s, second call {t['second_call'] * 1e6:.0f} us")


if __name__ == "__main__":
    # Run the copy imported as benchmarks.bench_core, the name asv uses: numba's
    # disk cache records the module name of each cached function, and a script
    # (__main__) and a module sharing one cache entry cannot both load it.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.bench_core import main as _main

    _main()
