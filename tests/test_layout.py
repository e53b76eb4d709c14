"""The package layout's rules, read from the source's import statements.

- Backends live in their own packages (``kkpy/core/host``, ``kkpy/core/cuda``)
  and no other core module imports the Cuda one: the core reaches backends
  through the registry only, so it runs where numba-cuda is absent.
- kkpy.sparse's kernels sit by backend: ``impl`` (portable kkpy kernels,
  which both backends launch) imports neither ``host`` nor ``cuda``, and
  ``host`` and ``cuda`` do not import each other.
- ``kkpy.core``, ``kkpy.dnn`` and ``kkpy.sparse`` have no import cycle.
- Other packages use the core and kkpy.sparse through their faces
  (``kkpy.core``, ``kkpy.core.extending``, ``kkpy.core.cuda``; ``kkpy.sparse``,
  ``kkpy.sparse.io``, ``kkpy.sparse.epilogues``, ``kkpy.sparse.extending``),
  never their private modules.
- Every package has a face with ``__all__``.

Imports inside functions count: they are edges of the graph all the same.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "kkpy"
FACES = {"kkpy.core": {"kkpy.core", "kkpy.core.extending", "kkpy.core.cuda"},
         "kkpy.sparse": {"kkpy.sparse", "kkpy.sparse.io", "kkpy.sparse.epilogues",
                         "kkpy.sparse.extending"}}


def _modules():
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _imports(name, path):
    """Modules of kkpy that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(nodes):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v] & nodes:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def test_backends_have_their_own_packages():
    assert (ROOT / "core" / "host" / "__init__.py").is_file()
    assert (ROOT / "core" / "cuda" / "__init__.py").is_file()


@pytest.mark.parametrize("folder, banned", [("impl", ("host", "cuda")), ("host", ("cuda",)),
                                            ("cuda", ("host",))])
def test_sparse_kernel_folders_keep_to_their_backend(folder, banned):
    assert (ROOT / "sparse" / folder / "__init__.py").is_file()
    prefix = f"kkpy.sparse.{folder}"
    offenders = {name: sorted(m for m in deps
                              if any(m.startswith(f"kkpy.sparse.{b}") for b in banned))
                 for name, deps in GRAPH.items() if name.startswith(prefix)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_core_module_outside_cuda_imports_it():
    offenders = {name: sorted(m for m in deps if m.startswith("kkpy.core.cuda"))
                 for name, deps in GRAPH.items()
                 if name.startswith("kkpy.core") and not name.startswith("kkpy.core.cuda")}
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("package", ["kkpy.core", "kkpy.dnn", "kkpy.sparse"])
def test_package_has_no_import_cycle(package):
    inside = {m for m in GRAPH if m == package or m.startswith(package + ".")}
    assert _cycles(inside) == []


@pytest.mark.parametrize("package", sorted(FACES))
def test_other_packages_use_a_package_through_its_faces(package):
    inside = lambda m: m == package or m.startswith(package + ".")  # noqa: E731
    private = {name: sorted(m for m in deps if inside(m) and m not in FACES[package])
               for name, deps in GRAPH.items() if not inside(name) and name != "kkpy"}
    assert {k: v for k, v in private.items() if v} == {}


@pytest.mark.parametrize("face", sorted(m for m, p in MODULES.items()
                                        if p.name == "__init__.py" and "._" not in m
                                        and not m.endswith(".data")))
def test_every_package_face_has_all(face):
    tree = ast.parse(MODULES[face].read_text())
    names = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
             if isinstance(t, ast.Name)}
    assert "__all__" in names, face
