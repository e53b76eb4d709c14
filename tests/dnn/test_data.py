"""Challenge data: layout, cache, truth, and the embedded real data."""

import gzip
import os
import runpy

import numpy as np
import pytest
import scipy.sparse

from csr_equal import same
from kkpy.dnn import _data
from kkpy.dnn._data import (bias_for, challenge_paths, embedded_available, image_row_nnz,
                            load_embedded, load_images, load_layers, load_truth)
from kkpy.sparse.io import ParseError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "data", "graphchallenge")
needs_shared = pytest.mark.skipif(not os.path.isdir(SHARED), reason="no ../shared real data")


def loadtxt_csr(path, shape):
    """Independent reference reader: numpy's text parser."""
    a = np.loadtxt(path, ndmin=2)
    return scipy.sparse.csr_array(
        (a[:, 2].astype(np.float32), (a[:, 0].astype(int) - 1, a[:, 1].astype(int) - 1)),
        shape=shape)


def reference_categories(images, layers, bias):
    """The challenge recurrence in plain scipy."""
    Y = scipy.sparse.csr_array(images)
    for W in layers:
        Y = scipy.sparse.csr_array(Y @ W)
        Y.data += np.float32(bias)
        np.clip(Y.data, 0, 32, out=Y.data)
        Y.eliminate_zeros()
    return np.flatnonzero(np.diff(Y.indptr))


def write(path, text):
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


@pytest.fixture
def small(tmp_path):
    """A 64-neuron, 3-layer problem in the official layout, layer 2 gzip'd."""
    rng = np.random.default_rng(5)
    (tmp_path / "neuron64").mkdir()
    layers = []
    for k in (1, 2, 3):
        W = scipy.sparse.random_array((64, 64), density=0.1, rng=rng, dtype=np.float32).tocsr()
        layers.append(W)
        coo = W.tocoo()
        write(tmp_path / "neuron64" / f"n64-l{k}.tsv{'.gz' if k == 2 else ''}",
              "".join(f"{i + 1}\t{j + 1}\t{float(v)!r}\n"
                      for i, j, v in zip(coo.row, coo.col, coo.data)))
    Y = scipy.sparse.random_array((30, 64), density=0.2, rng=rng).tocsr()
    Y.data[:] = 1
    coo = Y.tocoo()
    write(tmp_path / "sparse-images-64.tsv",
          "".join(f"{i + 1}\t{j + 1}\t1\n" for i, j in zip(coo.row, coo.col)))
    return tmp_path, layers, scipy.sparse.csr_array(Y, dtype=np.float32)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """The data folder of a fresh private cache directory."""
    monkeypatch.setenv("KKPY_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "data"


def test_bias():
    assert [bias_for(n) for n in (1024, 4096, 16384, 65536)] == [-0.3, -0.35, -0.4, -0.45]
    assert bias_for(2048) == -0.325 and bias_for(256) == -0.25
    with pytest.raises(ValueError, match="1000"):
        bias_for(1000)


def test_paths_resolve_plain_and_gz(small):
    d, _, _ = small
    p = challenge_paths(d, 64, 3)
    assert [os.path.basename(x) for x in p.layers] == ["n64-l1.tsv", "n64-l2.tsv.gz", "n64-l3.tsv"]
    assert p.images.endswith("sparse-images-64.tsv") and p.truth is None
    write(d / "neuron64-l3-categories.tsv.gz", "1\n")
    assert challenge_paths(d, 64, 3).truth.endswith("neuron64-l3-categories.tsv.gz")
    with pytest.raises(FileNotFoundError, match="n64-l4.tsv"):
        challenge_paths(d, 64, 4)


def test_layers_and_images_match_numpy(small):
    d, layers, Y = small
    for cache in (False, True, True):  # no cache, fill it, read it
        got = load_layers(d, 64, 3, cache=cache)
        assert all(g.dtype == np.float32 and same(g, w) for g, w in zip(got, layers))
        assert same(load_images(d, 64, cache=cache), Y)
    p = challenge_paths(d, 64, 3)
    assert same(load_layers(d, 64, 1)[0], loadtxt_csr(p.layers[0], (64, 64)))
    assert same(load_images(d, 64), loadtxt_csr(p.images, Y.shape))


@pytest.mark.parametrize("cached", [False, True])
def test_image_rows_and_counts(small, cached):
    d, _, Y = small
    if cached:
        np.testing.assert_array_equal(image_row_nnz(d, 64), np.diff(Y.indptr))
    for rows in [(0, 30), (0, 1), (5, 17), (29, 40), (30, 99), (3, 3)]:
        assert same(load_images(d, 64, rows=rows), Y[rows[0]:min(rows[1], 30)])
        assert same(load_images(d, 64, images=12, rows=rows), Y[:12][rows[0]:min(rows[1], 12)])
    assert same(load_images(d, 64, images=7), Y[:7])
    np.testing.assert_array_equal(image_row_nnz(d, 64, images=9), np.diff(Y.indptr)[:9])
    # A TSV file cannot show trailing empty rows: asking for more pads.
    assert same(load_images(d, 64, images=33, rows=(20, 40)),
                scipy.sparse.vstack([Y[20:], scipy.sparse.csr_array((3, 64))]))
    np.testing.assert_array_equal(image_row_nnz(d, 64, images=32),
                                  np.r_[np.diff(Y.indptr), 0, 0])


def test_cache_is_used_and_never_stale(small, cache_dir, monkeypatch):
    d, layers, _ = small
    load_layers(d, 64, 3)
    entries = sorted(os.listdir(cache_dir))
    assert len(entries) == 3 and not any(e.startswith(".tmp") for e in entries)

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed the text despite a cache entry")

    monkeypatch.setattr(_data, "read_tsv", no_parsing)
    assert all(same(g, w) for g, w in zip(load_layers(d, 64, 3), layers))
    monkeypatch.undo()
    monkeypatch.setenv("KKPY_CACHE_DIR", str(cache_dir.parent))
    # Replace layer 1 with one of another size: the stale entry must not be used.
    write(d / "neuron64" / "n64-l1.tsv", "1\t2\t0.5\n")
    assert same(load_layers(d, 64, 1)[0], scipy.sparse.csr_array(
        ([0.5], ([0], [1])), shape=(64, 64)))
    # Same size, new mtime: still not used.
    (d / "neuron64" / "n64-l1.tsv").write_text("1\t3\t0.5\n")
    assert load_layers(d, 64, 1)[0].indices.tolist() == [2]
    assert len(os.listdir(cache_dir)) == 3  # stale entries were replaced, not piled up


def test_unwritable_cache_only_costs_speed(small, tmp_path):
    d, layers, _ = small
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    got = load_layers(d, 64, 3, cache=blocker / "sub")
    assert all(same(g, w) for g, w in zip(got, layers))


def test_ranks_starting_together_share_one_entry(small, cache_dir, run_python):
    """Fresh processes (like MPI ranks) race to fill the cache: all agree."""
    d, _, Y = small
    script = f"""
        from kkpy.dnn._data import load_images
        m = load_images({str(d)!r}, 64, cache={str(cache_dir)!r})
        print(m.indptr.tolist(), m.indices.tolist())
    """
    procs = [run_python(script, background=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert {out for out, _ in outs} == {f"{Y.indptr.tolist()} {Y.indices.tolist()}\n"}
    assert len(os.listdir(cache_dir)) == 1


def test_truth(tmp_path):
    write(tmp_path / "t.tsv.gz", "12\n3\n\n7\n")
    np.testing.assert_array_equal(load_truth(tmp_path / "t.tsv.gz"), [2, 6, 11])
    assert load_truth(tmp_path / "t.tsv.gz").dtype == np.int64
    write(tmp_path / "bad.tsv", "1\n2\n0\n")
    with pytest.raises(ParseError, match=r"bad.tsv:3: expected one positive row id, got '0'"):
        load_truth(tmp_path / "bad.tsv")


def test_bad_layer_names_file_and_line(small):
    d, _, _ = small
    write(d / "neuron64" / "n64-l3.tsv", "1\t1\t1\n1\t65\t1\n")
    with pytest.raises(ParseError, match=r"n64-l3.tsv:2: column index 65 out of range 1..64"):
        load_layers(d, 64, 3)


def test_embedded_data_is_the_real_problem():
    assert embedded_available()
    layers, images, truth, bias, neurons = load_embedded()
    assert (len(layers), images.shape, bias, neurons) == (120, (1200, 1024), -0.3, 1024)
    for W in layers:
        assert W.dtype == np.float32 and W.has_sorted_indices
        assert np.all(np.diff(W.indptr) == 32) and np.all(W.data == np.float32(1 / 16))
        assert np.all(np.bincount(W.indices, minlength=1024) == 32)
    assert np.all(images.data == 1) and images.dtype == np.float32
    assert truth.size == 19 and np.all(np.diff(truth) > 0)
    # The truth is what the challenge recurrence gives on these layers.
    np.testing.assert_array_equal(reference_categories(images, layers, bias), truth)


@needs_shared
def test_embedded_data_equals_the_shared_files(tmp_path):
    """Rerun the committed conversion and compare with the source, exactly."""
    out = tmp_path / "again.npz"
    script = runpy.run_path(os.path.join(ROOT, "tools", "embed_real_data.py"))
    script["main"]([SHARED, str(out)])  # it checks its own round trip too
    shipped, again = load_embedded(), load_embedded(str(out))
    assert all(same(a, b) for a, b in zip(shipped[0], again[0])) and len(again[0]) == 120
    assert same(shipped[1], again[1]) and np.array_equal(shipped[2], again[2])
    # and against numpy's parser on a few files
    p = challenge_paths(SHARED, 1024, 120)
    for k in (0, 59, 119):
        assert same(shipped[0][k], loadtxt_csr(p.layers[k], (1024, 1024)))
    assert same(shipped[1], loadtxt_csr(p.images, (1200, 1024)))
    truth = np.loadtxt(p.truth, dtype=np.int64) - 1
    np.testing.assert_array_equal(shipped[2], truth)


def test_package_data_lists_the_embedded_file():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert '"kkpy.dnn" = ["data/*.npz"]' in text
    assert os.path.basename(_data.EMBEDDED).endswith(".npz")
    assert os.path.getsize(_data.EMBEDDED) < 12 * 2**20
