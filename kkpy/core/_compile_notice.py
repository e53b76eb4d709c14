"""One line on stderr when a kernel compiles for longer than about a second.

The first call of a kernel in a new environment compiles it (seconds, a
minute for the whole DNN chain); later processes load it from the disk
cache.  Without a word, that first call looks like a hang.  A watched numba
dispatcher reports each slow compile as::

    kkpy: compiled parallel_for 'axpy' in 2.3 s (first use; cached for next time)

Loads from the disk cache are not reported (they are fast, and no compile).
``KKPY_QUIET=1`` silences the lines; :data:`stats` counts every compile
(slow or not), so that a caller can sum up a warm-up.

The hook replaces the dispatcher's ``_compile_for_args``, which numba's C
dispatcher calls only on a miss (a signature it has not compiled): calls
that hit cost nothing more.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time

__all__ = ["watch", "stats", "silenced", "THRESHOLD"]

#: Seconds a compile must take before it is reported: below it nobody waits.
THRESHOLD = 1.0

#: Compiles seen in this process: ``count`` and total ``seconds``.
stats = {"count": 0, "seconds": 0.0}


_silenced = [0]


def _quiet():
    return _silenced[0] > 0 or os.environ.get("KKPY_QUIET", "").strip() not in ("", "0")


@contextlib.contextmanager
def silenced():
    """No compile lines while this lasts (``kkpy-dnn run --quiet``); compiles still count."""
    _silenced[0] += 1
    try:
        yield
    finally:
        _silenced[0] -= 1


def _report(label, seconds):
    stats["count"] += 1
    stats["seconds"] += seconds
    if seconds >= THRESHOLD and not _quiet():
        sys.stderr.write(f"kkpy: compiled {label} in {seconds:.1f} s "
                         "(first use; cached for next time)\n")
        sys.stderr.flush()


def watch(dispatcher, label):
    """Report ``dispatcher``'s compiles under ``label``; returns ``dispatcher``.

    A dispatcher that is no numba dispatcher (``NUMBA_DISABLE_JIT``) or is
    already watched is returned as it is.

    Examples
    --------
    >>> import numba
    >>> f = watch(numba.njit(lambda x: x + 1), "parallel_for 'inc'")
    >>> before = stats["count"]
    >>> f(1), f(2), stats["count"] - before   # one compile, for int64
    (2, 3, 1)
    """
    compile_for_args = getattr(dispatcher, "_compile_for_args", None)
    if compile_for_args is None or getattr(compile_for_args, "_kkpy_watched", False):
        return dispatcher

    def timed(*args, **kws):
        hits = sum(dispatcher._cache_hits.values())
        t0 = time.perf_counter()
        result = compile_for_args(*args, **kws)
        if sum(dispatcher._cache_hits.values()) == hits:  # compiled, not loaded
            _report(label, time.perf_counter() - t0)
        return result

    timed._kkpy_watched = True
    dispatcher._compile_for_args = timed
    return dispatcher
