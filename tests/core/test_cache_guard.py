"""kkpy's guard against stale numba caches: cleared when, and only when, its sources change."""
import os

import pytest

from kkpy.core import _cache_guard as guard
from kkpy.core._numba_cache import PrivateLocator


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A stand-in package: one module, with a numba cache file in kkpy's own folder."""
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "mod.py").write_text("x = 1\n")
    monkeypatch.setattr(guard, "_PACKAGE", str(pkg))
    monkeypatch.setattr(guard, "_digest", None)
    return pkg


def cached(pkg, root=None):
    """A numba cache file of ``pkg/mod.py`` where kkpy keeps it (below ``root``)."""
    root = pkg.parent / "stamps" if root is None else root
    folder = root / PrivateLocator.get_suitable_cache_subpath(str(pkg / "mod.py"))
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "mod.f-1.py311.nbi"
    f.write_bytes(b"index")
    return f


def check(pkg, stamps):
    guard._digest = None  # a new process would compute it afresh
    guard.check(str(stamps))


def test_cache_survives_until_a_source_changes(package, tmp_path):
    stamps = tmp_path / "stamps"
    check(package, stamps)                       # first sight: nothing recorded yet
    f = cached(package)
    check(package, stamps)
    assert f.exists()                            # same sources: the cache is kept
    os.utime(package / "mod.py", ns=(1, 1))      # touched (a checkout), same contents
    check(package, stamps)
    assert f.exists()
    (package / "mod.py").write_text("x = 2\n")   # edited: every cached kernel may be stale
    check(package, stamps)
    assert not f.exists()
    g = cached(package)
    check(package, stamps)
    assert g.exists()


def test_a_new_module_counts_as_a_change(package, tmp_path):
    stamps = tmp_path / "stamps"
    check(package, stamps)
    f = cached(package)
    (package / "helper.py").write_text("y = 1\n")
    check(package, stamps)
    assert not f.exists()


def test_a_users_numba_cache_dir_is_never_touched(package, tmp_path, monkeypatch):
    # kkpy's functions are cached in its private folder only; NUMBA_CACHE_DIR
    # holds the user's own functions, which a change of kkpy's sources never stales.
    import numba
    user = tmp_path / "numba-cache"
    mirror = user / os.path.splitdrive(str(package))[1].lstrip(os.sep) / "__pycache__"
    mirror.mkdir(parents=True)
    (mirror / "mod.f-1.py311.nbi").write_bytes(b"index")
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(user))
    stamps = tmp_path / "stamps"
    check(package, stamps)
    mine = cached(package)
    (package / "mod.py").write_text("x = 2\n")
    check(package, stamps)
    assert not mine.exists()                          # kkpy's own: stale, cleared
    assert (mirror / "mod.f-1.py311.nbi").exists()    # the user's: left alone


def test_an_unwritable_stamp_folder_is_ignored(package, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    f = cached(package)
    guard.check(str(blocker / "stamps"))         # cannot create it: no error, nothing removed
    assert f.exists()


def test_only_its_own_folder_is_ever_cleared(package, tmp_path):
    """A fresh cache folder (a new KKPY_CACHE_DIR) clears nothing elsewhere: not numba's
    files beside the sources, not another cache folder's."""
    beside = package / "__pycache__" / "mod.f-1.py311.nbi"
    beside.write_bytes(b"someone else's")
    check(package, tmp_path / "other")
    other = cached(package, tmp_path / "other")
    (package / "mod.py").write_text("x = 2\n")
    check(package, tmp_path / "fresh")
    assert beside.exists() and other.exists()


def test_driver_names_depend_on_the_package_sources(package):
    first = guard.package_digest()
    guard._digest = None
    (package / "mod.py").write_text("x = 3\n")
    assert guard.package_digest() != first
