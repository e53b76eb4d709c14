"""kkpy's benchmarks (asv suite and stand-alone scripts).

asv imports this package before any benchmark, and asv drops
``PYTHONPATH``: with ``environment_type: existing`` the ``kkpy`` it imports
is whatever the environment has installed, which may be another checkout
(an editable install of a second worktree measured as the first).  So the
import below refuses to go on unless the ``kkpy`` it finds has the same
sources as the checkout these benchmarks belong to.
"""
import hashlib
import os

_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sources_digest(package_dir):
    """A digest of the package's ``.py`` files (paths and contents)."""
    h = hashlib.sha1()
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                h.update(os.path.relpath(path, package_dir).encode() + b"\0" + fh.read())
    return h.hexdigest()


def check_kkpy_is_this_checkout():
    """Raise ImportError unless ``import kkpy`` gives this checkout's kkpy.

    The same directory passes at once; another one (an installed copy) passes
    when its sources are identical to this checkout's.
    """
    import kkpy

    imported = os.path.dirname(os.path.abspath(kkpy.__file__))
    mine = os.path.join(_CHECKOUT, "kkpy")
    if os.path.realpath(imported) == os.path.realpath(mine):
        return
    if _sources_digest(imported) != _sources_digest(mine):
        raise ImportError(
            f"benchmarks of {_CHECKOUT} would measure the kkpy in {imported}, whose sources "
            f"differ: install this checkout into the environment first "
            f"(pip install -e {_CHECKOUT}), then run the benchmarks again")


check_kkpy_is_this_checkout()
