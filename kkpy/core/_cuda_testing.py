"""How the test suite runs Cuda-space tests with and without a GPU.

``NUMBA_ENABLE_CUDASIM=1`` must be set before numba.cuda is first imported,
and it would change every CPU test in the same process.  So a test module
for the Cuda space asks :func:`cuda_test_mode` what to do:

* ``"gpu"``: a GPU is usable here; run the tests in this process;
* ``"sim"``: this process already runs under the simulator; run them;
* ``"spawn"``: no GPU: skip them here, and let one test rerun the module
  under the simulator in a child process (:func:`run_under_simulator`);
* ``"skip"``: numba-cuda is not installed.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys

__all__ = ["cuda_test_mode", "run_under_simulator", "module_setup"]


@functools.lru_cache(maxsize=None)
def cuda_test_mode() -> str:
    """``"gpu"``, ``"sim"``, ``"spawn"`` or ``"skip"`` (see the module docstring).

    Examples
    --------
    >>> cuda_test_mode() in ("gpu", "sim", "spawn", "skip")
    True
    """
    from numba.core import config

    try:
        from numba import cuda
        import numba.cuda.extending  # noqa: F401  (numba-cuda, not numba's old built-in)
    except ImportError:
        return "skip"
    if config.ENABLE_CUDASIM:
        return "sim"
    if os.environ.get("KKPY_CUDA_TESTS") == "sim":
        return "spawn"
    return "gpu" if cuda.is_available() else "spawn"


def run_under_simulator(path: str, timeout: float = 900.0) -> None:
    """Run the pytest module ``path`` under the CUDA simulator; raise if anything fails."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    cmd = [sys.executable, "-m", "pytest", path, "-q", "-p", "no:cacheprovider",
           "-o", "addopts=", "--no-header", "-x"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{os.path.basename(path)} failed under NUMBA_ENABLE_CUDASIM=1:\n"
                             + (proc.stdout + proc.stderr)[-6000:])


def module_setup(path):
    """What a Cuda test module needs: ``(mode, on_device, rerun_test)``.

    Skips the module when numba-cuda is missing; ``on_device`` marks tests
    that need a GPU or the simulator; ``rerun_test`` is the one test that,
    without either, runs the module again under the simulator.  Bind it to a
    ``test_...`` name so that pytest collects it.
    """
    import pytest

    mode = cuda_test_mode()
    if mode == "skip":
        pytest.skip("numba-cuda is not installed", allow_module_level=True)
    on_device = pytest.mark.skipif(mode == "spawn", reason="runs in the simulator child process")

    @pytest.mark.skipif(mode != "spawn", reason="a GPU or the simulator runs the tests directly")
    def rerun_test():
        run_under_simulator(path)

    return mode, on_device, rerun_test
