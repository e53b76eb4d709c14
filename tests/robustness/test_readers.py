"""Data a challenge run would silently get wrong: refused with one line naming file and line.

Issue 15, findings 7 and 8: weights that are not finite in float32, layers
of a smaller network under a larger ``--neurons``, ``--images`` beyond the
file, symlink loops among the layers, and MatrixMarket files that declare
more than memory holds or break their own symmetry.
"""
import os
import shutil

import numpy as np
import pytest

from oneline import assert_one_line, run_cli
from kkpy.sparse.io import ParseError, read_mtx


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    from kkpy.dnn import generate

    d = tmp_path_factory.mktemp("net")
    generate(64, 3, 20, d)
    return d


@pytest.fixture
def copy(network, tmp_path):
    d = tmp_path / "d"
    shutil.copytree(network, d)
    return d


def args(d, *more):
    return ("run", "--data", d, "--neurons", 64, "--layers", 3, "--quiet", *more)


@pytest.mark.parametrize("value, why", [("nan", "is not finite"), ("inf", "is not finite"),
                                        ("-Infinity", "is not finite"),
                                        ("1e300", "overflows float32")])
def test_a_weight_that_is_not_a_finite_float32_names_its_line(capsys, copy, value, why):
    layer = copy / "neuron64" / "n64-l2.tsv"
    lines = layer.read_text().splitlines()
    row, col, _ = lines[6].split("\t")
    lines[6] = f"{row}\t{col}\t{value}"
    layer.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli(capsys, *args(copy))
    assert_one_line(code, err, f"{layer}:7: value {value!r} {why}")


def test_the_same_file_through_the_cache_is_refused_again(capsys, copy):
    layer = copy / "neuron64" / "n64-l1.tsv"
    with open(layer, "a") as fh:
        fh.write("1\t1\tnan\n")
    last = len(layer.read_text().splitlines())
    for _ in range(2):  # the second read may come from the binary cache
        code, _, err = run_cli(capsys, *args(copy))
        assert_one_line(code, err, f"{layer}:{last}: value 'nan' is not finite")


def test_images_beyond_the_file_are_refused_not_padded(capsys, copy):
    code, _, err = run_cli(capsys, *args(copy, "--images", 21))
    assert_one_line(code, err, "--images 21", "holds 20 images")
    assert run_cli(capsys, *args(copy, "--images", 20))[0] == 0


def test_layers_of_a_smaller_network_are_refused(capsys, network, tmp_path):
    d = tmp_path / "d"
    (d / "neuron128").mkdir(parents=True)
    for k in (1, 2, 3):
        shutil.copy(network / "neuron64" / f"n64-l{k}.tsv", d / "neuron128" / f"n128-l{k}.tsv")
    shutil.copy(network / "sparse-images-64.tsv", d / "sparse-images-128.tsv")
    code, _, err = run_cli(capsys, "run", "--data", d, "--neurons", 128, "--layers", 3, "--quiet")
    assert_one_line(code, err, "n128-l1.tsv", "largest neuron is 64", "--neurons is 128")


def test_a_layer_in_a_symlink_loop_is_named_as_such(capsys, copy):
    layer = copy / "neuron64" / "n64-l3.tsv"
    layer.unlink()
    os.symlink(copy / "loop", layer)
    os.symlink(layer, copy / "loop")
    code, _, err = run_cli(capsys, *args(copy))
    assert_one_line(code, err, str(layer), "symbolic links")


def test_mtx_declaring_more_than_memory_is_too_large(tmp_path, monkeypatch):
    from kkpy.sparse import _validate

    monkeypatch.setattr(_validate, "available_bytes", lambda: 4 << 30)
    p = tmp_path / "big.mtx"
    p.write_text("%%MatrixMarket matrix coordinate real general\n"
                 "2000000000 2000000000 1\n1 1 1.0\n")
    with pytest.raises(MemoryError, match=f"^{p}: .*too large: asked for"):
        read_mtx(p)


@pytest.mark.parametrize("entries", [[(1, 2)], [(3, 1), (1, 3)]])
def test_symmetric_mtx_with_an_upper_entry_is_refused(tmp_path, entries):
    body = "".join(f"{i} {j} 1.5\n" for i, j in entries)
    p = tmp_path / "s.mtx"
    p.write_text(f"%%MatrixMarket matrix coordinate real symmetric\n3 3 {len(entries)}\n{body}")
    bad = next(k for k, (i, j) in enumerate(entries) if i < j)
    with pytest.raises(ParseError, match=f"^{p}:{3 + bad}: .*above the diagonal"):
        read_mtx(p)
    lower = [(max(i, j), min(i, j)) for i, j in entries[:1]]
    p.write_text("%%MatrixMarket matrix coordinate real symmetric\n3 3 1\n"
                 f"{lower[0][0]} {lower[0][1]} 1.5\n")
    dense = read_mtx(p).toarray()
    assert np.array_equal(dense, dense.T) and dense.sum() == 3.0
