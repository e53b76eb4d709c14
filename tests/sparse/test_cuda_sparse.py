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
    from kkpy.sparse.cuda import _ops as cs

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
    from kkpy.sparse.cuda import _ops as cs

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
    from kkpy.sparse.cuda import _ops as cs

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


# -- the public entry points with space=kkpy.Cuda() ------------------------------------------
# Integer values keep every sum exact, so results must equal scipy's bit for bit.

def on_host(C):
    """A DeviceCrs's structure and values, with a check that it really is one."""
    from kkpy.sparse import DeviceCrs

    assert isinstance(C, DeviceCrs)
    return C.to_host()


@on_device
@FEW
@given(data=st.data())
def test_public_two_phase_spgemm_on_cuda_matches_scipy(data):
    import kkpy
    from crs_strategies import assert_structure, crs, new_values, pattern, \
        positive_pattern_product, ref
    from kkpy.sparse import DeviceCrs, SpGEMMHandle, spgemm_numeric, spgemm_symbolic

    n, k, m = (data.draw(st.integers(0, 7)) for _ in range(3))
    A = data.draw(crs(n, k, kind="int"))
    B = data.draw(crs(k, m, kind="int"))
    gpu, h = kkpy.Cuda(), SpGEMMHandle()
    # B is uploaded once by the caller: its fingerprint then comes from the GPU's copy
    dB = DeviceCrs.from_host(B)
    C = spgemm_symbolic(h, A, dB, space=gpu)
    structure = positive_pattern_product(pattern(A), pattern(B))
    assert_structure(on_host(C), structure)
    assert h.nnz == structure.nnz and not on_host(C).values.any()
    for A_now in (A, new_values(data.draw, A, kind="int")):    # values change, structure not
        assert spgemm_numeric(h, A_now, dB, C, space=gpu) is C
        got = on_host(C)
        assert_structure(got, structure)
        assert np.array_equal(got.toarray(), (ref(A_now) @ ref(B)).toarray())


@on_device
def test_public_spgemm_numeric_on_cuda_refuses_a_changed_structure():
    import kkpy
    from kkpy.sparse import (CrsMatrix, DeviceCrs, SpGEMMHandle, spgemm_numeric,
                             spgemm_symbolic)

    A = matrix(1, 6, 5, 0.4)
    B = matrix(2, 5, 4, 0.4)
    gpu, h = kkpy.Cuda(), SpGEMMHandle()
    C = spgemm_symbolic(h, A, B, space=gpu)
    spgemm_numeric(h, DeviceCrs.from_host(A), B, C, space=gpu)    # the same structure, uploaded
    moved = np.asarray(A.entries).copy()
    moved[0] = (moved[0] + 1) % A.ncols                        # same nnz, another column
    for name, args in (("A", (CrsMatrix(A.values, moved, A.row_map, A.ncols), B)),
                       ("B", (A, matrix(3, 5, 4, 0.6)))):
        with pytest.raises(ValueError, match=f"structure of {name} differs"):
            spgemm_numeric(h, *args, C, space=gpu)
    with pytest.raises(ValueError, match="structure of B differs"):     # a DeviceCrs too
        spgemm_numeric(h, A, DeviceCrs.from_host(matrix(3, 5, 4, 0.6)), C, space=gpu)
    with pytest.raises(ValueError, match="C is not the matrix"):
        spgemm_numeric(h, A, B, spgemm_symbolic(SpGEMMHandle(), A, B, space=gpu), space=gpu)
    host = SpGEMMHandle()
    host_C = spgemm_symbolic(host, A, B, space=kkpy.Serial())
    with pytest.raises(ValueError, match="symbolic phase ran on the host"):
        spgemm_numeric(host, A, B, host_C, space=gpu)
    with pytest.raises(ValueError, match="symbolic phase ran on the Cuda space"):
        spgemm_numeric(h, A, B, C.to_host(), space=kkpy.Serial())


@on_device
def test_public_spgemm_on_cuda_and_what_it_does_not_support():
    import kkpy
    from kkpy.sparse import epilogues, spgemm

    A = matrix(4, 9, 6, 0.3, duplicates=True)
    B = matrix(5, 6, 8, 0.3)
    gpu = kkpy.Cuda()
    got = on_host(spgemm(A, B, space=gpu))
    np.testing.assert_allclose(got.toarray(), (A.to_scipy() @ B.to_scipy()).toarray(),
                               rtol=1e-12, atol=1e-12)
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
@FEW
@given(data=st.data(), alpha=st.integers(-2, 2), beta=st.integers(-2, 2))
def test_public_spadd_on_cuda_matches_scipy(data, alpha, beta):
    import kkpy
    from crs_strategies import assert_structure, crs, new_values, pattern, ref
    from kkpy.sparse import CrsMatrix, SpAddHandle, spadd, spadd_numeric, spadd_symbolic

    n, m = data.draw(st.integers(0, 7)), data.draw(st.integers(0, 7))
    A, B = data.draw(crs(n, m, kind="int")), data.draw(crs(n, m, kind="int"))
    gpu = kkpy.Cuda()
    union = pattern(A) + pattern(B)
    union.data[:] = 1
    got = on_host(spadd(alpha, A, beta, B, space=gpu))
    assert_structure(got, union)                  # cancelled entries stay, as zeros
    assert np.array_equal(got.toarray(), (alpha * ref(A) + beta * ref(B)).toarray())
    h = SpAddHandle()
    C = spadd_symbolic(h, A, B, space=gpu)
    assert_structure(on_host(C), union)
    B2 = new_values(data.draw, B, kind="int")
    for a, b, B_now in ((alpha, beta, B), (beta, -alpha, B2)):
        assert spadd_numeric(h, a, A, b, B_now, C, space=gpu) is C
        assert np.array_equal(on_host(C).toarray(), (a * ref(A) + b * ref(B_now)).toarray())
    if n and m:                                     # one more stored entry: another structure
        rm = np.asarray(B.row_map).copy()
        rm[-1] += 1
        grown = CrsMatrix(np.append(B.values, 1), np.append(B.entries, 0), rm, m)
        with pytest.raises(ValueError, match="structure of B differs"):
            spadd_numeric(h, alpha, A, beta, grown, C, space=gpu)


@on_device
@pytest.mark.parametrize("mode", ["N", "T"])
@pytest.mark.parametrize("width", [None, 3])
def test_public_spmv_on_cuda_matches_scipy(mode, width):
    import kkpy
    from kkpy.sparse import spmv

    A = matrix(8, 13, 9, 0.3, duplicates=True)
    S = A.to_scipy()
    op = S if mode == "N" else S.T
    rng = np.random.default_rng(1)
    x = rng.standard_normal((op.shape[1],) + ((width,) if width else ()))
    y0 = rng.standard_normal((op.shape[0],) + ((width,) if width else ()))
    to_gpu = lambda a: kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, a)  # noqa: E731
    y = to_gpu(y0)
    assert spmv(2.0, A, to_gpu(x), -0.5, y, mode=mode, space=kkpy.Cuda()) is None
    np.testing.assert_allclose(np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, y)),
                               2.0 * (op @ x) - 0.5 * y0, rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="y must be a CudaSpace View"):
        spmv(1.0, A, to_gpu(x), 0.0, y0, mode=mode, space=kkpy.Cuda())
    with pytest.raises(ValueError, match="needs x of"):
        spmv(1.0, A, to_gpu(y0), 0.0, to_gpu(x), mode=mode, space=kkpy.Cuda())
