"""One body per property, run on every execution space: Serial, Threads and Cuda.

Kokkos Kernels instantiates each unit test once per backend; the ``space``
fixture (tests/sparse/conftest.py) does the same here for the public entry
points that take ``space=``: SpGEMM in one call and in two phases, SpAdd in
both forms, SpMV, and the chain.  Every result is checked against scipy.
Cuda runs where CUDA is live; without a GPU the last test reruns this
module under numba's CUDA simulator for the Cuda space alone, so the sizes
and example counts stay small.

Properties of one backend stay with it: accumulators, chunking and thread
counts in test_spgemm.py and its neighbours; DeviceCrs operands, CUDA
graphs, the default space and what the Cuda space refuses in
test_cuda_sparse.py and test_cuda_chain.py.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import kkpy
from crs_strategies import (assert_canonical, assert_structure, chain_reference, crs,
                            new_values, pattern, positive_pattern_product, random_chain, ref)
from kkpy.core._cuda_testing import simulator_rerun
from kkpy.sparse import (CrsMatrix, SpAddHandle, SpGEMMHandle, epilogues, prepare_chain, spadd,
                         spadd_numeric, spadd_symbolic, spgemm, spgemm_chain, spgemm_numeric,
                         spgemm_symbolic, spmv)

# Few examples: under the simulator each one is interpreted Python on a fake GPU.
FEW = settings(max_examples=6)
small = st.integers(0, 7)


def on_host(C, space):
    """The result ``C`` in host memory, after checking it lives where ``space`` keeps results."""
    if space.memory_space == kkpy.CudaSpace:
        from kkpy.sparse import DeviceCrs

        assert isinstance(C, DeviceCrs)
        return C.to_host()
    assert isinstance(C, CrsMatrix)
    return C


def to_space(a, space):
    """A dense array in ``space``'s memory (an ndarray stays one on the host)."""
    if space.memory_space == kkpy.HostSpace:
        return a
    return kkpy.create_mirror_view_and_copy(space.memory_space, a)


def to_numpy(a):
    return np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, a))


# -- SpGEMM ---------------------------------------------------------------------------------
# Integer values keep every sum exact, so values must equal scipy's bit for bit.

@FEW
@given(data=st.data(), scipy_in=st.booleans())
def test_spgemm_is_scipys_product_on_the_products_structure(space, data, scipy_in):
    n, k, m = (data.draw(small) for _ in range(3))
    A, B = data.draw(crs(n, k, kind="int")), data.draw(crs(k, m, kind="int"))
    C = on_host(spgemm(*((A.to_scipy(), B.to_scipy()) if scipy_in else (A, B)), space=space),
                space)
    # cancelled entries stay as stored zeros: the structure is that of the 0/1 patterns
    assert_structure(C, positive_pattern_product(pattern(A), pattern(B)))
    assert C.dtype == np.result_type(A.dtype, B.dtype)
    assert np.array_equal(C.toarray(), (ref(A) @ ref(B)).toarray())


@FEW
@given(data=st.data())
def test_symbolic_once_then_numeric_with_new_values(space, data):
    n, k, m = (data.draw(small) for _ in range(3))
    A, B = data.draw(crs(n, k, kind="int")), data.draw(crs(k, m, kind="int"))
    h = SpGEMMHandle()
    C = spgemm_symbolic(h, A, B, space=space)
    structure = positive_pattern_product(pattern(A), pattern(B))
    assert h.nnz == structure.nnz
    assert_structure(on_host(C, space), structure)
    assert not on_host(C, space).values.any()       # the symbolic phase fills no values
    A2, B2 = new_values(data.draw, A, "int"), new_values(data.draw, B, "int")
    for A_now, B_now in ((A, B), (A2, B), (A2, B2)):   # values change, the structure not
        assert spgemm_numeric(h, A_now, B_now, C, space=space) is C
        got = on_host(C, space)
        assert_structure(got, structure)
        assert np.array_equal(got.toarray(), (ref(A_now) @ ref(B_now)).toarray())


def test_numeric_refuses_another_structure_or_another_result(space):
    A = CrsMatrix.from_scipy(sp.random(6, 5, density=0.4, format="csr", random_state=1))
    B = CrsMatrix.from_scipy(sp.random(5, 4, density=0.4, format="csr", random_state=2))
    h = SpGEMMHandle()
    C = spgemm_symbolic(h, A, B, space=space)
    moved = np.asarray(A.entries).copy()
    moved[0] = (moved[0] + 1) % A.ncols                  # same nnz, another column
    denser = CrsMatrix.from_scipy(sp.random(5, 4, density=0.8, format="csr", random_state=3))
    for name, args in (("A", (CrsMatrix(A.values, moved, A.row_map, A.ncols), B)),
                       ("B", (A, denser))):
        with pytest.raises(ValueError, match=f"structure of {name}"):
            spgemm_numeric(h, *args, C, space=space)
    with pytest.raises(ValueError, match="not the matrix"):
        spgemm_numeric(h, A, B, spgemm_symbolic(SpGEMMHandle(), A, B, space=space), space=space)
    spgemm_numeric(h, A, B, C, space=space)              # the handle is still good
    np.testing.assert_allclose(on_host(C, space).toarray(), (A.to_scipy() @ B.to_scipy()).toarray(),
                               rtol=1e-14, atol=1e-14)


# -- SpAdd ----------------------------------------------------------------------------------

@FEW
@given(data=st.data(), alpha=st.integers(-2, 2), beta=st.integers(-2, 2))
def test_spadd_in_one_call_and_in_two_phases_is_scipys_sum(space, data, alpha, beta):
    n, m = data.draw(small), data.draw(small)
    A, B = data.draw(crs(n, m, kind="int")), data.draw(crs(n, m, kind="int"))
    union = sp.csr_array(pattern(A) + pattern(B))
    union.data[:] = 1
    got = on_host(spadd(alpha, A, beta, B, space=space), space)
    assert_structure(got, union)                     # cancelled entries stay, as zeros
    assert np.array_equal(got.toarray(), (alpha * ref(A) + beta * ref(B)).toarray())
    h = SpAddHandle()
    C = spadd_symbolic(h, A, B, space=space)
    assert_structure(on_host(C, space), union)
    B2 = new_values(data.draw, B, "int")
    for a, b, B_now in ((alpha, beta, B), (beta, -alpha, B2)):   # new scalars, new values
        assert spadd_numeric(h, a, A, b, B_now, C, space=space) is C
        assert np.array_equal(on_host(C, space).toarray(),
                              (a * ref(A) + b * ref(B_now)).toarray())
    if n and m:                                      # one more stored entry: another structure
        rm = np.asarray(B.row_map).copy()
        rm[-1] += 1
        grown = CrsMatrix(np.append(B.values, 1), np.append(B.entries, 0), rm, m)
        with pytest.raises(ValueError, match="structure of B"):
            spadd_numeric(h, alpha, A, beta, grown, C, space=space)


# -- SpMV -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["N", "T"])
@pytest.mark.parametrize("width", [None, 3])
def test_spmv_updates_y_in_place_like_scipy(space, mode, width):
    # Repeated entries in unsorted rows: SpMV must add them all.
    rng = np.random.default_rng(8)
    S = sp.random(13, 9, density=0.3, format="coo", random_state=rng)
    pick = rng.integers(0, S.nnz, 5)
    rows, cols = np.r_[S.row, S.row[pick]], np.r_[S.col, S.col[pick]]
    order = rng.permutation(rows.size)
    A = CrsMatrix.from_coo(rows[order], cols[order], np.r_[S.data, S.data[pick]][order], S.shape)
    op = A.to_scipy() if mode == "N" else A.to_scipy().T
    x = rng.standard_normal((op.shape[1],) + ((width,) if width else ()))
    y0 = rng.standard_normal((op.shape[0],) + ((width,) if width else ()))
    y = to_space(y0.copy(), space)
    assert spmv(2.0, A, to_space(x, space), -0.5, y, mode=mode, space=space) is None
    np.testing.assert_allclose(to_numpy(y), 2.0 * (op @ x) - 0.5 * y0, rtol=1e-12, atol=1e-12)


# -- the chain ------------------------------------------------------------------------------

@settings(max_examples=4)
@given(seed=st.integers(0, 2**16), nrows=st.integers(0, 40),
       sizes=st.lists(st.integers(1, 24), min_size=2, max_size=4),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_chain_with_any_epilogue_is_the_scipy_loop(space, seed, nrows, sizes, dtype):
    rng = np.random.default_rng(seed)
    mats = random_chain(rng, sizes, 0.3, dtype)
    A = sp.random(nrows, sizes[0], density=0.4, format="csr", random_state=rng, dtype=dtype)
    stats = {}
    Y = spgemm_chain(A, mats, epilogues.threshold, (dtype(0.05),), space=space, dtype=dtype,
                     callback=lambda k, s: stats.__setitem__(k, (s["active_rows"], s["nnz"])))
    want, want_stats = chain_reference(
        A, mats, lambda z, j, t: np.where(np.abs(z) >= t, z, 0), (0.05,))
    got = on_host(Y, space)
    assert got.shape == want.shape and got.dtype == dtype
    assert_canonical(got)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.toarray(), want.toarray(), rtol=rtol, atol=rtol)
    if dtype == np.float64:   # float32 rounding may move an entry across the threshold
        assert got.nnz == want.nnz
        assert [stats[k] for k in sorted(stats)] == want_stats


def test_a_prepared_chain_with_per_product_arguments_serves_call_after_call(space):
    rng = np.random.default_rng(3)
    sizes = [12, 20, 9, 15]
    mats = random_chain(rng, sizes, 0.35, np.float32)
    bias = [rng.normal(-0.1, 0.2, n).astype(np.float32) for n in sizes[1:]]
    args = [(b, np.float32(2.0)) for b in bias]
    chain = prepare_chain(mats, space=space)
    assert len(chain) == len(mats)
    for seed in (1, 2, 2):                           # the same chain, new inputs and again
        A = sp.random(33, 12, density=0.4, format="csr", random_state=seed, dtype=np.float32)
        got = on_host(spgemm_chain(A, chain, epilogues.bias_relu_cap, args, space=space), space)
        want, _ = chain_reference(A, mats, lambda z, j, b, c: np.clip(z + b[j], 0, c),
                                  [(b.astype(np.float64), 2.0) for b in bias])
        np.testing.assert_allclose(got.toarray(), want.toarray(), rtol=1e-5, atol=1e-6)


test_cuda_space_under_the_simulator = simulator_rerun(__file__)
