"""Every public sparse entry refuses a bad structure or an aliased output with a clean error.

Issue 15, findings 4 and 5: out-of-range indices and broken row maps used
to crash the process (or raise SystemError), a CrsMatrix changed after
construction too, and ``spmv(1.0, A, x, 0.0, x)`` gave a wrong answer.
The crash-prone cases run in one child interpreter
(``_validation_cases.py``), so a crash fails those cases, not the suite.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import kkpy
from kkpy import sparse
from kkpy.sparse import CrsMatrix, spmv

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import _validation_cases as cases  # noqa: E402


@pytest.fixture(scope="module")
def outcomes():
    """``{case: outcome}`` from one child run of every crash-prone case."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, os.path.join(_HERE, "_validation_cases.py")],
                          capture_output=True, text=True, env=env, timeout=600)
    got = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    got["_returncode"] = done.returncode
    got["_stderr"] = done.stderr[-2000:]
    return got


@pytest.mark.parametrize("case", cases.cases() + ["mutated_crs"])
def test_bad_structure_is_a_clean_value_error(outcomes, case):
    outcome = outcomes.get(case)
    assert outcome is not None, (f"{case} was not reached: the child exited with "
                                 f"{outcomes['_returncode']}\n{outcomes['_stderr']}")
    assert outcome.startswith("ValueError: "), outcome
    assert "\n" not in outcome


def test_the_child_survives_every_case(outcomes):
    assert outcomes["_returncode"] == 0, outcomes["_stderr"]


def test_messages_name_the_fault():
    S = cases.out_of_range()
    with pytest.raises(ValueError, match=r"spgemm: B's column indices must lie in \[0, 6\), "
                                         r"but entries\[\d+\] = 2000000000"):
        sparse.spgemm(cases._good(), S)
    with pytest.raises(ValueError, match="row_map must be non-decreasing"):
        sparse.transpose(cases.decreasing_indptr())


def test_index_arrays_refuse_in_place_changes():
    A = CrsMatrix([1.0, 2.0], [0, 1], [0, 1, 2], 2)
    for change in (lambda: A.entries.__setitem__(0, 10**9),
                   lambda: A.row_map.__setitem__(slice(None), 0),
                   lambda: A.entries.fill(7),
                   lambda: np.add(A.entries, 5, out=A.entries)):
        with pytest.raises(ValueError, match="read-only"):
            change()
    with pytest.raises(ValueError, match="read-only"):
        A.entries += 1
    assert A.entries.tolist() == [0, 1] and A.row_map.tolist() == [0, 1, 2]
    A.values[0] = 5.0  # values are free to change
    assert A.toarray()[0, 0] == 5.0
    B = A.entries + 1  # arithmetic gives a plain, writable array
    B[0] = 3
    assert B.tolist() == [3, 2]


def test_a_replaced_array_is_checked_again():
    A = CrsMatrix([1.0, 2.0], [0, 1], [0, 1, 2], 2)
    A.entries = np.array([0, 9])
    with pytest.raises(ValueError, match="column indices"):
        spmv(1.0, A, np.ones(2), 0.0, np.zeros(2))


def test_owned_arrays_are_checked_once(monkeypatch):
    from kkpy.sparse import _validate

    S = cases._good()
    owned = CrsMatrix.from_scipy(S).copy()
    shared = CrsMatrix(S.data, S.indices, S.indptr, S.shape[1])
    calls = []
    real = _validate.structure
    monkeypatch.setattr(_validate, "structure", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    y = np.zeros(S.shape[0])
    for _ in range(3):
        spmv(1.0, owned, np.ones(S.shape[1]), 0.0, y)
    assert calls == []
    for _ in range(3):
        spmv(1.0, shared, np.ones(S.shape[1]), 0.0, y)
    assert len(calls) == 3  # the caller may change S's arrays between calls
    assert sparse.spgemm(owned, owned)._trusted  # results are kkpy's own


@pytest.mark.parametrize("mode", ["N", "T"])
def test_spmv_refuses_y_aliasing_x(mode):
    A = sp.csr_array(np.array([[1.0, 2.0], [3.0, 4.0]]))
    x = np.array([1.0, 1.0])
    with pytest.raises(ValueError, match="y shares memory with x"):
        spmv(1.0, A, x, 0.0, x, mode=mode)
    assert x.tolist() == [1.0, 1.0]  # untouched


def test_spmv_refuses_partly_overlapping_views():
    A = sp.eye(4, format="csr")
    buf = np.ones(5)
    with pytest.raises(ValueError, match="shares memory"):
        spmv(1.0, A, buf[:4], 0.0, buf[1:])
    M = np.ones((4, 2))  # interleaved columns do not overlap: allowed
    spmv(2.0, A, M[:, 0], 0.0, M[:, 1])
    assert M[:, 1].tolist() == [2.0] * 4


def test_spmv_refuses_y_aliasing_the_matrix():
    A = CrsMatrix(np.ones(2), [0, 1], [0, 1, 2], 2)
    with pytest.raises(ValueError, match="y shares memory with values"):
        spmv(1.0, A, np.ones(2), 0.0, A.values)


def test_unsafe_skip_validation_skips_the_check(monkeypatch):
    from kkpy.sparse import _validate

    S = cases._good()
    shared = CrsMatrix(S.data, S.indices, S.indptr, S.shape[1])
    monkeypatch.setattr(_validate, "structure", lambda *a, **k: pytest.fail("checked"))
    y = np.zeros(S.shape[0])
    with sparse.unsafe_skip_validation():
        spmv(1.0, shared, np.ones(S.shape[1]), 0.0, y)
    np.testing.assert_allclose(y, S @ np.ones(S.shape[1]))


def test_validation_runs_on_any_host_space():
    S = cases.out_of_range()
    with pytest.raises(ValueError, match="column indices"):
        sparse.spmv(1.0, S, np.ones(6), 0.0, np.zeros(6), space=kkpy.Serial())
