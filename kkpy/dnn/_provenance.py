"""Where a result came from: versions, commit, hardware, time and memory.

A figure in a JSON line is only comparable with another when both say what
produced them; everything here is cheap (no network, no import of optional
packages, at most one short ``git`` call) and never fails a run: what cannot
be found is ``None``.
"""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys

__all__ = ["provenance", "peak_rss_bytes", "git_commit", "cpu_model"]


def git_commit(package_dir=None):
    """The commit of the checkout kkpy runs from, or ``None`` when it is not one.

    Only a checkout whose top level holds the ``kkpy`` package counts: an
    installed copy inside some other repository (a venv in a project's
    folder) has no commit of its own.

    Examples
    --------
    >>> import tempfile
    >>> git_commit(tempfile.mkdtemp()) is None
    True
    """
    if package_dir is None:
        package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    top = os.path.dirname(os.path.abspath(package_dir))
    if not os.path.exists(os.path.join(top, ".git")):
        return None  # no subprocess at all for an installed kkpy
    try:
        done = subprocess.run(["git", "-C", top, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):  # no git, or a hung one
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def cpu_model():
    """The CPU's marketing name (Linux's ``/proc/cpuinfo``), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("model name", "Model", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _gpu_model():
    try:
        from numba import cuda

        if cuda.is_available():
            name = cuda.get_current_device().name
            return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # no numba-cuda, no driver, the simulator: no GPU to name
        pass
    return None


def peak_rss_bytes():
    """The process's peak resident memory so far, in bytes (``None`` where unknown).

    Examples
    --------
    >>> peak_rss_bytes() > 0
    True
    """
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux counts KiB, macOS bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def provenance(space="threads"):
    """A JSON-ready dict: versions, git commit, CPU / GPU model and a UTC timestamp.

    ``gpu`` is looked up only for the ``cuda`` space, so that CPU runs never
    import numba.cuda.

    Examples
    --------
    >>> p = provenance()
    >>> sorted(p)
    ['cpu', 'git_commit', 'gpu', 'kkpy', 'numba', 'numpy', 'python', 'scipy', 'timestamp']
    >>> p["gpu"] is None
    True
    """
    import numba
    import numpy
    import scipy

    from .._version import __version__

    return {
        "kkpy": __version__, "numba": numba.__version__, "numpy": numpy.__version__,
        "scipy": scipy.__version__, "python": platform.python_version(),
        "git_commit": git_commit(), "cpu": cpu_model(),
        "gpu": _gpu_model() if space == "cuda" else None,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
