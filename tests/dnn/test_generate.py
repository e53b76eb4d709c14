"""The generator against the real networks, and what it writes."""

import os

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given
from hypothesis import strategies as st

from csr_equal import same
from kkpy.dnn._data import challenge_paths, load_embedded, load_images, load_layers
from kkpy.dnn._generate import (block_length, block_permutation, generate, generate_layer,
                                image_shape, synthetic_images)
from kkpy.sparse.io import read_tsv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "data", "graphchallenge")


def embedded_layers():
    return load_embedded()[0]


def shared_layers():
    if not os.path.isdir(SHARED):
        pytest.skip("no ../shared real data")
    return [read_tsv(p, shape=(1024, 1024)).to_scipy()
            for p in challenge_paths(SHARED, 1024, 120).layers]


@pytest.fixture(scope="module", params=["embedded", "shared"])
def public(request):
    return embedded_layers() if request.param == "embedded" else shared_layers()


def recover_permutation(W, neurons):
    """A permutation P with W == generate_layer(neurons, 0-of-its-block, P).

    In a block's first layer row i connects to {r - 1, r} mod B (+ B*m), so
    r = P(i) mod B is the upper end of that pair of residues.  Rows with the
    same r are interchangeable, so number them off to make P a permutation
    (possible only if every residue is used N/B times).
    """
    B = neurons // 16
    res = np.sort(W.indices.reshape(neurons, 32) % B, axis=1)
    lo, hi = res[:, 0], res[:, -1]
    assert np.all((res == lo[:, None]) | (res == hi[:, None]))  # two residues a row
    assert np.all((hi - lo == 1) | (hi - lo == B - 1))  # adjacent mod B
    r = np.where(hi - lo == 1, hi, lo)  # the pair {B-1, 0} wraps: r = 0
    assert np.all(np.bincount(r, minlength=B) == neurons // B), "not from a permutation"
    order = np.argsort(r, kind="stable")
    perm = np.empty(neurons, np.int64)
    perm[order] = r[order] + B * (np.arange(neurons) % (neurons // B))
    assert np.array_equal(np.sort(perm), np.arange(neurons))
    return perm


def test_first_block_is_exact(public):
    for j in range(6):
        assert same(generate_layer(1024, j), public[j]), f"layer {j + 1}"


def test_later_blocks_match_up_to_their_permutation(public):
    per = block_length(1024)
    for block in range(1, len(public) // per):
        first = block * per
        perm = recover_permutation(public[first], 1024)
        for j in range(first, first + per):
            assert same(generate_layer(1024, j, perm), public[j]), f"layer {j + 1}"


@given(k=st.integers(1, 9), layer=st.integers(0, 40), seed=st.integers(0, 2**32))
def test_every_layer_has_the_challenge_structure(k, layer, seed):
    n = 16 << k
    W = generate_layer(n, layer, seed)
    assert W.dtype == np.float32 and W.has_sorted_indices and W.nnz == 32 * n
    assert np.all(np.diff(W.indptr) == 32) and np.all(W.data == np.float32(1 / 16))
    assert np.all(np.bincount(W.indices, minlength=n) == 32)
    assert np.all(np.diff(W.indices.reshape(n, 32), axis=1) > 0)  # no repeats


def test_permutations_are_per_block_and_seeded():
    per = block_length(256)
    assert np.array_equal(block_permutation(256, 0, seed=3), np.arange(256))
    p1, p2 = block_permutation(256, 1, 3), block_permutation(256, 2, 3)
    assert not np.array_equal(p1, p2) and not np.array_equal(p1, block_permutation(256, 1, 4))
    assert same(generate_layer(256, per, 3), generate_layer(256, per, p1))
    rng = np.random.default_rng(0)
    assert same(generate_layer(256, 1, rng), generate_layer(256, 1, 0))  # block 0: identity
    with pytest.raises(ValueError, match="permutation"):
        generate_layer(256, 0, np.zeros(256, int))


@pytest.mark.parametrize("n", [0, 16, 48, 1000, 1025])
def test_sizes_that_have_no_challenge_structure_are_rejected(n, tmp_path):
    with pytest.raises(ValueError, match=str(n)):
        generate_layer(n, 0)
    with pytest.raises(ValueError, match=str(n)):
        generate(n, 1, 1, tmp_path)


def test_images_start_with_the_real_ones():
    real = load_embedded()[1]
    (_, Y), = synthetic_images(1024, 1200)
    assert same(Y, real)
    blocks = list(synthetic_images(1024, 2500, seed=4, chunk=1000))
    assert [first for first, _ in blocks] == [0, 1000, 2000]
    Y = scipy.sparse.vstack([b for _, b in blocks]).tocsr()
    assert same(Y[:1200], real)
    # Later rounds are shifted copies: the same pixels moved, minus what
    # falls off the edge, and never the unshifted image.
    for i in range(1200, 2500, 97):
        base = real[[i % 1200]].toarray().reshape(32, 32)
        img = Y[[i]].toarray().reshape(32, 32)
        assert img.sum() <= base.sum() and not np.array_equal(img, base)
        assert any(np.array_equal(img, shifted(base, dy, dx))
                   for dy in range(-2, 3) for dx in range(-2, 3))


@pytest.mark.parametrize("n, images, chunk", [(1024, 2500, 700), (4096, 1300, None),
                                               (65536, 1203, 2)])
def test_images_are_the_dense_shifts_of_the_real_ones_bit_for_bit(n, images, chunk):
    # The generator moves each image's pixel coordinates; the reference
    # shifts the whole image, zero-filled, and lists its pixels.  They must
    # agree exactly: generated inputs, and the figures taken with them,
    # must not change with the implementation.
    from kkpy.dnn._generate import _resized_real, _stream

    base = _resized_real(n)
    h, w = base.shape[1:]
    reach = max(1, h // 16)
    offsets = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)
               if dy or dx]
    picks = _stream(0, 2).integers(0, len(offsets), images)
    blocks = list(synthetic_images(n, images, chunk=chunk))
    Y = scipy.sparse.vstack([b for _, b in blocks], format="csr")
    assert Y.shape == (images, n) and Y.has_sorted_indices
    for i in list(range(0, images, 211)) + list(range(1195, images)):
        img = base[i % 1200]
        if i >= 1200:
            img = shifted(img, *offsets[picks[i]], reach)
        assert np.array_equal(Y[[i]].indices, np.flatnonzero(img)), i


def shifted(a, dy, dx, reach=2):
    big = np.zeros((a.shape[0] + 2 * reach, a.shape[1] + 2 * reach), a.dtype)
    big[reach + dy:reach + dy + a.shape[0], reach + dx:reach + dx + a.shape[1]] = a
    return big[reach:-reach, reach:-reach]




@pytest.mark.parametrize("n", [4096, 2048, 256, 32])
def test_images_are_resized_real_ones(n):
    real = load_embedded()[1][:50].toarray().reshape(-1, 32, 32)
    (_, Y), = synthetic_images(n, 50)
    h, w = image_shape(n)
    img = Y.toarray().reshape(-1, h, w)
    assert set(np.unique(img)) <= {0, 1} and np.all(img.reshape(50, -1).any(axis=1))
    # Each output pixel covers source rows [y*32/h, (y+1)*32/h) (at least
    # one) and the same for columns: it is on if any pixel there is.
    for y in range(h):
        for x in range(w):
            y0, x0 = y * 32 // h, x * 32 // w
            block = real[:, y0:max(y0 + 1, (y + 1) * 32 // h), x0:max(x0 + 1, (x + 1) * 32 // w)]
            assert np.array_equal(img[:, y, x], block.any(axis=(1, 2)))


def test_generate_writes_the_official_layout(tmp_path):
    generate(1024, 12, 50, tmp_path, seed=2)
    (tmp_path / "neuron1024-l12-categories.tsv").write_text("1\n")  # stale truth
    generate(1024, 12, 50, tmp_path, seed=2)
    assert not (tmp_path / "neuron1024-l12-categories.tsv").exists()
    layers = load_layers(tmp_path, 1024, 12, cache=False)
    assert all(same(W, generate_layer(1024, j, 2)) for j, W in enumerate(layers))
    assert same(load_images(tmp_path, 1024, cache=False), load_embedded()[1][:50])
    assert sorted(os.listdir(tmp_path)) == ["neuron1024", "sparse-images-1024.tsv"]


def test_generate_compressed(tmp_path):
    generate(64, 5, 1300, tmp_path, seed=1, compress=True)
    p = challenge_paths(tmp_path, 64, 5)
    assert all(x.endswith(".gz") for x in p.layers + [p.images])
    layers = load_layers(tmp_path, 64, 5, cache=False)
    assert all(same(W, generate_layer(64, j, 1)) for j, W in enumerate(layers))
    Y = load_images(tmp_path, 64, images=1300, cache=False)
    expect = scipy.sparse.vstack([b for _, b in synthetic_images(64, 1300, seed=1)])
    assert same(Y, expect.tocsr())
