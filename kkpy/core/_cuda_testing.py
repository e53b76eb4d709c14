"""How the test suite runs Cuda-space tests with and without a GPU.

``NUMBA_ENABLE_CUDASIM=1`` must be set before numba.cuda is first imported,
and it would change every CPU test in the same process.  So a test module
for the Cuda space asks :func:`cuda_test_mode` what to do:

* ``"gpu"``: a GPU is usable here; run the tests in this process;
* ``"sim"``: this process already runs under the simulator; run them;
* ``"spawn"``: no GPU: skip them here, and let one test rerun the module
  under the simulator in a child process (:func:`run_under_simulator`);
* ``"skip"``: numba-cuda is not installed.

Test bodies that hold on every space take the ``space`` fixture, whose
parameters come from :func:`space_params`: ``serial``, ``threads`` and
``cuda``, the last one run where CUDA is live (a GPU, or the simulator
child that the module's :func:`simulator_rerun` test starts), as Kokkos
Kernels instantiates one test body per backend.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys

__all__ = ["cuda_test_mode", "run_under_simulator", "module_setup", "space_params",
           "make_space", "simulator_rerun"]

#: Set in the simulator child: its parent has run the host spaces already.
_CHILD = "KKPY_SIMULATOR_CHILD"


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
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", **{_CHILD: "1"})
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
    return mode, on_device, simulator_rerun(path)


#: The spaces of the ``space`` fixture, by name.
SPACES = ("serial", "threads", "cuda")


def space_params():
    """``pytest.param`` of each space name, marked to skip where it does not run here.

    ``cuda`` runs with a GPU or under the simulator and is skipped otherwise
    (the module's :func:`simulator_rerun` test covers it then, in a child
    process).  In that child ``serial`` and ``threads`` are skipped: the
    parent has run them, and the simulator child is kept to what only it
    can run.  A process started under ``NUMBA_ENABLE_CUDASIM=1`` by hand
    runs all three.
    """
    import pytest

    mode = cuda_test_mode()
    child = mode == "sim" and os.environ.get(_CHILD) == "1"
    host = pytest.mark.skipif(child, reason="the parent process runs the host spaces")
    why = {"spawn": "runs in the simulator child process (the module's rerun test)",
           "skip": "numba-cuda is not installed"}.get(mode)
    cuda = pytest.mark.skipif(why is not None, reason=why or "")
    return [pytest.param("serial", marks=host, id="serial"),
            pytest.param("threads", marks=host, id="threads"),
            pytest.param("cuda", marks=cuda, id="cuda")]


def make_space(name):
    """The execution space of a :func:`space_params` name (Threads on every core)."""
    import kkpy

    return {"serial": kkpy.Serial, "threads": kkpy.Threads, "cuda": kkpy.Cuda}[name]()


def simulator_rerun(path):
    """The test that reruns module ``path`` under the simulator where no GPU is present.

    Unlike :func:`module_setup` it never skips the module: its host spaces
    run everywhere.  Bind it to a ``test_...`` name so that pytest collects
    it.
    """
    import pytest

    mode = cuda_test_mode()

    @pytest.mark.skipif(mode != "spawn", reason="the cuda space runs in this process, or not "
                        "at all (numba-cuda is not installed)")
    def rerun_test():
        run_under_simulator(path)

    return rerun_test
