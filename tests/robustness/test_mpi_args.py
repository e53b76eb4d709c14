"""MPI ranks refuse to run unless they share arguments and network (issue 15, finding 9)."""
import os
import shutil
import subprocess
import sys

import pytest


def _mpiexec():
    exe = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(exe):
        pytest.skip("mpiexec is not installed (pip install 'kkpy[mpi]')")
    pytest.importorskip("mpi4py")
    return exe


def test_ranks_started_with_different_arguments_refuse_to_run():
    exe = _mpiexec()
    base = [sys.executable, "-m", "kkpy.dnn", "run", "--quiet"]
    r = subprocess.run([exe, "-n", "1", *base, "--layers", "2", ":", "-n", "1", *base,
                        "--layers", "3"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 2, r.stderr
    assert "differ from rank 0 in their arguments" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr

