"""The documentation: it builds without a warning, its examples run, and it covers the API.

The Sphinx build (``-W``: warnings are errors) runs in a child process,
started by the first test that asks for it, while the guides' examples run
here as doctests: the two then share the machine's cores instead of taking
turns.
"""
import doctest
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.rst"))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: What ``conf.py`` loads: the ``docs`` extra.
BUILD_NEEDS = ("sphinx", "numpydoc", "myst_parser", "sphinxarg", "matplotlib")


@pytest.fixture(scope="module")
def sphinx_build(tmp_path_factory):
    """The running (or finished) HTML build, or None if the docs extra is missing."""
    if any(importlib.util.find_spec(m) is None for m in BUILD_NEEDS):
        yield None
        return
    out = tmp_path_factory.mktemp("html")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / ".doctrees"), str(DOCS), str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield proc, out
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def run_doctests(text, name, monkeypatch, tmp_path):
    """Run the ``>>>`` examples of ``text`` in a fresh namespace, in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    test = doctest.DocTestParser().get_doctest(text, {}, name, name, 0)
    assert test.examples, f"{name} has no examples"
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)


@pytest.mark.parametrize("page", [p.name for p in PAGES if ">>>" in p.read_text()])
def test_guide_examples_run(page, sphinx_build, monkeypatch, tmp_path):
    run_doctests((DOCS / page).read_text(), page, monkeypatch, tmp_path)


def test_readme_examples_run(monkeypatch, tmp_path):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3, "the README shows the core, sparse and dnn APIs"
    run_doctests("\n".join(blocks), "README.md", monkeypatch, tmp_path)
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), f"README links to a missing {link}"


def _documented():
    """Fully qualified names that the API pages document with an ``auto*`` directive."""
    names = set()
    for page in (DOCS / "api").glob("*.rst"):
        module = None
        for line in page.read_text().splitlines():
            m = re.match(r"\.\. (currentmodule|automodule):: (\S+)", line)
            if m:
                module = m.group(2)
                continue
            m = re.match(r"\.\. auto(?:class|function|data|exception):: (\S+)", line)
            if m:
                names.add(f"{module}.{m.group(1)}")
    return names


@pytest.mark.parametrize("module", ["kkpy", "kkpy.sparse", "kkpy.sparse.io",
                                    "kkpy.sparse.epilogues", "kkpy.dnn", "kkpy.profiling"])
def test_api_reference_covers_every_public_name(module):
    mod = importlib.import_module(module)
    public = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
    # Submodules have pages of their own; kkpy.profiling.Timer is kkpy.Timer.
    public = {n for n in public
              if not isinstance(getattr(mod, n), type(mod)) and not (
                  module == "kkpy.profiling" and n == "Timer")}
    missing = sorted(n for n in public if f"{module}.{n}" not in _documented())
    assert not missing, f"not in docs/api: {', '.join(missing)}"


def test_docs_build_without_warnings(sphinx_build):
    if sphinx_build is None:
        pytest.skip("the docs extra is not installed: pip install -e '.[docs]' "
                    f"(needs {', '.join(BUILD_NEEDS)})")
    proc, out = sphinx_build
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log
    for page in ("index", "quickstart", "programming-model", "sparse", "dnn", "perf",
                 "coming-from", "api/kkpy"):
        assert (out / f"{page}.html").is_file(), f"{page}.html was not built"
    assert list((out / "_images").glob("perf-*.png")), "the performance plots are missing"
