"""What the second pass, as an attacker and a careless user, found (issue 15, "done when").

Each was a crash, a wrong answer or a misleading message before its fix.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import kkpy
from kkpy.sparse import CrsMatrix, spmv, transpose
from kkpy.sparse.io import ParseError, read_tsv, write_mtx


@kkpy.kernel(boundscheck=True)
def fill_checked(i, a):
    a[i] = 1.0


@pytest.mark.parametrize("space", [kkpy.Serial(), kkpy.Threads()], ids=["Serial", "Threads"])
def test_a_bounds_checked_kernel_raises_instead_of_writing_past_the_array(space):
    # Unchecked, this wrote past the end of a (a segfault); Kokkos's debug bounds
    # check is kernel(boundscheck=True) here, and it must raise on every space.
    a = np.zeros(5)
    with pytest.raises(IndexError):
        kkpy.parallel_for(kkpy.RangePolicy(space, 0, 10), fill_checked, a)
    kkpy.parallel_for(kkpy.RangePolicy(space, 0, 5), fill_checked, a)
    assert a.tolist() == [1.0] * 5


def test_scipy_canonicalising_its_copy_leaves_the_matrix_alone():
    A = CrsMatrix(np.array([1.0, 1.0], np.float32), [0, 0], [0, 2], 1)
    S = A.to_scipy()
    abs(S)  # scipy sums S's repeated entries in place
    assert A.nnz == 2 and np.asarray(A.row_map).tolist() == [0, 2]
    assert (A / 2).toarray().tolist() == [[1.0]]


def test_read_only_y_is_refused_before_the_kernel():
    A = CrsMatrix(np.ones(1), [0], [0, 1], 2)
    y = np.zeros(1)
    y.flags.writeable = False
    with pytest.raises(ValueError, match="y is read-only"):
        spmv(1.0, A, np.ones(2), 0.0, y)


def test_uint64_offsets_beyond_int64_are_refused_not_wrapped():
    with pytest.raises(ValueError, match="beyond the int64 index range"):
        CrsMatrix(np.ones(1), np.array([0], np.uint64), np.array([0, 2**63], np.uint64), 2)


def test_transpose_of_a_very_wide_matrix_is_too_large_not_a_numpy_error(monkeypatch):
    from kkpy.sparse import _validate

    monkeypatch.setattr(_validate, "available_bytes", lambda: 4 << 30)
    with pytest.raises(MemoryError, match="transpose of a 1 x 1099511627776 matrix: too large"):
        transpose(CrsMatrix(np.ones(1), [0], [0, 1], 2**40))


def test_writing_over_a_directory_names_the_directory(tmp_path):
    with pytest.raises(IsADirectoryError) as info:
        write_mtx(tmp_path, sp.eye(2, format="csr"))
    assert info.value.filename == str(tmp_path)
    assert list(tmp_path.iterdir()) == [] and list(tmp_path.parent.glob(".*.tmp")) == []


@pytest.mark.parametrize("line, which", [("0\t1\t1\n", "row"), ("1\t0\t1\n", "column")])
def test_a_zero_index_says_indices_are_one_based(tmp_path, line, which):
    p = tmp_path / "z.tsv"
    p.write_text(line)
    with pytest.raises(ParseError, match=f"{which} index 0 is below 1 \\(indices are 1-based\\)"):
        read_tsv(p)
