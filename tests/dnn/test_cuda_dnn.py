"""GPU inference (``kkpy.dnn.infer(..., space=kkpy.Cuda())``) against a scipy reference.

The chain itself (any epilogue, dtypes, prepared chains) is tested in
``tests/sparse/test_cuda_chain.py``; here: the challenge's layers, bias and
categories through kkpy.dnn's public functions.

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
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16), nrows=st.integers(1, 70),
       sizes=st.lists(st.integers(1, 40), min_size=2, max_size=5),
       per_neuron=st.booleans())
def test_gpu_inference_matches_scipy(seed, nrows, sizes, per_neuron):
    from kkpy.dnn import categories, infer

    rng = np.random.default_rng(seed)
    layers = random_network(rng, sizes, 0.3)
    Y0 = sp.random(nrows, sizes[0], density=0.4, format="csr", random_state=rng,
                   dtype=np.float32)
    if per_neuron:
        biases = [rng.normal(-0.1, 0.3, b).astype(np.float32) for b in sizes[1:]]
    else:
        biases = [np.float32(-0.05)] * (len(sizes) - 1)
    got = infer(Y0, layers, biases, ymax=4.0, space=kkpy.Cuda())
    want = reference(Y0, layers, biases, 4.0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.to_host().toarray(), want.toarray(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(categories(got), np.flatnonzero(want.sum(axis=1)))


def challenge_like(rng, n, nlayers):
    layers = []
    for _ in range(nlayers):
        cols = np.stack([rng.permutation(n) for _ in range(4)], axis=1)
        rows = np.repeat(np.arange(n), 4)
        layers.append(sp.csr_array((np.full(4 * n, 0.25, np.float32), (rows, cols.ravel())),
                                   shape=(n, n)))
    return layers


@on_device
def test_challenge_shaped_network_with_a_prepared_chain_and_stats():
    from kkpy.dnn import categories, infer
    from kkpy.sparse import prepare_chain

    rng = np.random.default_rng(7)
    n, nlayers = 64, 6
    layers = challenge_like(rng, n, nlayers)
    dense = (rng.random((90, n)) < 0.3).astype(np.float32)
    dense[5] = 0                                     # an empty input row: dead from the start
    Y0 = sp.csr_array(dense)
    chain = prepare_chain(layers, space=kkpy.Cuda())
    stats = []
    Y = infer(Y0, chain, -0.3, ymax=32.0, space=kkpy.Cuda(),
              callback=lambda k, s: stats.append(s))
    want = reference(Y0, layers, [-0.3] * nlayers, 32.0)
    np.testing.assert_allclose(Y.to_host().toarray(), want.toarray(), rtol=1e-6)
    cats = categories(Y, space=kkpy.Cuda())
    np.testing.assert_array_equal(cats, np.flatnonzero(want.sum(axis=1)))
    assert [s["layer"] for s in stats] == list(range(1, nlayers + 1))
    assert stats[-1]["active_rows"] == len(cats)
    assert stats[-1]["nnz"] == want.nnz
    assert all(a["active_rows"] >= b["active_rows"] for a, b in zip(stats, stats[1:]))
    again = infer(Y0, chain, -0.3, ymax=32.0, space=kkpy.Cuda())   # no callback: one graph
    np.testing.assert_array_equal(categories(again), cats)


@on_device
def test_generated_challenge_layers_share_inputs_and_match_the_cpu():
    from kkpy.dnn import generate_layer, infer
    from kkpy.sparse import prepare_chain

    n, nlayers = 64, 8
    layers = [generate_layer(n, k, 3) for k in range(nlayers)]
    rng = np.random.default_rng(3)
    Y0 = sp.csr_array((rng.random((70, n)) < 0.25).astype(np.float32))
    chain = prepare_chain(layers, space=kkpy.Cuda())
    assert all(int(layer[2].copy_to_host().sum()) > 0 for layer in chain.layers)  # groups used
    Y = infer(Y0, chain, -0.3, 32.0, space=kkpy.Cuda()).to_host()
    want = reference(Y0, layers, [-0.3] * nlayers, 32.0)
    np.testing.assert_allclose(Y.toarray(), want.toarray(), rtol=1e-5)
    # float32 on the CPU adds the same terms in the same order: the same bits
    cpu = kkpy.dnn.infer(Y0, layers, -0.3, 32.0, space=kkpy.Serial())
    np.testing.assert_array_equal(Y.toarray(), cpu.toarray())


@on_device
def test_bench_on_the_gpu_times_host_and_resident_inputs_and_checks_them(capsys):
    import json

    from kkpy.dnn._cli import main

    code = main(["bench", "--space", "cuda", "--generate", "--neurons", "32", "--layers", "2",
                 "--images", "40", "--check-rows", "40", "--peers", "", "--repeat", "1",
                 "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and res["agree"] is True and res["checked"]["match"] is True
    assert set(res["results"]) == {"kkpy", "kkpy-resident"}
