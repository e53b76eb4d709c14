"""The ``space`` fixture: one test body per execution space, as Kokkos Kernels has.

A test that takes ``space`` runs on Serial, Threads and Cuda.  Cuda runs
where CUDA is live, a GPU or numba's CUDA simulator; elsewhere the module
must bind ``kkpy.core._cuda_testing.simulator_rerun(__file__)`` to a test
name, which reruns it in a simulator child process for the Cuda space.
"""
import pytest

from kkpy.core._cuda_testing import make_space, space_params


# Module scope: a space holds no state a test changes, and hypothesis refuses a
# function-scoped fixture shared by the examples of one test.
@pytest.fixture(scope="module", params=space_params())
def space(request):
    """An execution space: ``kkpy.Serial()``, ``kkpy.Threads()`` or ``kkpy.Cuda()``."""
    return make_space(request.param)
