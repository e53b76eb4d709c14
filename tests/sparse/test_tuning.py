"""Every tuning threshold of kkpy.sparse (host and GPU) lives in ``kkpy.sparse._tuning``.

Read from the sources with ``ast``: a module-level UPPERCASE name bound to a
number (a literal, arithmetic on literals, or a numpy scalar of one, such as
``np.uint64(4)``) anywhere else in ``kkpy/sparse`` (outside ``io``) is a
threshold hiding from the tuning module.
"""
import ast
import pathlib

import pytest

import kkpy.sparse
from kkpy.sparse import _tuning

SPARSE = pathlib.Path(kkpy.sparse.__file__).parent
SKIPPED = ("io",)

# Numeric constants that are not tuning: bit tricks and hash mixers, whose
# values are fixed by the arithmetic they serve, not by a measurement.
NOT_TUNING = {
    ("host/_accumulators.py", name) for name in
    ("_FIB", "_ONE", "_TWO", "_THREE", "_FOUR", "_SIX", "_LOW6")
} | {
    ("impl/_fingerprint_kernels.py", name) for name in ("_GOLDEN", "_MIX1", "_MIX2")
} | {
    ("cuda/_ops.py", "_HASH"),      # a hash multiplier
    ("cuda/_ops.py", "_EMPTY"),     # an empty slot's marker
    ("cuda/_chain.py", "_LANES"),   # the warp size: hardware, not a choice
    ("cuda/_load.py", "_LANES"),
}


def _numeric(node):
    """Whether ``node`` computes a number from literals alone."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _numeric(node.operand)
    if isinstance(node, ast.BinOp):
        return _numeric(node.left) and _numeric(node.right)
    if isinstance(node, ast.Call):  # np.uint64(4), float(1 / 64)
        return len(node.args) == 1 and not node.keywords and _numeric(node.args[0])
    return False


def _sources():
    for path in sorted(SPARSE.rglob("*.py")):
        rel = path.relative_to(SPARSE)
        if rel.parts[0] in SKIPPED or rel.name == "_tuning.py":
            continue
        yield rel.as_posix(), ast.parse(path.read_text(), str(path))


def _constants(tree):
    for stmt in tree.body:
        targets = (stmt.targets if isinstance(stmt, ast.Assign)
                   else [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value
                   else [])
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper() and _numeric(stmt.value):
                yield target.id


def test_no_threshold_outside_the_tuning_module():
    found = {(rel, name) for rel, tree in _sources() for name in _constants(tree)}
    assert found - NOT_TUNING == set()
    assert NOT_TUNING <= found, "stale allow-list entries: " + repr(NOT_TUNING - found)


def test_the_scan_sees_a_hidden_threshold():
    tree = ast.parse("A = 1 << 14\nB = np.uint64(4)\nC = -1 / 64\nD = n // 2\nE = 'x'\n"
                     "f = 3\n")
    assert list(_constants(tree)) == ["A", "B", "C"]


def test_every_tuning_constant_is_a_number_with_a_comment():
    source = (SPARSE / "_tuning.py").read_text().splitlines()
    names = [n for n in vars(_tuning) if n.isupper()]
    assert names
    for name in names:
        assert isinstance(getattr(_tuning, name), (int, float)), name
        line = next(i for i, text in enumerate(source) if text.startswith(f"{name} = "))
        assert source[line - 1].startswith("#: "), f"{name} has no comment saying why"


@pytest.mark.parametrize("module", ["kkpy.sparse._staged", "kkpy.sparse._accumulate",
                                    "kkpy.sparse._spgemm"])
def test_host_modules_read_the_tuning_module_not_a_copy(module):
    # A copy (``from ._tuning import X``) in host Python code would not see a
    # patched or retuned value: those modules hold the module itself.
    import importlib

    mod = importlib.import_module(module)
    assert mod._tuning is _tuning
    assert not [n for n in vars(mod) if n.isupper() and hasattr(_tuning, n)]
