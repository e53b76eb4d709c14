"""kkpy.dnn.infer and categories against a scipy implementation of the reference algorithm.

Weights, inputs and biases are small dyadic numbers, so every sum is exact
in float32 whatever the order of the additions: the results must then be
bit-identical to the reference, zeros (and so dead rows) included.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from kkpy.dnn import categories, infer
from kkpy.sparse import CrsMatrix, as_crs


def reference(Y0, layers, biases, ymax=32.0, dtype=np.float32):
    """The challenge's algorithm in scipy; ``Y @ W`` keeps only nonzero entries."""
    Y = sp.csr_array(Y0, dtype=dtype)
    per_layer = []
    for W, b in zip(layers, biases):
        Z = sp.csr_array(Y @ sp.csr_array(W, dtype=dtype))
        Z.eliminate_zeros()  # "nonzero" is numeric: make sure, whatever scipy keeps
        b = np.broadcast_to(np.asarray(b, dtype), (Z.shape[1],))
        Z.data = np.minimum(np.maximum(Z.data + b[Z.indices], 0), dtype(ymax)).astype(dtype)
        Z.eliminate_zeros()
        Y = Z
        per_layer.append((int(np.count_nonzero(np.diff(Y.indptr))), Y.nnz))
    return Y, per_layer


def dense(Y):
    return as_crs(Y).to_scipy().toarray()


WEIGHTS = [-2.0, -1.0, -0.5, -0.25, 0.25, 0.5, 1.0, 2.0]


@st.composite
def sparse_matrix(draw, nrows, ncols, values):
    """Uneven rows: each row draws its own density, some rows empty."""
    dense_ = np.zeros((nrows, ncols))
    for i in range(nrows):
        k = draw(st.integers(0, ncols))
        cols = draw(st.lists(st.integers(0, ncols - 1), min_size=k, max_size=k, unique=True))
        for j in cols:
            dense_[i, j] = draw(st.sampled_from(values))
    return sp.csr_array(dense_)


@st.composite
def networks(draw):
    widths = draw(st.lists(st.integers(1, 9), min_size=2, max_size=5))
    nimages = draw(st.integers(0, 8))
    Y0 = draw(sparse_matrix(nimages, widths[0], [0.5, 1.0, 1.5, 3.0]))
    layers = [draw(sparse_matrix(a, b, WEIGHTS)) for a, b in zip(widths, widths[1:])]
    bias_value = st.sampled_from([-0.375, -0.125, 0.0, 0.125, 0.5])
    kind = draw(st.sampled_from(["scalar", "per-layer", "per-neuron"]))
    if kind == "scalar":
        bias = draw(bias_value)
        biases = [bias] * len(layers)
    elif kind == "per-layer":
        biases = bias = [draw(bias_value) for _ in layers]
    else:
        biases = bias = [np.array(draw(st.lists(bias_value, min_size=W.shape[1],
                                                max_size=W.shape[1]))) for W in layers]
    ymax = draw(st.sampled_from([2.0, 32.0]))
    return Y0, layers, bias, biases, ymax


@given(networks(), st.booleans())
def test_matches_reference_on_random_networks(net, crs_inputs):
    Y0, layers, bias, biases, ymax = net
    expected, expected_layers = reference(Y0, layers, biases, ymax)
    stats = []
    if crs_inputs:
        Y0, layers = as_crs(Y0), [as_crs(W) for W in layers]
    got = infer(Y0, layers, bias, ymax=ymax, callback=lambda k, s: stats.append((k, s)))
    assert got.shape == expected.shape
    assert got.dtype == np.float32
    np.testing.assert_array_equal(dense(got), expected.toarray())
    assert got.nnz == expected.nnz  # no stored zeros
    np.testing.assert_array_equal(categories(got), np.flatnonzero(expected.sum(axis=1)))
    assert [k for k, _ in stats] == list(range(len(layers)))
    assert [(s["active_rows"], s["nnz"]) for _, s in stats] == expected_layers
    assert all(s["layer"] == k + 1 and s["seconds"] >= 0 for k, s in stats)


def test_one_per_neuron_vector_applies_to_every_layer():
    rng = np.random.default_rng(3)
    W = sp.random_array((6, 6), density=0.5, rng=rng, format="csr")
    W.data = rng.choice(WEIGHTS, W.nnz)
    Y0 = sp.csr_array(rng.integers(0, 2, (5, 6)).astype(np.float32))
    b = np.array([-0.25, 0.0, 0.125, -0.5, 0.25, 0.0])
    expected, _ = reference(Y0, [W, W, W], [b] * 3)
    np.testing.assert_array_equal(dense(infer(Y0, [W, W, W], b)), expected.toarray())
    stacked = np.stack([b, -b, b])  # a 2-D array: one row per layer
    expected, _ = reference(Y0, [W, W, W], list(stacked))
    np.testing.assert_array_equal(dense(infer(Y0, [W, W, W], stacked)), expected.toarray())


def test_bias_is_not_added_to_entries_that_cancel():
    # Row 0 of Y @ W is [1 - 1, 1] = [0, 1]: the cancelled 0 must stay 0 even
    # with a positive bias, as in the reference, where Y @ W stores no zero.
    Y0 = sp.csr_array(np.array([[1.0, 1.0]]))
    W = sp.csr_array(np.array([[1.0, 1.0], [-1.0, 0.0]]))
    Y = infer(Y0, [W], 0.5)
    np.testing.assert_array_equal(dense(Y), [[0.0, 1.5]])
    assert Y.nnz == 1


def test_dead_rows_stay_in_place_and_empty():
    Y0 = sp.csr_array(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 4.0], [1.0, 1.0]]))
    W = sp.csr_array(np.array([[1.0, 0.0], [0.0, 1.0]]))
    Y = infer(Y0, [W, W], -1.5)  # rows with values below 3 die in two layers
    np.testing.assert_array_equal(dense(Y), [[0, 0], [0, 0], [0, 1.0], [0, 0]])
    np.testing.assert_array_equal(np.diff(np.asarray(Y.row_map)), [0, 0, 1, 0])
    np.testing.assert_array_equal(categories(Y), [2])


def test_float64_and_no_layers():
    Y0 = sp.csr_array(np.array([[0.1, 0.0], [0.0, 0.0]]))
    Y = infer(Y0, [], -0.3, dtype=np.float64)
    assert Y.dtype == np.float64 and Y.shape == (2, 2)
    np.testing.assert_array_equal(categories(Y), [0])
    W = sp.csr_array(np.array([[0.1, 0.2], [0.3, 0.4]]))
    Y = infer(Y0, [W], 0.0, dtype=np.float64)
    np.testing.assert_allclose(dense(Y), [[0.01, 0.02], [0, 0]], rtol=1e-15)


def test_categories_of_signed_rows_and_scipy_input():
    Y = sp.csr_array(np.array([[1.0, -1.0], [0.0, 0.0], [2.0, -1.0]]))
    np.testing.assert_array_equal(categories(Y), [2])
    assert categories(as_crs(sp.csr_array((0, 4)))).dtype == np.int64


@pytest.mark.parametrize("bias, message", [
    (np.zeros(3), "bias has 3 entries"),
    (np.zeros((3, 2)), "bias has 3 rows"),
])
def test_bad_bias(bias, message):
    W = sp.csr_array(np.eye(2))
    with pytest.raises(ValueError, match=message):
        infer(sp.csr_array(np.eye(2)), [W, W], bias)


def test_layer_that_does_not_chain():
    with pytest.raises(ValueError, match="layer 2 is 3 x 2 but its input has 2 columns"):
        infer(sp.csr_array(np.eye(2)), [sp.csr_array(np.eye(2)), sp.csr_array((3, 2))], 0.0)


def test_embedded_real_problem_matches_truth():
    from kkpy.dnn._data import load_embedded

    layers, images, truth, bias, neurons = load_embedded()
    assert neurons == 1024 and len(layers) == 120
    Y = infer(images, layers, bias)
    np.testing.assert_array_equal(categories(Y), truth)
    assert isinstance(Y, CrsMatrix) and Y.shape == (images.shape[0], 1024)


def test_an_iterator_of_layers_is_streamed_with_the_same_result():
    from kkpy.sparse import ChainStream

    rng = np.random.default_rng(5)
    Ws = []
    for _ in range(4):
        W = sp.random_array((6, 6), density=0.5, rng=rng, format="csr")
        W.data = rng.choice(WEIGHTS, W.nnz)
        Ws.append(W)
    Y0 = sp.csr_array(rng.integers(0, 2, (7, 6)).astype(np.float32))
    b = np.array([-0.25, 0.0, 0.125, -0.5, 0.25, 0.0])
    per = [b, -b, 0.0, -0.125]
    for bias in (-0.125, b, per, np.stack([b, -b, b, b])):
        want = dense(infer(Y0, Ws, bias))
        seen = []
        got = infer(Y0, iter(Ws), bias, callback=lambda k, s: seen.append(s["layer"]))
        np.testing.assert_array_equal(dense(got), want)
        assert seen == [1, 2, 3, 4]
        np.testing.assert_array_equal(
            dense(infer(Y0, ChainStream(Ws, length=4), bias)), want)
    with pytest.raises(ValueError, match="bias has 2 entries"):
        infer(Y0, iter(Ws), [b, b])
