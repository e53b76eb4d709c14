"""kkpy's binary challenge layout (``.csr`` folders): written, read, and refused when damaged."""

import json
import os
import shutil
import types

import numpy as np
import pytest
import scipy.sparse

from csr_equal import same
from kkpy.dnn import _cache
from kkpy.dnn._cli import main
from kkpy.dnn._data import (CSR_FORMAT, challenge_paths, image_row_nnz, load_images,
                            load_layers, read_csr, write_csr, write_csr_rows)
from kkpy.dnn._generate import generate, generate_layer
from kkpy.sparse.io import ParseError

N, L, M = 1024, 3, 40


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same generated problem as TSV and as ``.csr`` folders."""
    tsv, csr = tmp_path_factory.mktemp("tsv"), tmp_path_factory.mktemp("csr")
    generate(N, L, M, tsv, seed=3)
    generate(N, L, M, csr, seed=3, layout="csr")
    return tsv, csr


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_writes_folders_of_npy_arrays(pair):
    _, csr = pair
    assert sorted(os.listdir(csr)) == ["neuron1024", "sparse-images-1024.csr"]
    layer = csr / "neuron1024" / "n1024-l1.csr"
    assert sorted(os.listdir(layer)) == ["data.npy", "indices.npy", "indptr.npy", "meta.json"]
    meta = json.loads((layer / "meta.json").read_text())
    assert meta["format"] == CSR_FORMAT and meta["shape"] == [N, N]
    assert meta["dtypes"] == {"indptr": "<i4", "indices": "<i4", "data": "<f4"}
    # plain .npy files: numpy reads them as they are
    assert np.load(layer / "indices.npy").tolist() == generate_layer(N, 0, 3).indices.tolist()
    # the size the docs give: 4 bytes a row and 8 an entry, 128-byte headers, meta.json
    size = sum(os.path.getsize(layer / f) for f in os.listdir(layer))
    assert size == 4 * (N + 1) + 8 * 32 * N + 3 * 128 + len((layer / "meta.json").read_bytes())
    assert size == 266_992  # as docs/dnn.rst says


def test_tsv_and_csr_read_the_same(pair):
    tsv, csr = pair
    assert all(same(a, b) for a, b in zip(load_layers(tsv, N, L, cache=False),
                                          load_layers(csr, N, L)))
    Y = load_images(tsv, N, cache=False)
    got = load_images(csr, N)
    assert same(got, Y) and got.indptr.dtype == got.indices.dtype == np.int32
    np.testing.assert_array_equal(image_row_nnz(csr, N), image_row_nnz(tsv, N, cache=False))
    for rows in [(0, 1), (5, 17), (39, 99), (3, 3)]:
        assert same(load_images(csr, N, rows=rows), Y[rows[0]:min(rows[1], M)])
    assert same(load_images(csr, N, images=M + 2, rows=(38, 50)),
                scipy.sparse.vstack([Y[38:], scipy.sparse.csr_array((2, N))]))


def test_run_finds_the_same_categories(capsys, pair, tmp_path):
    tsv, csr = pair
    found = []
    for data, extra in ((tsv, []), (csr, []), (csr, ["--stream"])):
        cats = tmp_path / f"cats{len(found)}.tsv"
        code, _, err = run_cli(capsys, "run", "--data", str(data), "--neurons", str(N),
                               "--layers", str(L), "--categories-out", str(cats), *extra)
        assert code == 0, err
        found.append(cats.read_text())
    assert found[0] == found[1] == found[2] and found[0]


def test_formats_on_the_command_line(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "generate", "--neurons", "64", "--layers", "2", "--images",
                           "5", "--out", str(tmp_path), "--gzip")
    assert code == 0 and out.rstrip().endswith("(gz)")
    assert os.listdir(tmp_path / "neuron64") and all(
        p.endswith(".tsv.gz") for p in os.listdir(tmp_path / "neuron64"))
    # Another layout replaces the files (a stale .tsv.gz would be read first).
    code, out, _ = run_cli(capsys, "generate", "--neurons", "64", "--layers", "2", "--images",
                           "5", "--out", str(tmp_path), "--format", "csr")
    assert code == 0 and out.rstrip().endswith("(csr)")
    assert sorted(os.listdir(tmp_path / "neuron64")) == ["n64-l1.csr", "n64-l2.csr"]
    assert challenge_paths(tmp_path, 64, 2).images.endswith("sparse-images-64.csr")
    code, _, err = run_cli(capsys, "generate", "--neurons", "64", "--layers", "2", "--images",
                           "5", "--out", str(tmp_path), "--gzip", "--format", "csr")
    assert code == 2 and "--gzip" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="layout"):
        generate(64, 1, 1, tmp_path, layout="npz")


def test_written_in_blocks_as_in_one(tmp_path, monkeypatch):
    """Row blocks that cross checksum blocks (64 bytes here) give the same folder."""
    monkeypatch.setattr(_cache, "_BLOCK", 64)
    Y = scipy.sparse.random_array((50, 64), density=0.2, rng=1, dtype=np.float32).tocsr()
    write_csr(tmp_path / "one.csr", Y)
    write_csr_rows(tmp_path / "blocks.csr", (Y[i:i + 7] for i in range(0, 50, 7)), 64)
    for name in ("one.csr", "blocks.csr"):
        meta = json.loads((tmp_path / name / "meta.json").read_text())
        assert len(meta["sha256"]["indices"]) == -(-4 * Y.nnz // 64)
        assert same(read_csr(tmp_path / name), Y)
        assert same(read_csr(tmp_path / name, rows=(11, 30)), Y[11:30])
    empty = scipy.sparse.csr_array((3, 8), dtype=np.float32)
    write_csr(tmp_path / "empty.csr", empty)
    assert same(read_csr(tmp_path / "empty.csr", shape=(3, 8)), empty)
    with pytest.raises(ValueError, match="not finite"):
        write_csr(tmp_path / "nan.csr", scipy.sparse.csr_array(np.array([[np.nan]])))
    assert not (tmp_path / "nan.csr").exists() and len(os.listdir(tmp_path)) == 3  # no leftovers


def test_a_wide_row_pointer_is_read_narrow(tmp_path):
    Y = scipy.sparse.random_array((9, 16), density=0.3, rng=2, dtype=np.float32).tocsr()
    folder = tmp_path / "w.csr"
    folder.mkdir()
    _cache.write_entry(folder, types.SimpleNamespace(
        indptr=Y.indptr.astype(np.int64), indices=Y.indices, data=Y.data, shape=Y.shape),
        CSR_FORMAT)
    got = read_csr(folder)
    assert same(got, Y) and got.indptr.dtype == got.indices.dtype == np.int32


# -- damage --------------------------------------------------------------------------

def rewrite(folder, **changes):
    """Write ``folder`` again with some arrays (or the shape) changed, checksums made anew."""
    arrays = {a: np.load(folder / f"{a}.npy") for a in ("indptr", "indices", "data")}
    arrays["shape"] = tuple(json.loads((folder / "meta.json").read_text())["shape"])
    arrays.update(changes)
    for f in os.listdir(folder):
        os.unlink(folder / f)
    _cache.write_entry(folder, types.SimpleNamespace(**arrays), CSR_FORMAT)


def damage(folder, how):
    """Break ``folder`` in one way; returns the file the error must name."""
    indptr = np.load(folder / "indptr.npy")
    if how == "truncated":
        with open(folder / "indices.npy", "r+b") as f:
            f.truncate(os.path.getsize(folder / "indices.npy") - 10)
        return "indices.npy"
    if how == "index-out-of-range":
        indices = np.load(folder / "indices.npy")
        indices[7] = N
        rewrite(folder, indices=indices)
        return "indices.npy"
    if how == "negative-index":
        indices = np.load(folder / "indices.npy")
        indices[-1] = -1
        rewrite(folder, indices=indices)
        return "indices.npy"
    if how in ("indptr-start", "indptr-decreasing", "indptr-end"):
        bad = indptr.copy()
        if how == "indptr-decreasing":
            bad[2] = bad[1] - 1
        else:
            bad[0 if how == "indptr-start" else -1] += 1
        rewrite(folder, indptr=bad)
        return "indptr.npy"
    if how == "short-indptr":
        rewrite(folder, indptr=indptr[:-1], shape=(len(indptr) - 1, N))
        return "indptr.npy"
    if how == "wrong-dtype":  # int64 indices where meta.json says int32
        np.save(folder / "indices.npy", np.load(folder / "indices.npy").astype(np.int64))
        return "indices.npy"
    if how == "meta-dtype":  # float64 values, consistently declared
        data = np.load(folder / "data.npy").astype(np.float64)
        np.save(folder / "data.npy", data)
        meta = json.loads((folder / "meta.json").read_text())
        meta["dtypes"]["data"] = "<f8"
        (folder / "meta.json").write_text(json.dumps(meta))
        return "meta.json"
    if how == "wrong-shape":
        rewrite(folder, shape=(len(indptr) - 1, N // 2))
        return "meta.json"
    if how == "not-finite":
        data = np.load(folder / "data.npy")
        data[3] = np.nan
        rewrite(folder, data=data)
        return "data.npy"
    if how == "checksum":
        with open(folder / "data.npy", "r+b") as f:
            f.seek(-1, os.SEEK_END)
            f.write(b"\x7f")
        return "data.npy"
    if how == "not-npy":
        (folder / "indptr.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
        return "indptr.npy"
    if how == "not-json":
        (folder / "meta.json").write_text("{" * 100000)
        return "meta.json"
    if how == "missing":
        os.unlink(folder / "meta.json")
        return "meta.json"
    if how == "fifo-file":
        os.unlink(folder / "indices.npy")
        os.mkfifo(folder / "indices.npy")
        return "indices.npy"
    if how == "fifo-folder":
        shutil.rmtree(folder)
        os.mkfifo(folder)
        return folder.name
    raise AssertionError(how)


DAMAGE = ["truncated", "index-out-of-range", "negative-index", "indptr-start",
          "indptr-decreasing", "indptr-end", "short-indptr", "wrong-dtype", "meta-dtype",
          "wrong-shape", "not-finite", "checksum", "not-npy", "not-json", "missing",
          "fifo-file", "fifo-folder"]


def bad_copy(pair, tmp_path, target, how):
    data = tmp_path / "data"
    shutil.copytree(pair[1], data)
    folder = data / "neuron1024" / "n1024-l2.csr" if target == "layer" else \
        data / "sparse-images-1024.csr"
    return data, folder, damage(folder, how)


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("target", ["layer", "images"])
def test_damage_is_one_line_naming_the_file(capsys, pair, tmp_path, target, how):
    data, folder, culprit = bad_copy(pair, tmp_path, target, how)
    out_file = tmp_path / "cats.tsv"
    code, _, err = run_cli(capsys, "run", "--data", str(data), "--neurons", str(N),
                           "--layers", str(L), "--categories-out", str(out_file))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert folder.name in err and culprit in err, err
    assert not out_file.exists()


@pytest.mark.parametrize("how", ["truncated", "index-out-of-range", "indptr-decreasing",
                                 "fifo-file"])
def test_damage_met_while_streaming_is_one_line(capsys, pair, tmp_path, how):
    data = tmp_path / "data"
    shutil.copytree(pair[1], data)
    culprit = damage(data / "neuron1024" / "n1024-l3.csr", how)  # read by the timed run only
    code, _, err = run_cli(capsys, "run", "--data", str(data), "--neurons", str(N),
                           "--layers", str(L), "--stream")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "n1024-l3.csr" in err and culprit in err, err


def test_damage_raises_parse_error(pair, tmp_path):
    _, folder, _ = bad_copy(pair, tmp_path, "layer", "indptr-decreasing")
    with pytest.raises(ParseError, match=r"indptr\.npy: decreases after row 1$"):
        read_csr(folder, shape=(N, N))
    with pytest.raises(ParseError, match="not a folder"):
        read_csr(folder / "indptr.npy")
