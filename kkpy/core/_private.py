"""kkpy's private cache directory, the only place where it keeps files.

kkpy imports the driver modules it generates and numba loads pickled index
files from its cache, so whoever can write into that directory can run code
as the user.  It is therefore used only if it is

* an absolute path: ``KKPY_CACHE_DIR``, else ``$XDG_CACHE_HOME/kkpy`` (an
  absolute ``XDG_CACHE_HOME`` only, as the XDG specification says), else
  ``~/.cache/kkpy`` from ``HOME`` or the password database, never ``./~``;
* a directory owned by the user, not writable by group or others (kkpy
  creates it, and each folder in it, with mode 0700);
* reached through directories owned by root or the user that nobody else
  can write, unless they are sticky like ``/tmp`` (others cannot rename or
  replace what the user owns there).  Both the path as given and the path
  with its symbolic links resolved are checked, so a link counts only if
  the directory holding it is safe too.

Otherwise kkpy warns once (only when a directory exists but is unsafe; a
missing or read-only home is normal) and compiles in memory.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import stat
import tempfile
import threading
import warnings

__all__ = ["CacheDirWarning", "location", "problem", "refuse", "private_dir", "code_dir",
           "code_usage"]


class CacheDirWarning(UserWarning):
    """kkpy does not use an unsafe cache directory and compiles in memory instead."""


def location():
    """The cache directory kkpy would use, before any check; None without a home.

    Examples
    --------
    >>> import os
    >>> os.environ.get("KKPY_CACHE_DIR") is None or location() == os.environ["KKPY_CACHE_DIR"]
    True
    """
    given = os.environ.get("KKPY_CACHE_DIR")
    if given:
        return given
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "kkpy")
    home = os.path.expanduser("~")  # "~" itself when neither HOME nor a passwd entry exist
    if os.path.isabs(home):
        return os.path.join(home, ".cache", "kkpy")
    return None


def _ancestors(path):
    seen = []
    for p in (os.path.abspath(path), os.path.realpath(path)):
        while (parent := os.path.dirname(p)) != p:
            if parent not in seen:
                seen.append(parent)
            p = parent
    return seen


def problem(path):
    """Why ``path`` may not hold code kkpy runs, as words; None if it may.

    Examples
    --------
    >>> problem("relative/dir")
    'is not an absolute path'
    """
    if not os.path.isabs(path):
        return "is not an absolute path"
    try:
        st = os.stat(path)
    except OSError as err:
        return f"cannot be used ({err.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if not hasattr(os, "geteuid"):  # no POSIX owners here (Windows): trust the ACLs
        return None
    uid = os.geteuid()
    if st.st_uid != uid:
        return f"is owned by uid {st.st_uid}, not by this user (uid {uid})"
    if st.st_mode & 0o022:
        return f"is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    for p in _ancestors(path):
        try:
            st = os.stat(p)
        except OSError as err:
            return f"lies in {p}, which cannot be used ({err.strerror})"
        if st.st_uid not in (0, uid):
            return f"lies in {p}, owned by another user (uid {st.st_uid})"
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            return f"lies in {p}, writable by group or others and not sticky"
    return None


_warned = set()
_lock = threading.Lock()


def refuse(path, why, instead="compiling in memory"):
    """Warn once per folder that it is not used; returns None."""
    with _lock:
        if path in _warned:
            return None
        _warned.add(path)
    warnings.warn(f"kkpy: not using the cache directory {path}: it {why}; {instead} "
                  f"(see 'Security and robustness' in kkpy's docs)", CacheDirWarning, stacklevel=3)
    return None


def private_dir(*sub):
    """The private cache directory, or its folder ``sub``; None if unsafe or unavailable.

    Creates what is missing (mode 0700); an unwritable location only costs
    speed, an unsafe one also warns once.
    """
    root = location()
    if root is None:
        return None
    if not os.path.isabs(root):
        return refuse(root, "is not an absolute path")
    path = os.path.join(root, *sub)
    try:
        os.makedirs(os.path.dirname(root), exist_ok=True)
        for p in [root] + [os.path.join(root, *sub[:k + 1]) for k in range(len(sub))]:
            try:
                os.mkdir(p, 0o700)
            except FileExistsError:
                pass
    except OSError:
        return None  # read-only home, full disk: no cache, no complaint
    why = problem(path)
    return path if why is None else refuse(path, why)


_session = None


def code_dir():
    """Where numba may keep kkpy's compiled code: the private ``numba`` folder,
    else a private temporary folder for this process only (removed at exit), else None.

    numba can only compile a function marked ``cache=True`` if some folder
    takes its cache files; this keeps them out of kkpy's installed package.
    """
    global _session
    path = private_dir("numba")
    if path is not None:
        return path
    with _lock:
        if _session is None:
            _session = ""
            try:
                tmp = tempfile.mkdtemp(prefix="kkpy-")
            except OSError:
                return None
            if problem(tmp) is None:
                _session = tmp
                atexit.register(shutil.rmtree, tmp, True)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return _session or None


def _code_files(root):
    """kkpy's compiled-code files in ``root``: its drivers and numba's files of kkpy's functions."""
    found = []
    drivers, numba_dir = os.path.join(root, "drivers"), os.path.join(root, "numba")
    for folder, keep in [(drivers, lambda n: n.startswith("kkdrv_")),
                         (numba_dir, lambda n: n.startswith("sources-") and n.endswith(".stamp"))]:
        with contextlib.suppress(OSError), os.scandir(folder) as it:
            found += [e.path for e in it if e.is_file(follow_symlinks=False) and keep(e.name)]
    with contextlib.suppress(OSError), os.scandir(numba_dir) as it:
        for d in it:
            if d.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError), os.scandir(d.path) as files:
                    found += [f.path for f in files if f.is_file(follow_symlinks=False)
                              and f.name.endswith((".nbi", ".nbc"))]
    return found


def code_usage(clear=False):
    """``(files, bytes)`` of compiled code kkpy keeps in its private directory; ``clear`` removes them."""
    root = private_dir()
    files, size = 0, 0
    for path in _code_files(root) if root else []:
        with contextlib.suppress(OSError):
            size += os.lstat(path).st_size
            files += 1
            if clear:
                os.remove(path)
    return files, size
