"""GPU inference (``kkpy.dnn.infer(..., space=kkpy.Cuda())``) against a scipy reference.

Runs on a GPU when there is one; otherwise one test reruns this module under
numba's CUDA simulator, at small sizes.
"""
import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import kkpy
import kkpy.dnn
from kkpy.core._cuda_testing import module_setup

MODE, on_device, test_module_passes_under_the_simulator = module_setup(__file__)


def reference(Y, layers, biases, ymax):
    """The challenge recurrence in float64 scipy: bias only on nonzero entries."""
    Y = sp.csr_array(Y, dtype=np.float64)
    for W, b in zip(layers, biases):
        Z = (Y @ sp.csr_array(W, dtype=np.float64)).tocoo()
        z = Z.data
        nz = z != 0
        bias = np.broadcast_to(np.asarray(b, np.float64), (Z.shape[1],))
        z[nz] = np.clip(z[nz] + bias[Z.col[nz]], 0, ymax)
        Y = sp.csr_array((z, (Z.row, Z.col)), shape=Z.shape)
        Y.eliminate_zeros()
    return Y


def random_network(rng, sizes, density):
    """Uneven rows, signed weights, explicit zero rows: nothing challenge-shaped."""
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        W = sp.random(a, b, density=density, format="csr", random_state=rng,
                      data_rvs=lambda n: rng.normal(0.3, 0.6, n))
        layers.append(W.astype(np.float32))
    return layers


@on_device
@settings(max_examples=5)
@given(seed=st.integers(0, 2**16), nrows=st.integers(1, 70),
       sizes=st.lists(st.integers(1, 40), min_size=2, max_size=5),
       per_neuron=st.booleans())
def test_gpu_inference_matches_scipy(seed, nrows, sizes, per_neuron):
    import kkpy
    from kkpy.dnn import categories
    from kkpy.dnn._infer_cuda import infer_cuda

    rng = np.random.default_rng(seed)
    layers = random_network(rng, sizes, 0.3)
    Y0 = sp.random(nrows, sizes[0], density=0.4, format="csr", random_state=rng,
                   dtype=np.float32)
    if per_neuron:
        biases = [rng.normal(-0.1, 0.3, b).astype(np.float32) for b in sizes[1:]]
    else:
        biases = [np.float32(-0.05)] * (len(sizes) - 1)
    got = infer_cuda(Y0, layers, biases, ymax=4.0)
    want = reference(Y0, layers, biases, 4.0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.toarray(), want.toarray(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(categories(got), np.flatnonzero(want.sum(axis=1)))
    assert kkpy.Cuda().backend == "cuda"


@on_device
def test_challenge_shaped_network_keeps_live_rows_and_stats():
    from kkpy.dnn._infer_cuda import CudaNetwork

    rng = np.random.default_rng(7)
    n, nlayers = 64, 6
    layers = []
    for _ in range(nlayers):
        cols = np.stack([rng.permutation(n) for _ in range(4)], axis=1)
        rows = np.repeat(np.arange(n), 4)
        layers.append(sp.csr_array((np.full(4 * n, 0.25, np.float32), (rows, cols.ravel())),
                                   shape=(n, n)))
    dense = (rng.random((90, n)) < 0.3).astype(np.float32)
    dense[5] = 0                                     # an empty input row: dead from the start
    Y0 = sp.csr_array(dense)
    net = CudaNetwork(layers, -0.3, ymax=32.0)
    timings, stats = {}, []
    Y = net.infer(Y0, callback=lambda k, s: stats.append(s), timings=timings)
    want = reference(Y0, layers, [-0.3] * nlayers, 32.0)
    np.testing.assert_allclose(Y.toarray(), want.toarray(), rtol=1e-6)
    np.testing.assert_array_equal(timings["categories"], np.flatnonzero(want.sum(axis=1)))
    assert [s["layer"] for s in stats] == list(range(1, nlayers + 1))
    assert stats[-1]["active_rows"] == len(timings["categories"])
    assert stats[-1]["nnz"] == want.nnz
    assert all(a["active_rows"] >= b["active_rows"] for a, b in zip(stats, stats[1:]))


@on_device
def test_an_infinite_weight_meets_only_nonzero_inputs():
    from kkpy.dnn._infer_cuda import infer_cuda

    W = sp.csr_array(np.array([[np.inf, 1.0], [0.5, -1.0]], np.float32))
    Y0 = sp.csr_array(np.array([[0.0, 2.0], [1.0, 0.0], [1.0, 1.0]], np.float32))
    got = infer_cuda(Y0, [W], 0.0, ymax=4.0).toarray()
    # row 0 never touches the infinite weight; rows 1 and 2 are capped at ymax
    np.testing.assert_array_equal(got, reference(Y0, [W], [0.0], 4.0).toarray())
    assert not np.isnan(got).any() and got[0, 0] == 1.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), ncols=st.integers(1, 60), copies=st.integers(1, 40))
def test_output_groups_cover_every_column_and_share_only_equal_ones(seed, ncols, copies):
    from kkpy.dnn._infer_cuda import _GROUP, _SHARED_MIN, _output_groups

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


@on_device
def test_generated_challenge_layers_share_inputs_and_match_the_cpu():
    from kkpy.dnn import generate_layer
    from kkpy.dnn._infer_cuda import CudaNetwork

    n, nlayers = 64, 8
    layers = [generate_layer(n, k, 3) for k in range(nlayers)]
    rng = np.random.default_rng(3)
    Y0 = sp.csr_array((rng.random((70, n)) < 0.25).astype(np.float32))
    net = CudaNetwork(layers, -0.3, ymax=32.0)
    assert all(int(layer[2].copy_to_host().sum()) > 0 for layer in net.layers)  # groups used
    timings = {}
    Y = net.infer(Y0, timings=timings)
    want = reference(Y0, layers, [-0.3] * nlayers, 32.0)
    np.testing.assert_allclose(Y.toarray(), want.toarray(), rtol=1e-5)
    np.testing.assert_array_equal(timings["categories"], np.flatnonzero(want.sum(axis=1)))
    # float32 on the CPU adds the same terms in the same order: the same bits
    cpu = kkpy.dnn.infer(Y0, layers, -0.3, 32.0, space=kkpy.Serial())
    np.testing.assert_array_equal(Y.toarray(), cpu.toarray())
