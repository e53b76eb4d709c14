"""What only the Cuda space's ``spgemm_chain`` does, against a scipy reference.

Any epilogue in float32 and float64, and a prepared chain reused with
per-product arguments, are checked by the same bodies as on the host
spaces, in test_on_every_space.py.  Here: inputs already on the GPU, an
infinite weight, a chain prepared for the GPU used elsewhere, the GPU's
check of an input's structure, and its output groups.  On a machine with a
GPU these run on it; otherwise one test reruns this module under numba's
CUDA simulator, at small sizes.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import kkpy
from crs_strategies import chain_reference, random_chain
from kkpy.core._cuda_testing import module_setup
from kkpy.sparse import epilogues, prepare_chain, spgemm_chain

MODE, on_device, test_module_passes_under_the_simulator = module_setup(__file__)


@on_device
def test_an_input_already_on_the_gpu_and_stats():
    from kkpy.sparse import DeviceCrs

    rng = np.random.default_rng(5)
    mats = random_chain(rng, [10, 10, 10], 0.4, np.float32)
    dense = (rng.random((40, 10)) < 0.3).astype(np.float32)
    dense[7] = 0                                          # dead from the start
    A = sp.csr_array(dense)
    stats = []
    Y = spgemm_chain(DeviceCrs.from_host(A.astype(np.float32)), mats, epilogues.relu, (),
                     space=kkpy.Cuda(), callback=lambda k, s: stats.append(s))
    want, _ = chain_reference(A, mats, lambda z, j: np.maximum(z, 0), ())
    np.testing.assert_allclose(Y.to_host().toarray(), want.toarray(), rtol=1e-5, atol=1e-6)
    assert [set(s) for s in stats] == [{"active_rows", "nnz", "seconds"}] * 2
    assert stats[-1]["nnz"] == want.nnz
    assert stats[-1]["active_rows"] == np.count_nonzero(np.diff(want.indptr))


@on_device
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tiled", [True, False])
def test_inputs_with_repeated_unsorted_columns_load_the_same_both_ways(monkeypatch, tiled,
                                                                        dtype):
    # narrow inputs load through shared-memory tiles, wide ones by memset and
    # scatter (the limit set to 0 forces it): repeats add up either way, in
    # any order, and a batch's unused lanes hold zeros after a dirty call
    from kkpy.sparse import _tuning

    monkeypatch.setattr(_tuning, "GPU_TILED_LOAD_COLUMNS", 10**9 if tiled else 0)
    rng = np.random.default_rng(11)
    n = 600 if MODE == "gpu" else 40     # several tiles of columns either way
    W = sp.random(n, n, density=0.05, random_state=3, format="csr", dtype=dtype)
    chain = prepare_chain([W], dtype, space=kkpy.Cuda())
    dirty = sp.csr_array(np.full((70, n), np.nan, dtype))
    spgemm_chain(dirty, chain, epilogues.identity, dtype=dtype, space=kkpy.Cuda()).to_host()
    rows, cols = rng.integers(0, 45, 600), rng.integers(0, n, 600)
    vals = rng.random(600).astype(dtype)
    order = np.argsort(rows, kind="stable")            # grouped by row, columns unsorted
    indptr = np.searchsorted(rows[order], np.arange(46))
    A = sp.csr_array((vals[order], cols[order], indptr), shape=(45, n))
    assert not A.has_canonical_format
    got = spgemm_chain(A, chain, epilogues.identity, dtype=dtype, space=kkpy.Cuda())
    want = (A.toarray().astype(np.float64) @ W.toarray()).astype(dtype)
    np.testing.assert_allclose(got.to_host().toarray(), want, rtol=1e-5 if dtype == np.float32
                               else 1e-12, atol=1e-5)


@on_device
def test_an_infinite_weight_meets_only_nonzero_inputs():
    W = sp.csr_array(np.array([[np.inf, 1.0], [0.5, -1.0]], np.float32))
    A = sp.csr_array(np.array([[0.0, 2.0], [1.0, 0.0], [1.0, 1.0]], np.float32))
    cap = (np.zeros(2, np.float32), np.float32(4.0))
    got = spgemm_chain(A, [W], epilogues.bias_relu_cap, cap, space=kkpy.Cuda())
    got = got.to_host().toarray()
    # row 0 never touches the infinite weight; rows 1 and 2 are capped
    want = chain_reference(A, [W], lambda z, j, b, c: np.clip(z, 0, c), (0, 4.0))[0].toarray()
    np.testing.assert_array_equal(got, want)
    assert not np.isnan(got).any() and got[0, 0] == 1.0


@on_device
def test_a_call_after_one_with_infinite_and_nan_values_starts_clean():
    # the batches are reused from call to call: clearing them must not
    # compute with what the last call left there (inf - inf is NaN)
    W = sp.csr_array(np.array([[1.0, 2.0], [0.5, -1.0]], np.float32))
    chain = prepare_chain([W], space=kkpy.Cuda())
    bad = sp.csr_array(np.array([[np.inf, np.nan], [np.nan, np.inf]], np.float32))
    spgemm_chain(bad, chain, epilogues.identity, space=kkpy.Cuda()).to_host()
    A = sp.csr_array(np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 1.0]], np.float32))
    got = spgemm_chain(A, chain, epilogues.identity, space=kkpy.Cuda()).to_host().toarray()
    np.testing.assert_array_equal(got, (A @ W).toarray())


@on_device
def test_an_argument_changed_in_place_between_calls_is_used_changed():
    # a host argument goes up again only when its bytes change: the same
    # array object, changed in place, must not keep the old values
    W = sp.csr_array(np.array([[1.0, 2.0], [0.5, -1.0]], np.float32))
    A = sp.csr_array(np.array([[1.0, 0.0], [0.0, 3.0]], np.float32))
    chain = prepare_chain([W, W], space=kkpy.Cuda())
    b = np.array([0.25, -0.5], np.float32)
    for change in (None, 1.0, 3.0):
        if change is not None:
            b[1] = change
        got = spgemm_chain(A, chain, epilogues.bias, (b,), space=kkpy.Cuda()).to_host()
        Z = A.toarray()
        for _ in range(2):
            Z = Z @ W.toarray()
            Z = np.where(Z != 0, Z + b, 0)
        np.testing.assert_array_equal(got.toarray(), Z.astype(np.float32))


@on_device
def test_a_chain_prepared_for_the_gpu_is_refused_on_the_host_and_dtypes_must_agree():
    W = sp.eye(3, format="csr", dtype=np.float32)
    chain = prepare_chain([W], space=kkpy.Cuda())
    with pytest.raises(ValueError, match="prepared for a Cuda space"):
        spgemm_chain(W, chain, epilogues.identity, space=kkpy.Serial())
    with pytest.raises(ValueError, match="prepared for float32, not float64"):
        spgemm_chain(W, chain, epilogues.identity, space=kkpy.Cuda(), dtype=np.float64)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), ncols=st.integers(1, 60), copies=st.integers(1, 40))
def test_output_groups_cover_every_column_and_share_only_equal_ones(seed, ncols, copies):
    if MODE == "spawn":
        pytest.skip("imports numba-cuda: runs in the simulator child process")
    from kkpy.sparse.cuda._chain import _GROUP, _SHARED_MIN, _output_groups

    rng = np.random.default_rng(seed)
    W = sp.random(30, ncols, density=0.2, format="csc", random_state=rng)
    W = sp.hstack([W, sp.csc_array(W[:, [0] * copies])], format="csc")  # planted equal columns
    W.sort_indices()
    gptr, cols, shared = _output_groups(W.indptr, W.indices)
    assert sorted(cols.tolist()) == list(range(W.shape[1]))
    sizes = np.diff(gptr)
    assert sizes.min() >= 1 and sizes.max() <= _GROUP
    for g in np.flatnonzero(shared):
        members = cols[gptr[g]:gptr[g + 1]]
        assert len(members) >= _SHARED_MIN
        rows = [W.indices[W.indptr[c]:W.indptr[c + 1]].tolist() for c in members]
        assert all(r == rows[0] for r in rows)
    if copies + 1 >= _SHARED_MIN and W.indptr[1] > 0:
        assert shared.any()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), nrows=st.integers(0, 40), ncols=st.integers(0, 40),
       repeats=st.booleans())
def test_columns_for_the_gpu_are_scipys_csc(seed, nrows, ncols, repeats):
    # Unsorted rows, empty rows and columns, and (with repeats) entries
    # naming one place twice, which the columns must hold summed.
    if MODE == "spawn":
        pytest.skip("imports numba-cuda: runs in the simulator child process")
    from kkpy.sparse import CrsMatrix
    from kkpy.sparse.cuda._chain import _LANES, _csc

    rng = np.random.default_rng(seed)
    nnz = int(rng.integers(0, nrows * ncols + 1)) if nrows and ncols else 0
    rows = np.sort(rng.integers(0, max(nrows, 1), nnz))
    cols = rng.integers(0, max(ncols, 1), nnz)
    if not repeats:
        keep = np.unique(rows * max(ncols, 1) + cols, return_index=True)[1]
        rows, cols = rows[keep], cols[keep]
        perm = rng.permutation(rows.shape[0])      # unsorted within rows
        order = np.argsort(rows[perm], kind="stable")
        rows, cols = rows[perm][order], cols[perm][order]
    vals = rng.standard_normal(rows.shape[0])
    row_map = np.searchsorted(rows, np.arange(nrows + 1)).astype(np.int64)
    m = CrsMatrix(vals, cols.astype(np.int64), row_map, ncols)
    want = sp.csr_array((vals, cols, row_map), shape=(nrows, ncols)).tocsc()
    want.sum_duplicates()
    *_, colptr, roff, values = _csc(m, np.float32)
    np.testing.assert_array_equal(colptr, want.indptr)
    np.testing.assert_array_equal(roff, want.indices * _LANES)
    np.testing.assert_allclose(values, want.data.astype(np.float32), rtol=1e-6, atol=1e-6)


@on_device
@pytest.mark.parametrize("row_map, entries", [([0, 1, 2], [0, 7]),       # column 7 of 3
                                              ([0, 2, 1], [0, 1]),       # decreasing
                                              ([0, 1, 9], [0, 1])])      # beyond the entries
def test_a_bad_input_structure_is_refused_not_used(row_map, entries):
    from kkpy.sparse import CrsMatrix

    A = CrsMatrix(np.ones(2, np.float32), np.array(entries), np.array(row_map), 3, check=False)
    W = sp.eye(3, format="csr", dtype=np.float32)
    with pytest.raises(ValueError, match="spgemm_chain: A"):
        spgemm_chain(A, [W], epilogues.identity, space=kkpy.Cuda())


@on_device
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16),
       kind=st.sampled_from(["column", "decreasing", "beyond", "negative"]))
def test_a_bad_structure_anywhere_in_a_large_input_is_refused(seed, kind):
    """Large enough to go up in parts (``_parts``): each part checks its own ends."""
    from kkpy.sparse import CrsMatrix

    rng = np.random.default_rng(seed)
    # 160 entries: two parts in the simulator (_tuning.GPU_PIPELINE_ENTRIES)
    good = sp.random(40, 8, density=0.5, format="csr", random_state=rng, dtype=np.float32)
    rm, ent = good.indptr.astype(np.int64), good.indices.astype(np.int64)
    r = int(rng.integers(1, 40))
    if kind == "column":
        ent[rng.integers(len(ent))] = 8
    elif kind == "decreasing":
        rm[r] = rm[r + 1] + 1
    elif kind == "beyond":
        rm[r] = len(ent) + 5
    else:
        rm[r] = -1
    A = CrsMatrix(good.data, ent, rm, 8, check=False)
    W = sp.eye(8, format="csr", dtype=np.float32)
    with pytest.raises(ValueError, match="spgemm_chain: A"):
        spgemm_chain(A, [W], epilogues.identity, space=kkpy.Cuda())
    assert spgemm_chain(good, [W], epilogues.identity, space=kkpy.Cuda()).nnz == good.nnz


@on_device
def test_a_column_index_that_int32_would_wrap_is_refused():
    from kkpy.sparse import CrsMatrix

    # 2**32 + 1 would become 1 in int32: the upload narrows only checked indices
    A = CrsMatrix(np.ones(1, np.float32), np.array([2**32 + 1], np.int64), np.array([0, 1]), 3,
                  check=False)
    W = sp.eye(3, format="csr", dtype=np.float32)
    with pytest.raises(ValueError, match="column indices must lie in"):
        spgemm_chain(A, [W], epilogues.identity, space=kkpy.Cuda())


@on_device
def test_a_deferred_result_is_made_before_the_chain_reuses_its_buffers():
    W = sp.csr_array(np.eye(8, dtype=np.float32))
    A = sp.random(50, 8, density=0.5, format="csr", random_state=1, dtype=np.float32)
    chain = prepare_chain([W, W], space=kkpy.Cuda())
    Y1 = spgemm_chain(A, chain, epilogues.identity, space=kkpy.Cuda())
    sums = np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, Y1.row_sums()))
    np.testing.assert_allclose(sums[:50], np.ravel(A.sum(axis=1)), rtol=1e-6)
    Y2 = spgemm_chain(2 * A, chain, epilogues.identity, space=kkpy.Cuda())
    np.testing.assert_array_equal(Y1.to_host().toarray(), A.toarray())
    np.testing.assert_array_equal(Y2.to_host().toarray(), 2 * A.toarray())
    del Y1, Y2   # nothing else holds them: the chain's weak reference dies too
    assert chain._pending is None or chain._pending() is None


@on_device
@pytest.mark.parametrize("resident", [False, True])
def test_inputs_are_read_anew_each_call(resident):
    # Calls with the same sizes, or the same resident buffers refilled, must
    # read each call's values and structure (nothing about the inputs is
    # cached: a CUDA graph that loaded them would have to replay the reads),
    # and still refuse a bad structure.
    from kkpy.sparse import DeviceCrs

    rng = np.random.default_rng(11)
    mats = random_chain(rng, [16, 16, 16], 0.3, np.float32)
    chain = prepare_chain(mats, space=kkpy.Cuda())
    dense = (rng.random((80, 16)) < 0.25).astype(np.float32)   # three batches of rows
    inputs = [sp.csr_array(dense)] * 2 + [   # then as many entries, elsewhere, other values
        sp.csr_array(np.random.default_rng(seed).permutation(dense.ravel()).reshape(dense.shape)
                     * (seed + 2)) for seed in range(2)]
    bad = inputs[-1].copy()
    bad.indices = bad.indices.copy()
    bad.indices[5] = 40                                   # column 40 of 16
    resident_buffers = DeviceCrs.from_host(inputs[0]) if resident else None

    def run(B):
        if not resident:
            return spgemm_chain(B, chain, epilogues.relu, (), space=kkpy.Cuda())
        for view, a in zip((resident_buffers.row_map, resident_buffers.entries,
                            resident_buffers.values), (B.indptr, B.indices, B.data)):
            kkpy.deep_copy(view, a.astype(view.dtype))     # the same GPU buffers, refilled
        return spgemm_chain(resident_buffers, chain, epilogues.relu, (), space=kkpy.Cuda())

    for B in inputs:
        want, _ = chain_reference(B, mats, lambda z, j: np.maximum(z, 0), ())
        np.testing.assert_allclose(run(B).to_host().toarray(), want.toarray(), rtol=1e-5,
                                   atol=1e-6)
    assert chain.graph_error is None
    with pytest.raises(ValueError):
        run(bad)


@on_device
@pytest.mark.parametrize("resident", [False, None])
def test_matrices_streamed_from_the_host_give_the_resident_chains_bits(monkeypatch, resident):
    # resident=False streams every matrix through a ring of two GPU slots;
    # None, with a budget for two of the five, keeps those and streams the
    # rest (more matrices than slots, so slots are reused); the input is
    # large enough to go through in two parts, each reading every slot.
    # Under the simulator (slow) only the second, which takes both paths.
    if MODE != "gpu" and resident is False:
        pytest.skip("the mixed chain covers the streamed path in the simulator")
    from kkpy.sparse import _tuning, as_crs
    from kkpy.sparse.cuda import _chain as gpu_chain

    rng = np.random.default_rng(23)
    monkeypatch.setattr(_tuning, "GPU_STREAM_SLOTS", 2)
    mats = random_chain(rng, [12, 12, 12, 12, 12, 8], 0.4, np.float32)
    if resident is None:
        if MODE == "gpu":
            pytest.skip("the budget comes from the real GPU's free memory there")
        one = sum(a.nbytes for a in gpu_chain._csc(as_crs(mats[0]), np.float32))
        monkeypatch.setattr(_tuning, "GPU_SIMULATED_MEMORY",
                            int(2.5 * one / _tuning.GPU_RESIDENT_SHARE))
    args = [(np.full(m.shape[1], -0.05 * (k + 1), np.float32), np.float32(32))
            for k, m in enumerate(mats)]
    A = sp.csr_array((rng.random((40, 12)) < 0.3).astype(np.float32))   # in two parts
    chain = prepare_chain(mats, space=kkpy.Cuda(), resident=resident)
    streamed = {False: 5, None: 3}[resident]
    assert chain.streamed == streamed and len(chain._ring.slots) == 2
    assert chain.on_host == [False] * (5 - streamed) + [True] * streamed
    want = spgemm_chain(A, prepare_chain(mats, space=kkpy.Cuda(), resident=True),
                        epilogues.bias_relu_cap, args, space=kkpy.Cuda()).to_host()
    assert want.nnz > 0
    stats = []
    for callback in (None, lambda k, s: stats.append(s)):   # graph-free, then timed
        Y = spgemm_chain(A, chain, epilogues.bias_relu_cap, args, space=kkpy.Cuda(),
                         callback=callback)
        np.testing.assert_array_equal(Y.to_host().toarray(), want.toarray())
    assert len(stats) == len(mats) and stats[-1]["nnz"] == want.nnz


@on_device
def test_resident_must_be_a_choice_and_means_nothing_on_the_host():
    W = sp.csr_array(np.eye(4, dtype=np.float32))
    with pytest.raises(TypeError, match="resident"):
        prepare_chain([W], space=kkpy.Cuda(), resident="yes")
    with pytest.raises(ValueError, match="resident"):
        prepare_chain([W], space=kkpy.Serial(), resident=False)
