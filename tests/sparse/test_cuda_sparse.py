"""What only the Cuda space does in kkpy.sparse: DeviceCrs operands, what it refuses.

The results of SpGEMM, SpAdd and SpMV on the Cuda space are checked against
scipy by the same bodies as on the host spaces, in test_on_every_space.py;
here are the Cuda space's own properties: operands uploaded once by the
caller, handles used across spaces, options it does not support, device
vectors, and the default space's routing.  On a machine with a GPU these
run on it; otherwise one test reruns this module under numba's CUDA
simulator, at small sizes.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from kkpy.core._cuda_testing import module_setup

MODE, on_device, test_module_passes_under_the_simulator = module_setup(__file__)


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


def on_host(C):
    """A DeviceCrs's structure and values, with a check that it really is one."""
    from kkpy.sparse import DeviceCrs

    assert isinstance(C, DeviceCrs)
    return C.to_host()


@on_device
def test_operands_uploaded_once_and_handles_used_across_spaces():
    import kkpy
    from kkpy.sparse import (CrsMatrix, DeviceCrs, SpGEMMHandle, spgemm_numeric,
                             spgemm_symbolic)

    A = matrix(1, 6, 5, 0.4)
    B = matrix(2, 5, 4, 0.4)
    gpu, h = kkpy.Cuda(), SpGEMMHandle()
    # B uploaded once by the caller: the handle fingerprints the GPU's copy of it
    dB = DeviceCrs.from_host(B)
    C = spgemm_symbolic(h, A, dB, space=gpu)
    A3 = CrsMatrix(3 * np.asarray(A.values), A.entries, A.row_map, A.ncols)
    spgemm_numeric(h, DeviceCrs.from_host(A3), B, C, space=gpu)  # the same structures, moved
    np.testing.assert_allclose(on_host(C).toarray(), 3 * (A.to_scipy() @ B.to_scipy()).toarray(),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="structure of B differs"):     # a DeviceCrs's structure
        spgemm_numeric(h, A, DeviceCrs.from_host(matrix(3, 5, 4, 0.6)), C, space=gpu)
    host = SpGEMMHandle()
    host_C = spgemm_symbolic(host, A, B, space=kkpy.Serial())
    with pytest.raises(ValueError, match="symbolic phase ran on the host"):
        spgemm_numeric(host, A, B, host_C, space=gpu)
    with pytest.raises(ValueError, match="symbolic phase ran on the Cuda space"):
        spgemm_numeric(h, A, B, C.to_host(), space=kkpy.Serial())


@on_device
def test_what_spgemm_on_cuda_does_not_support():
    import kkpy
    from kkpy.sparse import epilogues, spgemm

    A = matrix(4, 9, 6, 0.3, duplicates=True)
    B = matrix(5, 6, 8, 0.3)
    gpu = kkpy.Cuda()
    b = (np.zeros(8), 1.0)
    for kw, name in (({"epilogue": epilogues.bias_relu_cap, "epilogue_args": b}, "epilogue"),
                     ({"drop_zeros": True}, "drop_zeros"),
                     ({"algorithm": "dense"}, "algorithm='dense'")):
        with pytest.raises(NotImplementedError, match=f"spgemm: {name}"):
            spgemm(A, B, space=gpu, **kw)
    with pytest.raises(ValueError, match="A's columns must match B's rows"):
        spgemm(B, B, space=gpu)


@on_device
def test_the_default_space_routes_to_the_gpu_when_it_is_cuda():
    import kkpy
    from kkpy.sparse import DeviceCrs, spgemm

    A = matrix(6, 5, 5, 0.4)
    with kkpy.ScopeGuard(default_space="cuda"):
        C = spgemm(A, A)
    assert isinstance(C, DeviceCrs)
    np.testing.assert_allclose(C.to_host().toarray(), (A.to_scipy() @ A.to_scipy()).toarray(),
                               rtol=1e-12, atol=1e-12)


@on_device
@pytest.mark.parametrize("mode", ["N", "T"])
def test_spmv_on_cuda_needs_device_vectors_of_the_right_shape(mode):
    import kkpy
    from kkpy.sparse import spmv

    A = matrix(8, 13, 9, 0.3)
    nin, nout = (9, 13) if mode == "N" else (13, 9)
    x, y = np.ones(nin), np.zeros(nout)
    to_gpu = lambda a: kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, a)  # noqa: E731
    with pytest.raises(TypeError, match="y must be a CudaSpace View"):
        spmv(1.0, A, to_gpu(x), 0.0, y, mode=mode, space=kkpy.Cuda())
    with pytest.raises(ValueError, match="needs x of"):
        spmv(1.0, A, to_gpu(y), 0.0, to_gpu(x), mode=mode, space=kkpy.Cuda())
