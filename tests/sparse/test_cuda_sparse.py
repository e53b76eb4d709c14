"""kkpy.sparse on the Cuda space against scipy: SpGEMM (both phases), SpAdd, SpMV.

On a machine with a GPU these run on it; otherwise one test reruns this
module under numba's CUDA simulator, at small sizes.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from kkpy.core._cuda_testing import module_setup

MODE, on_device, test_module_passes_under_the_simulator = module_setup(__file__)
FEW = settings(max_examples=5)


def matrix(seed, n, m, density, dtype=np.float64, duplicates=False):
    """Random CRS with uneven rows; optionally unsorted rows with repeated columns."""
    rng = np.random.default_rng(seed)
    A = sp.random(n, m, density=density, format="coo", random_state=rng, dtype=dtype)
    if duplicates and A.nnz:
        pick = rng.integers(0, A.nnz, A.nnz // 2 + 1)
        A = sp.coo_array((np.concatenate([A.data, A.data[pick]]),
                          (np.concatenate([A.row, A.row[pick]]),
                           np.concatenate([A.col, A.col[pick]]))), shape=(n, m))
    from kkpy.sparse import CrsMatrix

    order = rng.permutation(A.nnz)
    return CrsMatrix.from_coo(A.row[order], A.col[order], A.data[order], (n, m))


def dense(C):
    return C.to_host().toarray()


@on_device
@FEW
@given(seed=st.integers(0, 2**16), n=st.integers(0, 20), k=st.integers(1, 20),
       m=st.integers(1, 20), duplicates=st.booleans())
def test_spgemm_matches_scipy(seed, n, k, m, duplicates):
    from kkpy.sparse.impl import _cuda_sparse as cs

    A = matrix(seed, n, k, 0.3, duplicates=duplicates)
    B = matrix(seed + 1, k, m, 0.3, duplicates=duplicates)
    want = (A.to_scipy() @ B.to_scipy()).toarray()
    plan = cs.spgemm_symbolic(A, B)
    C = cs.spgemm_numeric(plan, A, B)
    np.testing.assert_allclose(dense(C), want, rtol=1e-12, atol=1e-12)
    host = C.to_host()
    rm, ent = np.asarray(host.row_map), np.asarray(host.entries)
    for i in range(n):                              # rows sorted, columns distinct
        assert (np.diff(ent[rm[i]:rm[i + 1]]) > 0).all()
    # numeric again: new values, the same structure
    from kkpy.sparse import CrsMatrix

    A2 = CrsMatrix(3 * np.asarray(A.values), A.entries, A.row_map, A.ncols)
    np.testing.assert_allclose(dense(cs.spgemm_numeric(plan, A2, B)), 3 * want, rtol=1e-12,
                               atol=1e-12)


@on_device
@FEW
@given(seed=st.integers(0, 2**16), n=st.integers(1, 15), m=st.integers(1, 15),
       alpha=st.floats(-2, 2), beta=st.floats(-2, 2))
def test_spadd_matches_scipy(seed, n, m, alpha, beta):
    from kkpy.sparse.impl import _cuda_sparse as cs

    A = matrix(seed, n, m, 0.3, duplicates=True)
    B = matrix(seed + 7, n, m, 0.4)
    C = cs.spadd(alpha, A, beta, B)
    want = (alpha * A.to_scipy() + beta * B.to_scipy()).toarray()
    np.testing.assert_allclose(dense(C), want, rtol=1e-12, atol=1e-12)


@on_device
@pytest.mark.parametrize("mode", ["N", "T"])
def test_spmv_runs_the_host_kernels_on_the_gpu(mode):
    import kkpy
    from kkpy.sparse import spmv as host_spmv
    from kkpy.sparse.impl import _cuda_sparse as cs

    A = matrix(3, 17, 11, 0.3)
    nin, nout = (11, 17) if mode == "N" else (17, 11)
    x = np.linspace(-1, 1, nin)
    y0 = np.arange(nout, dtype=np.float64)
    y = kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, y0)
    cs.spmv(2.0, A, kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, x), 0.5, y, mode=mode)
    want = y0.copy()
    host_spmv(2.0, A, x, 0.5, want, mode=mode, space=kkpy.Serial())
    np.testing.assert_allclose(np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, y)),
                               want, rtol=1e-13)
