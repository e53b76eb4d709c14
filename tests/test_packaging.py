"""What a packager or a new user checks first: name, version, licence, faces, first use."""
import importlib
import os
import re
import numpy as np
import pytest

import kkpy

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)


def test_version_has_one_source():
    project = pyproject()
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, name = attr.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name) == kkpy.__version__
    with open(os.path.join(ROOT, "CITATION.cff")) as fh:
        assert re.search(rf"^version: {re.escape(kkpy.__version__)}$", fh.read(), re.M)
    # No other file of the package spells the version out.
    for root, _, files in os.walk(os.path.join(ROOT, "kkpy")):
        for f in files:
            if f.endswith(".py") and f != "_version.py":
                with open(os.path.join(root, f)) as fh:
                    assert f'"{kkpy.__version__}"' not in fh.read(), f


def test_distribution_name_is_not_kkpy_but_import_is():
    # "kkpy" on the package index is an unrelated project.
    assert pyproject()["project"]["name"] == "kkpy-kokkos"
    with open(os.path.join(ROOT, "README.md")) as fh:
        assert "pip install kkpy-kokkos" in fh.read()


def test_project_files_and_metadata():
    project = pyproject()["project"]
    assert project["license"] == "BSD-3-Clause"
    with open(os.path.join(ROOT, "LICENSE")) as fh:
        assert "BSD 3-Clause" in fh.read()
    assert project["license-files"] == ["LICENSE"]
    assert project["authors"] and project["urls"] and project["classifiers"]
    for name in ("CHANGELOG.md", "CITATION.cff"):
        assert os.path.isfile(os.path.join(ROOT, name))
    with open(os.path.join(ROOT, "CITATION.cff")) as fh:
        assert "Scalable Inference for Sparse Deep Neural Networks using Kokkos Kernels" in fh.read()
    assert os.path.isfile(os.path.join(ROOT, "kkpy", "py.typed"))
    assert "py.typed" in pyproject()["tool"]["setuptools"]["package-data"]["kkpy"]


def test_min_versions_script_pins_the_declared_minimums():
    with open(os.path.join(ROOT, ".ci", "min-versions")) as fh:
        pins = dict(re.findall(r"(\w+)==([\d.]+)", fh.read()))
    declared = {}
    for dep in pyproject()["project"]["dependencies"]:
        name, low = re.fullmatch(r"([\w-]+)>=([\d.]+)", dep).groups()
        declared[name] = low
    for name in ("numba", "numpy", "scipy", "llvmlite"):
        # ">=1.26" is met exactly by 1.26.0
        assert pins[name].removesuffix(".0") == declared[name].removesuffix(".0"), name


FACES = ["kkpy", "kkpy.core", "kkpy.sparse", "kkpy.sparse.io", "kkpy.dnn"]


@pytest.mark.parametrize("face", FACES)
def test_every_face_has_a_consistent_all(face):
    module = importlib.import_module(face)
    names = module.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(module, name), f"{face}.{name}"
    # Everything public that is not a submodule is listed.
    extra = {n for n in dir(module) if not n.startswith("_")} - set(names)
    extra = {n for n in extra if not isinstance(getattr(module, n), type(os))}
    assert not extra, f"{face}: public names missing from __all__: {sorted(extra)}"


def test_lazy_names_are_listed_by_dir(run_python):
    # In a fresh interpreter, before anything touched them.
    done = run_python("""
        import kkpy, kkpy.sparse
        lazy = ["Cuda", "atomic_add", "atomic_compare_exchange", "TeamThreadRange",
                "ThreadVectorRange", "TeamVectorRange"]
        assert set(lazy) <= set(dir(kkpy)), set(lazy) - set(dir(kkpy))
        assert {"io", "DeviceCrs", "warmup"} <= set(dir(kkpy.sparse))
        assert "Cuda" not in vars(kkpy) and "io" not in vars(kkpy.sparse)  # still lazy
        print("ok")
    """)
    assert done.stdout.strip() == "ok"


def test_benchmarks_refuse_another_kkpy(run_python, tmp_path):
    # asv drops PYTHONPATH: an environment may hold another checkout's kkpy.
    (tmp_path / "kkpy").mkdir()
    (tmp_path / "kkpy" / "__init__.py").write_text("# some other kkpy\n")
    done = run_python("""
        try:
            import benchmarks
        except ImportError as err:
            print("refused:", err)
    """, path=[tmp_path, ROOT], cwd=str(tmp_path))
    assert done.stdout.startswith("refused: benchmarks of "), done.stdout
    assert str(tmp_path / "kkpy") in done.stdout and "pip install -e" in done.stdout


def test_benchmark_scripts_run_directly_refuse_another_kkpy(run_python, tmp_path):
    # ``python benchmarks/bench_x.py`` does not import the package (and its
    # check) unless the script does: every script's __main__ block must.
    import shutil

    shutil.copytree(os.path.join(ROOT, "benchmarks"), tmp_path / "benchmarks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "kkpy").mkdir()
    (tmp_path / "kkpy" / "__init__.py").write_text("# this copy's kkpy, not the one imported\n")
    scripts = sorted(p.name for p in (tmp_path / "benchmarks").glob("*.py")
                     if 'if __name__ == "__main__":' in p.read_text())
    assert len(scripts) >= 10
    done = run_python(f"""
        import runpy, sys
        import kkpy  # the environment's: the checkout's own, not the copy's
        sys.path.insert(0, {str(tmp_path / "benchmarks")!r})
        for name in {scripts!r}:
            sys.argv = [name, "--help"]
            try:
                runpy.run_path({str(tmp_path / "benchmarks")!r} + "/" + name,
                               run_name="__main__")
                print(name, "ran")
            except ImportError as err:
                print(name, "refused" if "would measure" in str(err) else repr(err))
            except SystemExit:
                print(name, "ran")
    """, path=[ROOT], cwd=ROOT)
    assert done.stdout.split() == [w for name in scripts for w in (name, "refused")], \
        done.stdout


def test_benchmarks_accept_an_identical_installed_copy(tmp_path):
    import shutil

    import benchmarks

    shutil.copytree(os.path.join(ROOT, "kkpy"), tmp_path / "kkpy",
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert benchmarks._sources_digest(str(tmp_path / "kkpy")) == \
        benchmarks._sources_digest(os.path.join(ROOT, "kkpy"))
    benchmarks.check_kkpy_is_this_checkout()  # this process: the checkout's own kkpy


# -- first use: the warm-up and the compile notice ----------------------------------

def test_warmup_compiles_ahead_and_kernels_agree_with_scipy():
    import scipy.sparse as sp

    from kkpy import sparse

    seconds = sparse.warmup(dtypes=["float32"], index_dtypes=["int64"])
    assert seconds >= 0
    A = sparse.CrsMatrix.from_coo([0, 1, 2], [1, 2, 0], np.float32([1, 2, 3]), (3, 3),
                                  index_dtype=np.int64)
    S = A.to_scipy()
    assert abs(sparse.spgemm(A, A).to_scipy() - S @ S).max() == 0


def test_warmup_refuses_unknown_or_unsupported_dtypes():
    from kkpy import sparse

    with pytest.raises(TypeError):
        sparse.warmup(dtypes=["no-such-dtype"])
    with pytest.raises(ValueError, match="index_dtypes"):
        sparse.warmup(index_dtypes=["int16"])


_SLOW_KERNEL = """
    import numpy as np, kkpy
    from kkpy.core import _compile_notice
    from incmod import inc
    _compile_notice.THRESHOLD = 0.0   # every compile counts as slow here
    x = np.zeros(3)
    kkpy.parallel_for("inc", 3, inc, x)
    kkpy.parallel_for("inc", 3, inc, x)   # compiled already: no second line
    print(x.tolist())
"""


def slow_kernel_env(tmp_path, quiet):
    """Where the kernel's module lives (a file, so that its compiled form is cached)."""
    (tmp_path / "incmod.py").write_text(
        "import kkpy\n\n@kkpy.kernel\ndef inc(i, x):\n    x[i] += 1\n")
    return dict(path=[tmp_path], KKPY_CACHE_DIR=str(tmp_path / "cache"),
                NUMBA_CACHE_DIR=str(tmp_path / "numba"), KKPY_QUIET=quiet)


def test_a_slow_compile_prints_one_line(run_python, tmp_path):
    done = run_python(_SLOW_KERNEL, **slow_kernel_env(tmp_path, None))
    assert done.stdout.strip() == "[2.0, 2.0, 2.0]"
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("kkpy: compiled")]
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(r"kkpy: compiled parallel_for 'inc' in \d+\.\d s "
                        r"\(first use; cached for next time\)", lines[0])
    # The next process loads it from the disk cache: nothing to say.
    again = run_python(_SLOW_KERNEL, **slow_kernel_env(tmp_path, None))
    assert "kkpy: compiled" not in again.stderr


def test_kkpy_quiet_silences_the_compile_notice(run_python, tmp_path):
    done = run_python(_SLOW_KERNEL, **slow_kernel_env(tmp_path, "1"))
    assert done.stdout.strip() == "[2.0, 2.0, 2.0]"
    assert "kkpy: compiled" not in done.stderr
