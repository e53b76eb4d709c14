"""BinSort, BinOp1D, BinOp3D and sort against numpy, on every space.

References: the bins are ``floor((x - min) * nbins / (max - min))`` clamped
into ``[0, nbins - 1]``, computed in numpy; with ``sort_within_bins`` the
permutation is numpy's stable argsort (``np.lexsort`` of the coordinates for
BinOp3D's points).  Without it, the order within a bin is
unspecified on parallel spaces, so only the bin property is checked.  The
``cuda`` cases run on a GPU, or in a child process under numba's simulator.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kkpy
from kkpy.core._cuda_testing import cuda_test_mode, make_space, simulator_rerun, space_params

test_module_passes_under_the_simulator = simulator_rerun(__file__)
SPACES = pytest.mark.parametrize("name", space_params())
# The simulator child runs only the cuda space's examples, a Python thread per
# GPU thread: fewer there (the host spaces take the full count in the parent).
FEW = settings(max_examples=6 if cuda_test_mode() == "sim" else 15, deadline=None)


def put(space, a):
    a = np.array(a)
    if space.memory_space == kkpy.CudaSpace:
        return kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, a)
    return a


def get(v):
    return np.array(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, v))


def ref_bins(keys, nbins, lo, hi):
    keys = np.asarray(keys, dtype=np.float64)
    if hi > lo:
        with np.errstate(invalid="ignore"):
            b = np.floor((keys - lo) * (nbins / (hi - lo)))
        b = np.where(keys >= hi, nbins - 1, b)
    else:
        b = np.where(keys > lo, nbins - 1, 0)
    return np.clip(np.where(keys > lo, b, 0), 0, nbins - 1).astype(np.int64)


def keys_strategy():
    ints = hnp.arrays(np.int64, st.integers(0, 40), elements=st.integers(-50, 50))
    floats = hnp.arrays(np.float64, st.integers(0, 40),
                        elements=st.floats(-100, 100, allow_nan=False))
    return st.one_of(ints, floats)


@st.composite
def problems(draw):
    keys = draw(keys_strategy())
    nbins = draw(st.integers(1, 12))
    a = draw(st.integers(-60, 60))
    lo, hi = a, a + draw(st.integers(0, 80))  # partly outside the keys: clamping
    if keys.dtype.kind == "f":
        lo, hi = float(lo) + 0.5, float(hi) + 0.5
    return keys, nbins, lo, hi


def binned(space, keys, op, within, bins):
    """Bin ``keys`` on ``space``; check the permutation and counts against numpy's
    ``bins``; return the BinSort, its permutation and counts on the host."""
    bs = kkpy.BinSort(space, put(space, keys), op, within)
    bs.create_permute_vector()
    perm, counts = get(bs.get_permute_vector()), get(bs.get_bin_count())
    assert sorted(perm.tolist()) == list(range(len(keys)))  # a permutation
    assert np.all(np.diff(bins[perm]) >= 0)  # binned keys in bin order
    assert counts.tolist() == np.bincount(bins, minlength=op.max_bins()).tolist()
    return bs, perm, counts


@SPACES
@FEW
@given(problems(), st.booleans())
def test_bins_counts_and_permutation(name, problem, within):
    space = make_space(name)
    keys, nbins, lo, hi = problem
    bins = ref_bins(keys, nbins, lo, hi)
    bs, perm, counts = binned(space, keys, kkpy.BinOp1D(nbins, lo, hi), within, bins)
    offsets = get(bs.get_bin_offsets())
    assert offsets.tolist() == (np.cumsum(counts) - counts).tolist()
    if within:
        assert perm.tolist() == np.argsort(keys, kind="stable").tolist()
    op = kkpy.BinOp1D(nbins, lo, hi)
    assert [op.bin(keys, i) for i in range(len(keys))] == bins.tolist()


@SPACES
@FEW
@given(problems())
def test_sort_values_matches_numpy(name, problem):
    space = make_space(name)
    keys, nbins, lo, hi = problem
    n = len(keys)
    values = np.arange(n) * 10 + 3
    table = np.stack([values, -values], axis=1).astype(np.float64)
    bs = kkpy.BinSort(space, put(space, keys), kkpy.BinOp1D(nbins, lo, hi),
                      sort_within_bins=True)
    bs.create_permute_vector()
    order = np.argsort(keys, kind="stable")
    v, t, k = put(space, values), put(space, table), put(space, keys)
    bs.sort(v)
    bs.sort(t)
    bs.sort(k)  # the keys themselves
    assert get(v).tolist() == values[order].tolist()
    assert get(t).tolist() == table[order].tolist()
    assert get(k).tolist() == np.sort(keys, kind="stable").tolist()


@SPACES
@FEW
@given(keys_strategy())
def test_kokkos_sort(name, keys):
    space = make_space(name)
    v = put(space, keys)
    kkpy.sort(space, v)
    assert get(v).tolist() == np.sort(keys).tolist()


@SPACES
def test_key_and_value_ranges(name):
    space = make_space(name)
    keys = np.array([9.0, 3.0, 1.0, 2.0, 0.5, 7.0])
    bs = kkpy.BinSort(space, put(space, keys), 1, 5, kkpy.BinOp1D(4, 0.0, 4.0), True)
    bs.create_permute_vector()
    assert get(bs.get_permute_vector()).tolist() == [4, 2, 3, 1]  # absolute indices
    vals = put(space, np.array([-1, -2, 30, 10, 20, 5, -3]))
    bs.sort(vals, 2, 6)  # values [2, 6) take the order of keys [1, 5)
    assert get(vals).tolist() == [-1, -2, 5, 10, 20, 30, -3]


@SPACES
@pytest.mark.parametrize("distinct", [1, 3, 50])
def test_a_crowded_bin_is_sorted_stably(name, distinct):
    """Thousands of keys in a few bins take the heapsort path (beyond the
    insertion sort's cut-off) and still give numpy's stable argsort."""
    space = make_space(name)
    rng = np.random.default_rng(distinct)
    keys = rng.integers(0, distinct, 3000).astype(np.float64)
    bs = kkpy.BinSort(space, put(space, keys), kkpy.BinOp1D(2, 0.0, float(distinct)), True)
    bs.create_permute_vector()
    assert get(bs.get_permute_vector()).tolist() == np.argsort(keys, kind="stable").tolist()
    v = put(space, keys)
    kkpy.sort(space, v)
    assert get(v).tolist() == np.sort(keys).tolist()


def ref_bins3(points, nbins, lo, hi):
    """Row-major bin of each point: numpy's 1-D bins along each axis."""
    b = np.zeros(len(points), np.int64)
    for d in range(3):
        b = b * nbins[d] + ref_bins(points[:, d], nbins[d], lo[d], hi[d])
    return b


@st.composite
def point_problems(draw):
    n = draw(st.integers(0, 40))
    # few distinct coordinates: ties along the first axes test the later ones
    points = draw(hnp.arrays(np.float64, (n, 3), elements=st.sampled_from(
        [-3.0, -1.0, 0.0, 0.25, 1.0, 2.5, 4.0, 7.0])))
    nbins = tuple(draw(st.integers(1, 4)) for _ in range(3))
    lo = tuple(draw(st.sampled_from([-2.0, 0.0, 1.0])) for _ in range(3))
    hi = tuple(b + draw(st.sampled_from([0.0, 3.0, 6.0])) for b in lo)
    return points, nbins, lo, hi


@SPACES
@FEW
@given(point_problems(), st.booleans())
def test_binop3d_bins_and_sorts_points(name, problem, within):
    space = make_space(name)
    points, nbins, lo, hi = problem
    op = kkpy.BinOp3D(nbins, lo, hi)
    assert op.max_bins() == int(np.prod(nbins))
    bins = ref_bins3(points, nbins, lo, hi)
    assert [op.bin(points, i) for i in range(len(points))] == bins.tolist()
    bs, perm, _ = binned(space, points, op, within, bins)
    if within:
        # by bin, then by coordinates in turn, then by index
        order = np.lexsort((np.arange(len(points)), points[:, 2], points[:, 1], points[:, 0],
                            bins))
        assert perm.tolist() == order.tolist()
        v = put(space, points)
        bs.sort(v)
        assert get(v).tolist() == points[order].tolist()


def test_binop3d_compares_points_as_kokkos():
    op = kkpy.BinOp3D((1, 1, 1), (0, 0, 0), (1, 1, 1))
    p = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 4.0], [0.0, 9.0, 9.0], [1.0, 2.0, 3.0]])
    assert op(p, 0, 1) and not op(p, 1, 0) and op(p, 2, 0) and not op(p, 0, 3)


def test_empty_single_bin_and_default_space():
    bs = kkpy.BinSort(np.zeros(0), kkpy.BinOp1D(3, 0, 1))
    bs.create_permute_vector()
    assert get(bs.get_permute_vector()).tolist() == []
    assert get(bs.get_bin_count()).tolist() == [0, 0, 0]
    keys = np.array([3, 1, 2, 1])
    bs = kkpy.BinSort(keys, kkpy.BinOp1D(1, 0, 10), True)
    bs.create_permute_vector()
    assert get(bs.get_permute_vector()).tolist() == [1, 3, 2, 0]
    assert get(bs.get_bin_count()).tolist() == [4]
    # max == min: at or below it in bin 0, above it in the last bin
    bs = kkpy.BinSort(kkpy.Serial(), np.array([5, 4, 6, 5]), kkpy.BinOp1D(3, 5, 5))
    bs.create_permute_vector()
    assert get(bs.get_bin_count()).tolist() == [3, 0, 1]
    one = np.array([2.0])
    kkpy.sort(one)
    assert one.tolist() == [2.0]


def test_serial_keeps_index_order_within_bins():
    keys = np.array([3.0, 0.1, 3.5, 0.9, 0.2])
    bs = kkpy.BinSort(kkpy.Serial(), keys, kkpy.BinOp1D(2, 0.0, 4.0))
    bs.create_permute_vector()
    assert get(bs.get_permute_vector()).tolist() == [1, 3, 4, 0, 2]


@pytest.mark.parametrize("make, message", [
    (lambda: kkpy.BinOp1D(0, 0.0, 1.0), "nbins must be at least 1"),
    (lambda: kkpy.BinOp1D(2, 1.0, 0.0), "is below min"),
    (lambda: kkpy.BinOp1D(2.5, 0.0, 1.0), "nbins must be an int"),
    (lambda: kkpy.BinOp1D(2, 0.0, np.inf), "must be finite"),
    (lambda: kkpy.BinSort(np.zeros(3)), "binop a kkpy.BinOp1D"),
    (lambda: kkpy.BinOp3D((2, 2), (0, 0), (1, 1)), "three values"),
    (lambda: kkpy.BinOp3D((2, 0, 2), (0, 0, 0), (1, 1, 1)), "(axis 1): nbins must be at least 1"),
    (lambda: kkpy.BinOp3D((2, 2, 2), (0, 0, 2), (1, 1, 1)), "(axis 2): max (1) is below min"),
    (lambda: kkpy.BinSort(np.zeros(3), kkpy.BinOp3D((2, 2, 2), (0, 0, 0), (1, 1, 1))),
     "shape (n, 3)"),
    (lambda: kkpy.BinSort(np.zeros((2, 2)), kkpy.BinOp1D(2, 0, 1)), "rank-1"),
    (lambda: kkpy.BinSort(np.zeros(3, bool), kkpy.BinOp1D(2, 0, 1)), "integers or floats"),
    (lambda: kkpy.BinSort(np.zeros(3), 2, 5, kkpy.BinOp1D(2, 0, 1)), "not within"),
    (lambda: kkpy.BinSort(np.zeros(3), kkpy.BinOp1D(2, 0, 1)).get_permute_vector(),
     "create_permute_vector() first"),
    (lambda: kkpy.sort(np.zeros((2, 2))), "rank 1"),
])
def test_bad_arguments_raise_one_line(make, message):
    with pytest.raises((ValueError, TypeError, RuntimeError)) as info:
        make()
    text = str(info.value)
    assert message in text and "\n" not in text


def test_mismatched_values_length_raises_one_line():
    bs = kkpy.BinSort(kkpy.Serial(), np.arange(4.0), kkpy.BinOp1D(2, 0, 4))
    bs.create_permute_vector()
    for values, args in [(np.zeros(3), ()), (np.zeros(6), (1, 4)), (np.zeros(4), (2, 6))]:
        with pytest.raises(ValueError) as info:
            bs.sort(values, *args)
        assert "\n" not in str(info.value)
