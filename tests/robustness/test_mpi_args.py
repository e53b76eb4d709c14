"""MPI ranks refuse to run unless they share arguments and network (issue 15, finding 9)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dnn"))
from test_mpi import _mpiexec  # noqa: E402


def test_ranks_started_with_different_arguments_refuse_to_run():
    exe = _mpiexec()
    base = [sys.executable, "-m", "kkpy.dnn", "run", "--quiet"]
    r = subprocess.run([exe, "-n", "1", *base, "--layers", "2", ":", "-n", "1", *base,
                        "--layers", "3"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 2, r.stderr
    assert "differ from rank 0 in their arguments" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr

