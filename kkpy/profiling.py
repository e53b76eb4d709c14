"""Profiling: timers, named regions and a simple kernel timer.

Set ``KKPY_PROFILE=1`` (or call :func:`enable_kernel_timer`) to time every
pattern launch and region by label; the report prints at :func:`kkpy.finalize`
or at exit, like Kokkos Tools' simple kernel timer.  When the timer is off a
launch pays one boolean test.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
from collections import defaultdict

__all__ = ["Timer", "push_region", "pop_region", "region", "enable_kernel_timer",
           "disable_kernel_timer", "kernel_timer_report", "reset"]


class Timer:
    """Wall-clock timer (``Kokkos::Timer``).

    Examples
    --------
    >>> import kkpy
    >>> t = kkpy.Timer()
    >>> t.seconds() >= 0.0
    True
    """

    def __init__(self):
        self._start = time.perf_counter()

    def reset(self) -> None:
        self._start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self._start


_timer_enabled = os.environ.get("KKPY_PROFILE", "") not in ("", "0")
_stats = defaultdict(lambda: [0, 0.0])  # (kind, label) -> [calls, seconds]
_open: dict = {}
_regions: list = []
_reported = [False]


def enable_kernel_timer() -> None:
    """Start recording launch and region times."""
    global _timer_enabled
    _timer_enabled = True


def disable_kernel_timer() -> None:
    global _timer_enabled
    _timer_enabled = False


def reset() -> None:
    """Forget all recorded times."""
    _stats.clear()


def _begin(label, kind):
    _open[(kind, label)] = time.perf_counter()


def _end(label, kind):
    t0 = _open.pop((kind, label), None)
    if t0 is not None:
        rec = _stats[(kind, label)]
        rec[0] += 1
        rec[1] += time.perf_counter() - t0


def push_region(name: str) -> None:
    """Open a named region (``Kokkos::Profiling::pushRegion``)."""
    _regions.append((name, time.perf_counter()))


def pop_region() -> None:
    """Close the innermost region and record its time."""
    if not _regions:
        raise RuntimeError("pop_region() without a matching push_region()")
    name, t0 = _regions.pop()
    if _timer_enabled:
        rec = _stats[("region", name)]
        rec[0] += 1
        rec[1] += time.perf_counter() - t0


@contextlib.contextmanager
def region(name: str):
    """Context manager around :func:`push_region` / :func:`pop_region`.

    Examples
    --------
    >>> import kkpy
    >>> with kkpy.profiling.region("setup"):
    ...     pass
    """
    push_region(name)
    try:
        yield
    finally:
        pop_region()


def kernel_timer_report() -> list[dict]:
    """Recorded times, slowest first: dicts with kind, label, calls, total and mean seconds."""
    rows = [{"kind": kind, "label": label, "calls": calls, "total": total,
             "mean": total / calls if calls else 0.0}
            for (kind, label), (calls, total) in _stats.items()]
    return sorted(rows, key=lambda r: -r["total"])


def format_report(rows=None) -> str:
    rows = kernel_timer_report() if rows is None else rows
    lines = ["kkpy kernel timer", f"{'kind':<16}{'label':<36}{'calls':>8}{'total s':>12}{'mean s':>12}"]
    for r in rows:
        lines.append(f"{r['kind']:<16}{r['label'][:35]:<36}{r['calls']:>8}"
                     f"{r['total']:>12.6f}{r['mean']:>12.3e}")
    return "\n".join(lines)


def _report_at_finalize():
    if _timer_enabled and _stats and not _reported[0]:
        _reported[0] = True
        print(format_report(), file=sys.stderr)


atexit.register(_report_at_finalize)
