"""Sphinx configuration of the kkpy documentation.

Build (warnings are errors, as in the test suite)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The examples in the guides are doctests: ``python -m pytest tests/test_docs.py``
builds the docs and runs them.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Document the checkout these docs belong to, installed or not.
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import kkpy  # noqa: E402

project = "kkpy"
author = "the kkpy developers"
copyright = "the kkpy developers, BSD-3-Clause"  # noqa: A001  (Sphinx's name)
release = kkpy.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinxarg.ext",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# performance.md is the lead's table of figures; performance.rst includes it.
exclude_patterns = ["_build", "_generated/*.md", "performance.md", "README.md"]
templates_path = []

# No network: intersphinx stays off, so references to numpy, scipy or the
# standard library are plain text, and everything kkpy names must resolve.
nitpicky = True
nitpick_ignore_regex = [
    # Types written in prose in numpydoc "Parameters" sections and signatures.
    (r"py:class", r"(numpy|np|scipy|mpi4py|numba)(\..*)?"),
    (r"py:class", r"(int|float|bool|str|tuple|list|dict|callable|None|optional|"
                  r"array_like|scalar|object|type|bytes|function)"),
    # Private helpers that public docstrings mention by name.
    (r"py:func", r"block_permutation"),
]

# kkpy.Cuda needs numba-cuda (the gpu extra); without it, document the class
# from a stand-in numba.cuda instead of failing the build.
import importlib.util  # noqa: E402

if importlib.util.find_spec("numba_cuda") is None:
    autodoc_mock_imports = ["numba.cuda"]

autodoc_typehints = "none"          # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
autosummary_generate = False        # tables only; every entry is documented on its page

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

html_theme = "alabaster"
html_title = f"kkpy {release}"
html_theme_options = {
    "description": "Kokkos and Kokkos Kernels' sparse module on numba",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_static_path = []
html_show_sourcelink = False


def _make_plots(app):
    """Regenerate the performance plots from figures.json before reading the sources."""
    import plots

    plots.main(os.path.join(HERE, "_generated"))


def _constant_doc(app, what, name, obj, options, lines):
    """Give a re-exported constant (``kkpy.Sum``) the ``#:`` comment where it is defined.

    autodoc reads such comments only in the module it documents, and the
    public modules import their constants from private ones.
    """
    if what != "data":
        return
    from sphinx.pycode import ModuleAnalyzer

    attr = name.rpartition(".")[2]
    for module in sorted(m for m in sys.modules if m.startswith("kkpy.")):
        try:
            docs = ModuleAnalyzer.for_module(module).find_attr_docs()
        except Exception:  # noqa: BLE001  (modules without source)
            continue
        if ("", attr) in docs and getattr(sys.modules[module], attr, None) is obj:
            lines[:] = list(docs[("", attr)])
            return


def setup(app):
    app.connect("builder-inited", _make_plots)
    app.connect("autodoc-process-docstring", _constant_doc)
