"""Views: labelled arrays that behave like numpy arrays and survive copies."""
import pickle

import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import kkpy
from core_kernels import scaled_copy, visit2

LAYOUTS = [kkpy.LayoutRight, kkpy.LayoutLeft]
DTYPES = [np.int32, np.int64, np.float32, np.float64]

shapes = st.integers(1, 8).flatmap(lambda r: st.tuples(*[st.integers(0, 3)] * r))


def _filled(shape, dtype, layout, label="v"):
    v = kkpy.View(label, shape, dtype=dtype, layout=layout)
    np.asarray(v)[...] = np.arange(v.size, dtype=dtype).reshape(shape)
    return v


@given(shape=shapes, dtype=st.sampled_from(DTYPES), layout=st.sampled_from(LAYOUTS))
@example(shape=(0,), dtype=np.float64, layout=kkpy.LayoutRight)
@example(shape=(1,) * 8, dtype=np.int32, layout=kkpy.LayoutLeft)
def test_new_view_is_zeroed_labelled_and_laid_out(shape, dtype, layout):
    v = kkpy.View("field", shape, dtype=dtype, layout=layout)
    assert v.label == "field" and v.shape == shape and v.dtype == dtype
    assert v.rank() == len(shape) and [v.extent(i) for i in range(len(shape))] == list(shape)
    assert v.layout is layout
    assert not np.asarray(v).any()
    contiguous = "C_CONTIGUOUS" if layout is kkpy.LayoutRight else "F_CONTIGUOUS"
    assert v.flags[contiguous]


@given(shape=shapes, layout=st.sampled_from(LAYOUTS))
def test_asarray_shares_memory(shape, layout):
    v = kkpy.View("v", shape, layout=layout)
    a = np.asarray(v)
    assert type(a) is np.ndarray and (v.size == 0 or np.shares_memory(a, v))
    a[...] = 3.0
    assert (v == 3.0).all()


@given(shape=shapes, dtype=st.sampled_from(DTYPES))
def test_uninitialised_view_has_the_right_form(shape, dtype):
    v = kkpy.View("raw", shape, dtype=dtype, layout=kkpy.LayoutLeft, initialize=False)
    assert v.shape == shape and v.dtype == dtype and v.layout is kkpy.LayoutLeft
    kkpy.deep_copy(v, 5)
    assert (v == 5).all()


@given(shape=shapes, dtype=st.sampled_from(DTYPES), src_layout=st.sampled_from(LAYOUTS),
       dst_layout=st.sampled_from(LAYOUTS))
def test_deep_copy_round_trip_across_layouts(shape, dtype, src_layout, dst_layout):
    src = _filled(shape, dtype, src_layout, "src")
    dst = kkpy.View("dst", shape, dtype=dtype, layout=dst_layout)
    kkpy.deep_copy(dst, src)
    back = np.zeros(shape, dtype)
    kkpy.deep_copy(back, dst)  # numpy arrays are Views too
    assert np.array_equal(back, src) and dst.label == "dst"
    assert dst.layout is dst_layout  # copying values does not change the layout


@given(shape=shapes, layout=st.sampled_from(LAYOUTS))
def test_mirrors(shape, layout):
    v = _filled(shape, np.float64, layout, "data")
    # Already in host memory: the mirror view is the view itself (no copy).
    assert kkpy.create_mirror_view(v) is v
    assert kkpy.create_mirror_view(kkpy.HostSpace, v) is v
    assert kkpy.create_mirror_view(kkpy.Serial(), v) is v
    assert kkpy.create_mirror_view_and_copy(kkpy.HostSpace, v) is v
    # create_mirror always allocates: same form, new memory.
    m = kkpy.create_mirror(kkpy.HostSpace, v)
    assert m.shape == v.shape and m.dtype == v.dtype and m.label == "data"
    assert m.layout is layout and (v.size == 0 or not np.shares_memory(m, v))
    kkpy.deep_copy(m, v)
    assert np.array_equal(m, v)


@st.composite
def sliced(draw):
    shape = draw(st.integers(1, 8).flatmap(lambda r: st.tuples(*[st.integers(1, 4)] * r)))
    idx = []
    for extent in shape[:draw(st.integers(0, len(shape)))]:
        kind = draw(st.sampled_from(["int", "pair", "all", "slice"]))
        if kind == "int":
            idx.append(draw(st.integers(0, extent - 1)))
        elif kind == "pair":
            b = draw(st.integers(0, extent))
            idx.append((b, draw(st.integers(b, extent))))
        elif kind == "all":
            idx.append(kkpy.ALL)
        else:
            idx.append(slice(draw(st.integers(0, extent)), None, draw(st.integers(1, 2))))
    return shape, idx


@given(case=sliced(), layout=st.sampled_from(LAYOUTS))
def test_subview_is_numpy_slicing_and_writes_through(case, layout):
    shape, idx = case
    v = _filled(shape, np.int64, layout, "parent")
    s = kkpy.subview(v, *idx)
    ref = np.asarray(v)[tuple(slice(*i) if isinstance(i, tuple) else i for i in idx)]
    assert np.array_equal(s, ref) and s.label == "parent" and isinstance(s, kkpy.View)
    if s.size:
        np.asarray(s)[...] = -1
        assert (v == -1).sum() == s.size


def test_subview_rejects_too_many_indices():
    with pytest.raises(IndexError, match="rank-2"):
        kkpy.subview(kkpy.View("m", (2, 2)), 0, 0, 0)


def test_kernels_take_views_subviews_and_left_layouts():
    m = kkpy.View("m", (6, 5), dtype=np.int64, layout=kkpy.LayoutLeft)
    kkpy.parallel_for("visit", kkpy.MDRangePolicy(kkpy.Threads(), (0, 0), (6, 5)), visit2, m)
    assert (m == 1).all()
    # A strided subview: writes land in the parent.
    row = kkpy.subview(m, 2, kkpy.ALL)
    assert row.layout is kkpy.LayoutStride
    kkpy.parallel_for("row", kkpy.RangePolicy(kkpy.Threads(), 0, 5), scaled_copy,
                      np.ones(5, np.int64), row, 10)
    assert m[2].tolist() == [10, 11, 12, 13, 14] and m.sum() == 30 - 5 + 60


def test_view_arguments_are_checked():
    with pytest.raises(ValueError, match="rank"):
        kkpy.View("r9", (1,) * 9)
    with pytest.raises(ValueError, match="rank"):
        kkpy.View("r0", ())
    with pytest.raises(ValueError, match="negative"):
        kkpy.View("neg", (2, -1))
    with pytest.raises(TypeError, match="label"):
        kkpy.View(3, 4)
    with pytest.raises(ValueError, match="extents differ"):
        kkpy.deep_copy(kkpy.View("a", 3), kkpy.View("b", 4))


def test_view_pickles_with_its_label():
    v = _filled((2, 3), np.float32, kkpy.LayoutRight, "saved")
    w = pickle.loads(pickle.dumps(v))
    assert isinstance(w, kkpy.View) and w.label == "saved" and np.array_equal(w, v)


def test_view_arithmetic_is_numpy():
    v = _filled((3,), np.float64, kkpy.LayoutRight)
    assert (v * 2 + 1).tolist() == [1.0, 3.0, 5.0]
    assert float(np.dot(v, v)) == 5.0
    # Reductions give scalars, as for plain arrays.
    assert type(v.sum()) is np.float64 and type(np.max(v)) is np.float64


def test_view_takes_kokkos_extents_one_by_one():
    assert kkpy.View("a", 2, 3).shape == (2, 3)
    assert kkpy.View("a", 2, 3, dtype=np.int32).dtype == np.int32
    assert kkpy.View("a", 4, np.int64).dtype == np.int64  # a dtype by position, as before
    assert kkpy.View("a", 2, 3, 4, layout=kkpy.LayoutLeft).flags.f_contiguous
    with pytest.raises(TypeError, match="extents must be integers"):
        kkpy.View("a", 2, 3.5, np.float64)
