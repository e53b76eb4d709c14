"""What kkpy writes and later trusts: generated drivers, numba's cache, parsed files.

Regression tests of issue 15, findings 1 (code injection), 2 (stale and
poisoned data cache), 3 (read-only install) and 12 (files written into the
installed package): each attack below worked on the code before the fix.
Every test works in its own temporary folders; none reads or writes
``~/.cache``.
"""
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kkpy.dnn import _cache, _data
from kkpy.dnn._cli import main as cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOREIGN_UID = 54321  # no such user: "owned by someone else"

KERNEL = """
import kkpy

@kkpy.kernel
def twice(i, x, y):
    y[i] = 2.0 * x[i]
"""

# A user's program: its drivers are generated in the cache folder (if one is
# usable), numba caches them, and the answer must be right whatever was planted.
PROGRAM = """
import numpy as np, kkpy, kmod
x, y = np.arange(8.0), np.zeros(8)
kkpy.parallel_for("twice", kkpy.RangePolicy(kkpy.Threads(), 0, 8), kmod.twice, x, y)
print(y.sum())
"""

NO_PASSWD = """
import pwd
def _missing(uid):
    raise KeyError(uid)
pwd.getpwuid = _missing  # as for a user with no passwd entry
"""


def python(script, env, cwd, path=(), prefix=()):
    """Run ``script`` in a fresh interpreter with exactly ``env`` (plus a path to kkpy)."""
    env = {k: v for k, v in env.items() if v is not None}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path), ROOT])
    env.setdefault("PATH", os.environ.get("PATH", ""))
    return subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(script)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def base_env(tmp, **extra):
    """A clean environment: HOME in ``tmp`` (never the real one), no kkpy or numba settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KKPY_", "NUMBA_", "XDG_", "PYTHON"))}
    env["HOME"] = str(tmp / "home")
    # the one-line compile notice depends on how long a compile takes (a busy
    # machine passes a second): the checks here read stderr for warnings only
    env["KKPY_QUIET"] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Names of the files a first run writes: drivers, and numba's index files."""
    tmp = tmp_path_factory.mktemp("names")
    (tmp / "kmod.py").write_text(KERNEL)
    env = base_env(tmp, KKPY_CACHE_DIR=str(tmp / "cache"), NUMBA_CACHE_DIR=str(tmp / "numba"))
    done = python(PROGRAM, env, tmp, [tmp])
    assert done.returncode == 0, done.stderr
    files = [f for top in ("cache", "numba") for _, _, fs in os.walk(tmp / top) for f in fs]
    drivers = [f for f in files if f.startswith("kkdrv_") and f.endswith(".py")]
    indexes = [f for f in files if f.startswith("kkdrv_") and f.endswith(".nbi")]
    assert drivers and indexes
    return drivers, indexes


class Payload:
    """Unpickling this runs code: what a planted numba index file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def plant(folder, names, marker):
    """Plant drivers and numba index files that write ``marker`` when run."""
    drivers, indexes = names
    evil = f"open({str(marker)!r}, 'w').write('pwned')\n"
    (folder / "drivers" / "__pycache__").mkdir(parents=True, exist_ok=True)
    for name in drivers:
        (folder / "drivers" / name).write_text(evil)
    import numba
    from numba.core.caching import _CacheLocator

    index = pickle.dumps(numba.__version__) + pickle.dumps(Payload(str(marker)))
    sub = _CacheLocator.get_suitable_cache_subpath(str(folder / "drivers" / "x.py"))
    for where in (folder / "drivers" / "__pycache__", folder / "numba" / sub):
        where.mkdir(parents=True, exist_ok=True)
        for name in indexes:
            (where / name).write_bytes(index)


def attack(tmp, names, env, folder, make_unsafe=None):
    (tmp / "kmod.py").write_text(KERNEL)
    marker = tmp / "pwned"
    plant(folder, names, marker)
    if make_unsafe is not None:
        make_unsafe(folder)
    done = python(PROGRAM, env, tmp, [tmp])
    assert not marker.exists(), "a planted file ran"
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == 56.0
    return done


# -- finding 1: code injection ------------------------------------------------------------

def test_world_writable_cache_folder_is_refused(tmp_path, planted):
    folder = tmp_path / "shared"
    env = base_env(tmp_path, KKPY_CACHE_DIR=str(folder))
    done = attack(tmp_path, planted, env, folder, lambda f: f.chmod(0o777))
    assert "writable by group or others" in done.stderr  # said once, then compiled in memory


@pytest.mark.skipif(not hasattr(os, "chown") or os.geteuid() != 0,
                    reason="giving a folder to another user needs root")
def test_foreign_owned_cache_folder_is_refused(tmp_path, planted):
    folder = tmp_path / "theirs"
    env = base_env(tmp_path, KKPY_CACHE_DIR=str(folder))

    def give_away(f):
        for d, dirs, files in os.walk(f):
            for x in [d, *(os.path.join(d, n) for n in files)]:
                os.chown(x, FOREIGN_UID, FOREIGN_UID)
        f.chmod(0o700)

    done = attack(tmp_path, planted, env, folder, give_away)
    assert "owned by uid" in done.stderr


def test_a_folder_under_a_writable_parent_is_refused(tmp_path, planted):
    parent = tmp_path / "open"
    folder = parent / "mine"
    env = base_env(tmp_path, KKPY_CACHE_DIR=str(folder))
    attack(tmp_path, planted, env, folder, lambda f: (f.chmod(0o700), parent.chmod(0o777)))


def test_no_home_never_means_the_current_directory(tmp_path, planted):
    """HOME unset and no passwd entry: no ``./~/.cache/kkpy``, so the cwd cannot pick the code."""
    env = base_env(tmp_path, HOME=None)
    folder = tmp_path / "~" / ".cache" / "kkpy"
    (tmp_path / "kmod.py").write_text(KERNEL)
    plant(folder, planted, tmp_path / "pwned")
    before = sorted(p for p, _, _ in os.walk(tmp_path / "~"))
    done = python(NO_PASSWD + PROGRAM, env, tmp_path, [tmp_path])
    assert not (tmp_path / "pwned").exists(), "a planted file ran"
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == 56.0 and done.stderr == ""
    assert sorted(p for p, _, _ in os.walk(tmp_path / "~")) == before


def test_a_changed_driver_is_rewritten_before_it_runs(tmp_path, planted):
    """Even in the user's own folder a driver runs only if its bytes are the ones kkpy writes."""
    folder = tmp_path / "cache"
    env = base_env(tmp_path, KKPY_CACHE_DIR=str(folder))
    (tmp_path / "kmod.py").write_text(KERNEL)
    marker = tmp_path / "pwned"
    (folder / "drivers").mkdir(parents=True)
    folder.chmod(0o700)
    for name in planted[0]:
        (folder / "drivers" / name).write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    done = python(PROGRAM, env, tmp_path, [tmp_path])
    assert not marker.exists() and done.returncode == 0, done.stderr
    assert float(done.stdout) == 56.0
    assert "open(" not in (folder / "drivers" / planted[0][0]).read_text()


def test_cache_folder_is_created_private(tmp_path, run_python):
    folder = tmp_path / "new" / "kkpy"
    run_python("import kkpy.core._private as p; assert p.private_dir('drivers')",
               KKPY_CACHE_DIR=str(folder))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "drivers").stat().st_mode) == 0o700


def test_relative_and_unsafe_locations(tmp_path, monkeypatch):
    from kkpy.core import _private

    monkeypatch.setattr(_private, "_warned", set())
    monkeypatch.setenv("KKPY_CACHE_DIR", "relative/cache")
    with pytest.warns(_private.CacheDirWarning, match="not an absolute path"):
        assert _private.private_dir() is None
    monkeypatch.delenv("KKPY_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # not absolute: ignored, as XDG says
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _private.location() == str(tmp_path / ".cache" / "kkpy")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target", target_is_directory=True)
    (tmp_path / "target").mkdir(mode=0o777)
    (tmp_path / "target").chmod(0o777)
    assert "writable" in _private.problem(str(link))
    (tmp_path / "target").chmod(0o700)
    assert _private.problem(str(link)) is None


# -- findings 3 and 12: nothing written into the package; read-only installs work ----------

READ_ONLY_RUN = """
import os, numpy as np, scipy.sparse as sp
import kkpy
from kkpy import sparse, dnn
assert kkpy.__file__.startswith(SITE), kkpy.__file__
A = sp.random(40, 40, density=0.1, format="csr", random_state=0)
C = sparse.spgemm(A, A).to_scipy()
assert abs(C - A @ A).max() < 1e-12
W = [sp.random(32, 32, density=0.2, format="csr", random_state=k, dtype=np.float32) for k in range(2)]
Y = dnn.infer(sp.random(5, 32, density=0.3, format="csr", random_state=9, dtype=np.float32), W, -0.1)
print("ok", Y.shape)
"""


def _read_only(tree):
    for d, dirs, files in os.walk(tree):
        for f in files:
            os.chmod(os.path.join(d, f), 0o444)
        os.chmod(d, 0o555)


def test_read_only_install_without_a_home_imports_and_runs(tmp_path):
    """site-packages and HOME read-only: kkpy.sparse and kkpy.dnn still run (finding 3),
    and nothing is written into the package (finding 12)."""
    prefix = []
    if os.geteuid() == 0:  # root writes anywhere: drop that privilege for the run
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to run as root without write override")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    site = tmp_path / "site"
    shutil.copytree(os.path.join(ROOT, "kkpy"), site / "kkpy",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    home = tmp_path / "home"
    home.mkdir()
    for tree in (site, home):
        _read_only(tree)
    try:
        env = base_env(tmp_path, HOME=str(home))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        script = READ_ONLY_RUN.replace("SITE", repr(str(site)))
        done = python(script, env, home, [site], prefix)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("ok")
        written = [os.path.join(d, f) for d, _, fs in os.walk(site) for f in fs
                   if f.endswith((".nbi", ".nbc")) or "kkdrv" in f]
        assert written == []
    finally:
        for d, _, _ in os.walk(tmp_path):
            os.chmod(d, 0o755)


def test_writable_install_gets_no_numba_files(tmp_path):
    """Finding 12: numba's cache of kkpy's functions goes to kkpy's folder, not the package."""
    site = tmp_path / "site"
    shutil.copytree(os.path.join(ROOT, "kkpy"), site / "kkpy",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = base_env(tmp_path, KKPY_CACHE_DIR=str(tmp_path / "cache"))
    script = READ_ONLY_RUN.replace("SITE", repr(str(site)))
    script = script[:script.index("W = [")]  # SpGEMM's kernels are enough here
    done = python(script + "print('ok')", env, tmp_path, [site])
    assert done.returncode == 0, done.stderr
    inside = [f for d, _, fs in os.walk(site) for f in fs if f.endswith((".nbi", ".nbc"))]
    assert inside == []
    assert any(f.endswith(".nbi") for _, _, fs in os.walk(tmp_path / "cache") for f in fs)


def test_a_fresh_cache_folder_deletes_no_other_numba_cache(tmp_path):
    """Finding 2: a new KKPY_CACHE_DIR made ``import kkpy`` clear NUMBA_CACHE_DIR's copy."""
    numba_dir = tmp_path / "numba"
    mirror = numba_dir / os.path.splitdrive(os.path.join(ROOT, "kkpy"))[1].lstrip(os.sep)
    mirror.mkdir(parents=True)
    theirs = mirror / "mod.f-1.py311.nbi"
    theirs.write_bytes(b"another tool's cache")
    env = base_env(tmp_path, KKPY_CACHE_DIR=str(tmp_path / "fresh"),
                   NUMBA_CACHE_DIR=str(numba_dir))
    done = python("import kkpy", env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert theirs.exists()


# -- finding 2: the data cache ---------------------------------------------------------------

def write_layer(path, entries, mode=0o644):
    path.write_text("".join(f"{i}\t{j}\t{v}\n" for i, j, v in entries))
    path.chmod(mode)


def reference(entries, n=8):
    i, j, v = zip(*entries)
    return scipy.sparse.csr_array((np.array(v, np.float32), (np.array(i) - 1, np.array(j) - 1)),
                                  shape=(n, n))


def read(path, cache, n=8):
    return _data._read(str(path), (n, n), cache)


def same(a, b):
    return a.shape == b.shape and (a != b).nnz == 0


@pytest.fixture
def layer(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    entries = [(1, 2, 0.5), (3, 4, 0.25), (8, 8, 1.0)]
    write_layer(d / "l1.tsv", entries)
    return d / "l1.tsv", entries


@pytest.fixture
def cache(tmp_path):
    d = tmp_path / "cache"
    d.mkdir(mode=0o700)
    return d


def entry_of(cache):
    (entry,) = [e for e in os.listdir(cache) if not e.startswith(".")]
    return cache / entry


def test_same_size_and_restored_mtime_is_not_served_stale(layer, cache):
    path, entries = layer
    read(path, cache)
    st = os.stat(path)
    edited = [(1, 2, 0.5), (3, 5, 0.25), (8, 8, 1.0)]  # one column moved: same size
    write_layer(path, edited)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size
    assert same(read(path, cache), reference(edited))


def test_cp_p_of_another_file_is_not_served_stale(layer, cache, tmp_path):
    path, entries = layer
    other = tmp_path / "other.tsv"
    changed = [(1, 2, 0.5), (3, 4, 0.75), (8, 8, 1.0)]
    write_layer(other, changed)
    os.utime(other, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns))
    read(path, cache)
    shutil.copy2(other, path)  # cp -p: content, mode and times
    assert same(read(path, cache), reference(changed))


@pytest.mark.parametrize("damage", ["indptr", "indices", "data", "meta", "truncate"])
def test_a_corrupt_entry_is_replaced(layer, cache, damage):
    path, entries = layer
    read(path, cache)
    entry = entry_of(cache)
    name = {"meta": "meta.json", "truncate": "indices.npy"}.get(damage, f"{damage}.npy")
    f = entry / name
    if damage == "meta":
        f.write_text("{not json")
    elif damage == "truncate":
        f.write_bytes(f.read_bytes()[:-4])
    else:
        a = np.load(f)
        a[1] = {"indptr": 10 ** 6, "indices": 10 ** 6, "data": 7.0}[damage]
        np.save(f, a)
    # Loaded twice: the bad entry is dropped, the next read stores a sound one.
    assert same(read(path, cache), reference(entries))
    assert same(read(path, cache), reference(entries))
    assert len(os.listdir(cache)) == 1 and same(
        _cache.load(str(cache), str(path), _how(), shape=(8, 8)), reference(entries))


def _how(n=8):
    return _data.cache_how((n, n))


def test_a_planted_valid_entry_in_a_shared_folder_is_ignored(layer, tmp_path):
    path, entries = layer
    shared = tmp_path / "shared"
    shared.mkdir()
    lie = reference([(1, 1, 9.0)])
    lie.indices = lie.indices.astype(_data._INDEX)
    lie.indptr = lie.indptr.astype(_data._INDEX)
    key = _cache.stat_key(str(path))
    _cache.store(str(shared), str(path), _how(), lie, key)  # what another user could write
    assert os.listdir(shared)
    shared.chmod(0o777)
    with pytest.warns(UserWarning, match="writable by group or others"):
        assert same(read(path, shared), reference(entries))


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_entries_are_readable_by_whom_the_file_is(layer, cache, mode):
    path, entries = layer
    path.chmod(mode)
    read(path, cache)
    entry = entry_of(cache)
    files = {stat.S_IMODE(os.stat(entry / f).st_mode) for f in os.listdir(entry)}
    assert files == {mode}
    assert stat.S_IMODE(entry.stat().st_mode) == 0o700 | (mode & 0o044) | ((mode & 0o044) >> 2)


def test_size_cap_evicts_least_recently_used(tmp_path, cache, monkeypatch):
    d = tmp_path / "data"
    d.mkdir()
    paths = []
    for k in range(4):
        write_layer(d / f"l{k}.tsv", [(1, k + 1, 0.5), (2, 3, 0.25)])
        paths.append(d / f"l{k}.tsv")
    read(paths[0], cache)
    one = _cache.usage(str(cache))[1]
    monkeypatch.setenv("KKPY_CACHE_MAX", str(int(2.5 * one)))
    monkeypatch.setattr(_cache, "_sizes", {})
    read(paths[1], cache)
    entry0 = [e for e in os.listdir(cache) if e.startswith("l0")][0]
    os.utime(cache / entry0 / "meta.json", (1, 1))
    read(paths[0], cache)  # a hit: l0 becomes the most recently used
    read(paths[2], cache)  # over the cap: l1, the least recently used, goes
    names = sorted(e.split(".")[0] for e in os.listdir(cache))
    assert names == ["l0", "l2"]
    assert _cache.usage(str(cache))[1] <= 2.5 * one


def test_xdg_cache_home_is_honoured(layer, tmp_path, monkeypatch):
    path, entries = layer
    monkeypatch.delenv("KKPY_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert same(read(path, True), reference(entries))
    assert len(os.listdir(tmp_path / "xdg" / "kkpy" / "data")) == 1
    assert not (tmp_path / "home").exists()


def test_cache_command_shows_and_clears_only_its_own_files(layer, tmp_path, monkeypatch, capsys):
    path, entries = layer
    monkeypatch.setenv("KKPY_CACHE_DIR", str(tmp_path / "kk"))
    read(path, True)
    mine = tmp_path / "kk" / "data" / "notes.txt"
    mine.write_text("the user's")
    assert cli(["cache", "--info"]) == 0
    assert "holds 1 entries" in capsys.readouterr().out
    assert cli(["cache", "--clear"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert os.listdir(tmp_path / "kk" / "data") == ["notes.txt"]


# -- fuzzing the loader: damaged bytes give the right matrix or a rebuilt entry ------------

@pytest.fixture(scope="module")
def sound_entry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    entries = {(int(i), int(j)): float(v) for i, j, v in
               zip(rng.integers(1, 9, 30), rng.integers(1, 9, 30), rng.random(30).round(3) + 0.1)}
    entries = [(i, j, v) for (i, j), v in entries.items()]
    src = tmp / "l.tsv"
    write_layer(src, entries)
    cache = tmp / "cache"
    cache.mkdir(mode=0o700)
    read(src, cache)
    return src, cache, entry_of(cache), reference(entries)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(file=st.sampled_from(["indptr.npy", "indices.npy", "data.npy", "meta.json"]),
       at=st.integers(0, 10 ** 6), new=st.binary(min_size=1, max_size=8),
       cut=st.booleans(), rows=st.sampled_from([None, (0, 3), (2, 8), (7, 99)]))
def test_fuzzed_entries_load_right_or_not_at_all(sound_entry, file, at, new, cut, rows):
    src, cache, entry, want = sound_entry
    work = tempfile.mkdtemp(dir=cache.parent)
    try:
        root = os.path.join(work, "c")
        os.mkdir(root, 0o700)
        shutil.copytree(entry, os.path.join(root, entry.name))
        f = os.path.join(root, entry.name, file)
        data = bytearray(open(f, "rb").read())
        at %= len(data)
        data = data[:at] if cut else data[:at] + new + data[at + len(new):]
        with open(f, "wb") as fh:
            fh.write(bytes(data))
        got = _cache.load(root, str(src), _how(), rows=rows, shape=(8, 8))
        expect = want if rows is None else want[rows[0]:min(rows[1], 8)]
        if got is None:
            assert not os.path.exists(os.path.join(root, entry.name))  # replaced next time
        else:
            assert same(got, expect) and got.dtype == np.float32
    finally:
        shutil.rmtree(work)
