"""Bad ``kkpy-dnn`` arguments: one line on stderr naming the argument, exit 2, no traceback.

Issue 15, findings 7, 8 (``bench --peers``) and 11.  Sizes that cannot fit
in memory are refused up front as "too large" with the bytes asked for.
"""
import os
import subprocess
import sys

import pytest

from oneline import assert_one_line, run_cli

HUGE = "1000000000000"


@pytest.fixture(autouse=True)
def four_gib(monkeypatch):
    """The same verdicts on any host: as if 4 GiB were free."""
    from kkpy.sparse import _validate

    monkeypatch.setattr(_validate, "available_bytes", lambda: 4 << 30)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from kkpy.dnn._generate import generate

    d = tmp_path_factory.mktemp("data")
    generate(64, 2, 3, d)
    return d


@pytest.mark.parametrize("argv, words", [
    (["run", "--images", HUGE], ["--images", "too large: asked for 32000000000032 bytes"]),
    (["generate", "--neurons", "1024", "--layers", "1", "--images", "10000000000", "--out",
      "{tmp}/g"], ["images=10000000000", "too large: asked for 80000000000 bytes"]),
    (["bench", "--images", "0"], ["--images", "at least 1"]),
    (["bench", "--images", HUGE], ["--images", "too large"]),
    (["bench", "--repeat", "0"], ["--repeat", "at least 1"]),
    (["bench", "--peers", "foo"], ["--peers", "unknown peer 'foo'"]),
    (["bench", "--peers", "scipy,foo"], ["--peers", "unknown peer 'foo'"]),
    (["run", "--images", "x"], ["--images", "not an integer"]),
    (["run", "--nonsense"], ["--nonsense"]),
    (["run", "--categories-out", "{tmp}"], ["--categories-out", "is a directory"]),
])
def test_bad_arguments_are_one_line(capsys, tmp_path, argv, words):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line(code, err, *words)
    assert not (tmp_path / "g").exists()  # nothing written half-way


def test_huge_images_with_data(capsys, data):
    code, _, err = run_cli(capsys, "run", "--data", str(data), "--neurons", "64", "--layers",
                           "2", "--images", HUGE, "--quiet")
    assert_one_line(code, err, "--images", "too large")


def test_image_row_id_past_memory(capsys, data, tmp_path):
    import shutil

    d = tmp_path / "d"
    shutil.copytree(data, d)
    with open(d / "sparse-images-64.tsv", "a") as fh:
        fh.write("2000000000\t1\t1\n")
    code, _, err = run_cli(capsys, "run", "--data", str(d), "--neurons", "64", "--layers", "2",
                           "--quiet")
    assert_one_line(code, err, "2000000000", "too large: asked for")


def test_categories_out_directory_fails_before_the_run(capsys, monkeypatch, tmp_path):
    from kkpy.dnn import _engine

    monkeypatch.setattr(_engine, "run_challenge", lambda *a, **k: pytest.fail("ran"))
    code, _, err = run_cli(capsys, "run", "--categories-out", str(tmp_path), "--quiet")
    assert_one_line(code, err, str(tmp_path), "is a directory")
    assert ".tmp" not in err


def test_symlink_loops_are_named(capsys, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    os.symlink(b, a)
    os.symlink(a, b)
    code, _, err = run_cli(capsys, "run", "--data", str(a), "--neurons", "64", "--layers", "2")
    assert_one_line(code, err, str(a), "symbolic links")
    code, _, err = run_cli(capsys, "run", "--categories-out", str(a), "--quiet")
    assert_one_line(code, err, "--categories-out", "symbolic links")


def test_memory_error_anywhere_is_too_large(capsys, monkeypatch):
    import numpy as np

    from kkpy.dnn import _engine

    def boom(*a, **k):
        np.empty(1 << 62, np.int8)

    monkeypatch.setattr(_engine, "run_challenge", boom)
    code, _, err = run_cli(capsys, "run", "--quiet")
    assert_one_line(code, err, "too large: asked for 4611686018427387904 bytes")


def test_a_real_process_exits_2_without_traceback():
    done = subprocess.run([sys.executable, "-m", "kkpy.dnn", "bench", "--images", "0"],
                          capture_output=True, text=True, timeout=300)
    assert_one_line(done.returncode, done.stderr, "--images")
