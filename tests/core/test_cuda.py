"""The Cuda execution space and CudaSpace Views.

On a machine with a GPU these run on it.  Without one, a single test reruns
this module in a child process under numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``), at small sizes: the simulator runs every GPU
thread as a Python thread.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kkpy
from kkpy.core._cuda_testing import module_setup

MODE, on_device, test_module_passes_under_the_simulator = module_setup(__file__)
FEW = settings(max_examples=5)


def dev(a):
    return kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, np.asarray(a))


def host(v):
    return np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, v))


@pytest.fixture(scope="module")
def cuda():
    return kkpy.Cuda()


# -- kernels, shared by the host and the GPU ------------------------------------------

@kkpy.kernel
def axpy(i, a, x, y):
    y[i] += a * x[i]


@kkpy.kernel
def outer(i, j, x, y, out):
    out[i, j] = x[i] * y[j] + i - j


@kkpy.kernel
def plane(i, j, k, out):
    out[i, j, k] = 100 * i + 10 * j + k


@kkpy.kernel
def value(i, x):
    return x[i]


@kkpy.kernel
def cell(i, j, x):
    return x[i, j]


@kkpy.kernel
def histogram(i, keys, weights, counts, sums):
    kkpy.atomic_add(counts, keys[i], 1)
    kkpy.atomic_add(sums, (keys[i],), weights[i])


@kkpy.kernel
def extremes(i, keys, x, lo, hi):
    kkpy.atomic_min(lo, keys[i], x[i])
    kkpy.atomic_max(hi, keys[i], x[i])


@kkpy.kernel
def take_slot(i, counter, slots):
    slots[kkpy.atomic_fetch_add(counter, 0, 1)] = i


@kkpy.kernel
def swap_and_cas(i, flags, winners, f):
    # Exactly one index sees 0 and wins each flag.
    if kkpy.atomic_compare_exchange(flags, i % 4, 0, i + 1) == 0:
        kkpy.atomic_add(winners, 0, 1)
    old = kkpy.atomic_exchange(f, i % 2, 1.5)
    kkpy.atomic_store(f, 2 + i % 2, kkpy.atomic_load(f, i % 2) + old - old)


@kkpy.kernel
def team_rows(member, a, rowsum):
    # one team per row; threads split the columns, then thread 0 adds up in scratch
    r = member.league_rank()
    s = member.team_scratch(0).view(np.float64)
    s[member.team_rank()] = 0.0
    for j in kkpy.TeamThreadRange(member, a.shape[1]):
        s[member.team_rank()] += a[r, j]
    member.team_barrier()
    if member.team_rank() == 0:
        t = 0.0
        for k in range(member.team_size()):
            t += s[k]
        rowsum[r] = t


@kkpy.kernel
def reverse_in_team(member, x, out):
    # needs a real barrier: every thread reads what another one wrote
    ts = member.team_size()
    base = member.league_rank() * ts
    s = member.team_scratch(0).view(np.int64)
    s[member.team_rank()] = x[base + member.team_rank()]
    member.team_barrier()
    out[base + member.team_rank()] = s[ts - 1 - member.team_rank()]


@kkpy.kernel
def visits(member, n, count):
    for i in kkpy.TeamThreadRange(member, 3, n):
        kkpy.atomic_add(count, (member.league_rank(), i), 1)


@kkpy.kernel
def team_value(member, x):
    return x[member.league_rank()] * (member.team_rank() + 1)


@kkpy.kernel
def team_fill(member, y):
    y[member.league_rank() * member.team_size() + member.team_rank()] = member.league_rank()


def absmax(a, b):
    return max(abs(a), abs(b))


# -- the space -----------------------------------------------------------------------

@on_device
def test_space_is_registered_and_describes_the_gpu(cuda):
    assert kkpy.space_from_name("cuda") == cuda
    assert cuda.memory_space == kkpy.CudaSpace and cuda.backend == "cuda"
    assert cuda.concurrency() >= 1
    cuda.fence()
    with kkpy.ScopeGuard(default_space="cuda"):
        assert kkpy.DefaultExecutionSpace() == cuda
        assert kkpy.DefaultHostExecutionSpace().memory_space == kkpy.HostSpace


# -- views, copies and mirrors -------------------------------------------------------

@on_device
def test_device_views_are_zeroed_labelled_and_not_host_readable(cuda):
    v = kkpy.View("v", (3, 4), dtype=np.int32, space=cuda)
    assert v.label == "v" and v.shape == (3, 4) and v.extent(1) == 4 and v.rank() == 2
    assert v.memory_space == kkpy.CudaSpace and v.layout == kkpy.LayoutRight
    assert (host(v) == 0).all()
    left = kkpy.View("l", (3, 4), layout=kkpy.LayoutLeft, space=kkpy.CudaSpace)
    assert left.layout == kkpy.LayoutLeft and left.stride(1) == 3
    with pytest.raises(TypeError, match="CudaSpace"):
        np.asarray(v)


@on_device
def test_cuda_array_interface_describes_the_memory(cuda):
    v = kkpy.View("v", (5, 2), dtype=np.float32, space=cuda)
    cai = v.__cuda_array_interface__
    assert tuple(cai["shape"]) == (5, 2) and cai["typestr"] == np.dtype(np.float32).str
    assert cai["data"][0] != 0 and cai["version"] >= 2
    sub = kkpy.subview(v, (1, 3), kkpy.ALL)
    assert sub.__cuda_array_interface__["data"][0] == cai["data"][0] + 2 * 4


@on_device
@FEW
@given(a=hnp.arrays(st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8]),
                    hnp.array_shapes(min_dims=1, max_dims=4, max_side=5)),
       left=st.booleans())
def test_deep_copy_round_trips_through_the_gpu(cuda, a, left):
    layout = kkpy.LayoutLeft if left and a.ndim > 1 else kkpy.LayoutRight
    v = kkpy.View("v", a.shape, dtype=a.dtype, layout=layout, space=cuda)
    kkpy.deep_copy(v, a)
    w = kkpy.View("w", a.shape, dtype=a.dtype, space=cuda)
    kkpy.deep_copy(w, v)                       # device to device, across layouts
    back = kkpy.create_mirror_view(w)
    kkpy.deep_copy(back, w)
    np.testing.assert_array_equal(np.asarray(back), a)


@on_device
def test_mirrors_and_fill(cuda):
    a = np.arange(12.0).reshape(3, 4)
    v = kkpy.create_mirror_view_and_copy(cuda, a)
    assert kkpy.create_mirror_view(kkpy.CudaSpace, v) is v
    assert kkpy.create_mirror(kkpy.CudaSpace, v) is not v
    m = kkpy.create_mirror_view(v)
    assert m.memory_space == kkpy.HostSpace and m.shape == (3, 4)
    kkpy.deep_copy(v, 2.5)
    np.testing.assert_array_equal(host(v), np.full((3, 4), 2.5))
    kkpy.deep_copy(v, 0.0)
    np.testing.assert_array_equal(host(v), 0.0)


@on_device
def test_strided_subviews_copy_both_ways(cuda):
    a = np.arange(60, dtype=np.int64).reshape(3, 4, 5)
    v = dev(a)
    sub = kkpy.subview(v, kkpy.ALL, 1, (1, 4))          # shape (3, 3), not contiguous
    np.testing.assert_array_equal(host(sub), a[:, 1, 1:4])
    kkpy.deep_copy(sub, -np.ones((3, 3), np.int64))
    expect = a.copy()
    expect[:, 1, 1:4] = -1
    np.testing.assert_array_equal(host(v), expect)
    kkpy.deep_copy(sub, 7)
    expect[:, 1, 1:4] = 7
    np.testing.assert_array_equal(host(v), expect)


@on_device
def test_copy_errors_are_clear(cuda):
    v = kkpy.View("v", 3, dtype=np.int32, space=cuda)
    with pytest.raises(ValueError, match="extents differ"):
        kkpy.deep_copy(v, np.zeros(4, np.int32))
    with pytest.raises(TypeError, match="same_kind"):
        kkpy.deep_copy(v, np.zeros(3, np.float64))


# -- patterns ---------------------------------------------------------------------------

@on_device
@FEW
@given(x=hnp.arrays(np.float64, st.integers(0, 70), elements=st.floats(-1e3, 1e3)),
       a=st.floats(-4, 4))
def test_parallel_for_matches_threads(cuda, x, a):
    y0 = np.linspace(0, 1, x.size)
    yd = dev(y0)
    kkpy.parallel_for("axpy", kkpy.RangePolicy(cuda, 0, x.size), axpy, a, dev(x), yd)
    yh = y0.copy()
    kkpy.parallel_for("axpy", kkpy.RangePolicy(kkpy.Threads(), 0, x.size), axpy, a, x, yh)
    # the GPU fuses a * x + y into one rounding: at most the last bit differs
    np.testing.assert_allclose(host(yd), yh, rtol=3e-16, atol=0)


@on_device
def test_mdrange_covers_every_index_once(cuda):
    x, y = np.arange(5.0), np.arange(7.0) / 2
    out = kkpy.View("out", (5, 7), space=cuda)
    kkpy.parallel_for(kkpy.MDRangePolicy(cuda, (0, 0), (5, 7)), outer, dev(x), dev(y), out)
    i, j = np.meshgrid(np.arange(5), np.arange(7), indexing="ij")
    np.testing.assert_array_equal(host(out), x[:, None] * y[None, :] + i - j)
    cube = kkpy.View("cube", (2, 3, 4), dtype=np.int64, space=cuda)
    kkpy.deep_copy(cube, -1)
    kkpy.parallel_for(kkpy.MDRangePolicy(cuda, (0, 1, 2), (2, 3, 4)), plane, cube)
    expect = np.full((2, 3, 4), -1)
    for p in np.ndindex(2, 2, 2):
        a, b, c = p[0], p[1] + 1, p[2] + 2
        expect[a, b, c] = 100 * a + 10 * b + c
    np.testing.assert_array_equal(host(cube), expect)


def reference(r, x):
    """What each builtin reducer means, from numpy."""
    return {
        kkpy.Sum: lambda: x.sum(), kkpy.Prod: lambda: x.prod(), kkpy.Min: lambda: x.min(),
        kkpy.Max: lambda: x.max(), kkpy.LAnd: lambda: bool((x != 0).all()),
        kkpy.LOr: lambda: bool((x != 0).any()),
        kkpy.MinLoc: lambda: (x.min(), int(np.argmin(x))),
        kkpy.MaxLoc: lambda: (x.max(), int(np.argmax(x))),
    }[r]()


@on_device
@FEW
@given(x=hnp.arrays(st.sampled_from([np.float64, np.int32]), st.integers(1, 90),
                    elements=st.integers(-3, 3)),
       r=st.sampled_from([kkpy.Sum, kkpy.Prod, kkpy.Min, kkpy.Max, kkpy.MinLoc, kkpy.MaxLoc,
                          kkpy.LAnd, kkpy.LOr]))
def test_parallel_reduce_matches_numpy(cuda, x, r):
    got = kkpy.parallel_reduce(kkpy.RangePolicy(cuda, 0, x.size), value, dev(x), reducer=r)
    assert got == reference(r, x)


@on_device
def test_reductions_of_the_other_policies_and_empty_ranges(cuda):
    x = np.arange(24.0).reshape(4, 6) - 7
    assert kkpy.parallel_reduce(kkpy.MDRangePolicy(cuda, (1, 0), (4, 5)), cell, dev(x)) \
        == x[1:4, 0:5].sum()
    absm = kkpy.Reducer(0.0, absmax)
    assert kkpy.parallel_reduce(kkpy.RangePolicy(cuda, 0, 24), value, dev(x.ravel()),
                                reducer=absm) == 16.0
    v = np.arange(5.0)
    got = kkpy.parallel_reduce(kkpy.TeamPolicy(cuda, 5, 3), team_value, dev(v))
    assert got == 6 * v.sum()
    assert kkpy.parallel_reduce(kkpy.RangePolicy(cuda, 3, 3), value, dev(v)) == 0.0
    assert kkpy.parallel_reduce(kkpy.RangePolicy(cuda, 3, 3), value, dev(v),
                                reducer=kkpy.MinLoc) == (np.inf, -1)


@on_device
@FEW
@given(x=hnp.arrays(np.int64, st.integers(0, 80), elements=st.integers(-50, 50)),
       inclusive=st.booleans(), begin=st.integers(0, 3))
def test_parallel_scan_matches_cumsum(cuda, x, inclusive, begin):
    n = max(0, x.size - begin)
    out = kkpy.View("out", n + 1, dtype=np.int64, space=cuda)
    kkpy.deep_copy(out, -99)
    total = kkpy.parallel_scan(kkpy.RangePolicy(cuda, begin, begin + n), value, dev(x),
                               out=out, inclusive=inclusive)
    c = np.cumsum(x[begin:begin + n])
    assert total == (c[-1] if n else 0)
    got = host(out)
    if inclusive:
        np.testing.assert_array_equal(got[:n], c)
        assert got[n] == -99
    else:
        np.testing.assert_array_equal(got, np.concatenate([[0], c]))


@on_device
def test_float_scan_and_sum_without_out(cuda):
    x = np.linspace(0.5, 3, 33)
    out = kkpy.View("out", 33, space=cuda)
    total = kkpy.parallel_scan(kkpy.RangePolicy(cuda, 0, 33), value, dev(x), out=out,
                               inclusive=True)
    np.testing.assert_allclose(host(out), np.cumsum(x))
    assert total == pytest.approx(x.sum())
    assert kkpy.parallel_scan(kkpy.RangePolicy(cuda, 0, 33), value, dev(x)) \
        == pytest.approx(x.sum())


@on_device
def test_instances_on_streams_run_every_pattern_in_stream_order(cuda):
    from numba import cuda as nc

    s1, s2 = nc.stream(), nc.stream()
    a, b = kkpy.Cuda(stream=s1), kkpy.Cuda(stream=s2)
    assert a != b and a == a and a != cuda and hash(a) != hash(b)
    assert "stream=" in repr(a) and a.launch_stream() is s1 and cuda.launch_stream() == 0
    x = np.arange(40.0)
    ya, yb = dev(np.ones(40)), dev(np.zeros(40))
    for _ in range(3):   # each launch after the last on its stream: 1 + 3 * 2 x
        kkpy.parallel_for(kkpy.RangePolicy(a, 0, 40), axpy, 2.0, dev(x), ya)
    kkpy.parallel_for(kkpy.TeamPolicy(b, 4, 8), team_fill, yb)
    a.fence()
    b.fence()
    np.testing.assert_array_equal(host(ya), 1 + 6 * x)
    np.testing.assert_array_equal(host(yb)[:32], np.repeat(np.arange(4.0), 8))
    assert kkpy.parallel_reduce(kkpy.RangePolicy(b, 0, 40), value, dev(x)) == x.sum()
    assert kkpy.parallel_reduce(kkpy.RangePolicy(b, 0, 40), value, dev(x),
                                reducer=kkpy.MaxLoc) == (39.0, 39)
    out = kkpy.View("out", 40, space=cuda)
    assert kkpy.parallel_scan(kkpy.RangePolicy(a, 0, 40), value, dev(x), out=out,
                              inclusive=True) == x.sum()
    a.fence()
    np.testing.assert_array_equal(host(out), np.cumsum(x))
    with pytest.raises(TypeError, match="stream must be a numba.cuda stream"):
        kkpy.Cuda(stream=7)


@on_device
def test_deep_copy_on_a_stream_instance_runs_in_that_streams_order(cuda):
    from numba import cuda as nc

    a = kkpy.Cuda(stream=nc.stream())
    x = np.arange(24.0).reshape(4, 6)
    v, w = dev(np.ones((4, 6))), kkpy.View("w", (4, 6), space=cuda)
    kkpy.parallel_for(kkpy.RangePolicy(a, 0, 6), axpy, 2.0, dev(np.ones(6)), v[0])
    kkpy.deep_copy(a, w, v)                   # after the kernel on the same stream
    kkpy.deep_copy(a, kkpy.subview(w, kkpy.ALL, 2), -1.0)     # strided: a kernel
    kkpy.deep_copy(a, v, 0.0)                 # contiguous zero: a memset
    back = np.empty((4, 6))
    kkpy.deep_copy(a, back, w)                # to the host: done on return
    expect = np.ones((4, 6))
    expect[0] = 3.0
    expect[:, 2] = -1.0
    np.testing.assert_array_equal(back, expect)
    kkpy.deep_copy(a, w, x)                   # from the host
    a.fence()
    np.testing.assert_array_equal(host(w), x)
    np.testing.assert_array_equal(host(v), 0.0)
    with pytest.raises(TypeError, match="execution space instance"):
        kkpy.deep_copy(kkpy.CudaSpace, v, 0.0)
    with pytest.raises(TypeError, match="not 1 arguments"):
        kkpy.deep_copy(v)


# -- teams --------------------------------------------------------------------------

@on_device
def test_team_is_a_block_with_shared_scratch(cuda):
    a = np.arange(5 * 37, dtype=np.float64).reshape(5, 37)
    rowsum = kkpy.View("rowsum", 5, space=cuda)
    policy = kkpy.TeamPolicy(cuda, 5, 8).set_scratch_size(0, per_thread=8)
    kkpy.parallel_for("rows", policy, team_rows, dev(a), rowsum)
    np.testing.assert_array_equal(host(rowsum), a.sum(axis=1))


@on_device
def test_team_barrier_orders_the_threads_of_a_team(cuda):
    ts, league = 16, 6
    x = np.arange(ts * league, dtype=np.int64) * 3
    out = kkpy.View("out", ts * league, dtype=np.int64, space=cuda)
    policy = kkpy.TeamPolicy(cuda, league, ts).set_scratch_size(0, per_team=8 * ts)
    kkpy.parallel_for(policy, reverse_in_team, dev(x), out)
    np.testing.assert_array_equal(host(out), x.reshape(league, ts)[:, ::-1].ravel())


@on_device
def test_team_thread_range_visits_each_index_once(cuda):
    count = kkpy.View("count", (3, 20), dtype=np.int32, space=cuda)
    kkpy.parallel_for(kkpy.TeamPolicy(cuda, 3, 7), visits, 20, count)
    expect = np.zeros((3, 20), np.int32)
    expect[:, 3:] = 1
    np.testing.assert_array_equal(host(count), expect)
    with pytest.raises(ValueError, match="team_size"):
        kkpy.parallel_for(kkpy.TeamPolicy(cuda, 1, 4096), visits, 20, count)


# -- atomics ------------------------------------------------------------------------

@on_device
@FEW
@given(keys=hnp.arrays(np.int64, st.integers(1, 90), elements=st.integers(0, 4)),
       dtype=st.sampled_from([np.int32, np.int64, np.uint32, np.uint64, np.float32,
                              np.float64]))
def test_atomic_add_builds_a_histogram(cuda, keys, dtype):
    w = (np.arange(keys.size) % 7).astype(dtype)
    counts = kkpy.View("counts", 5, dtype=dtype, space=cuda)
    sums = kkpy.View("sums", 5, dtype=dtype, space=cuda)
    kkpy.parallel_for(kkpy.RangePolicy(cuda, 0, keys.size), histogram, dev(keys), dev(w),
                      counts, sums)
    np.testing.assert_array_equal(host(counts), np.bincount(keys, minlength=5))
    want = np.zeros(5, dtype)
    np.add.at(want, keys, w)
    np.testing.assert_array_equal(host(sums), want)


@on_device
def test_atomic_min_max_fetch_add_exchange_and_cas(cuda):
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 3, 64)
    x = rng.normal(size=64)
    lo, hi = dev(np.full(3, np.inf)), dev(np.full(3, -np.inf))
    kkpy.parallel_for(kkpy.RangePolicy(cuda, 0, 64), extremes, dev(keys), dev(x), lo, hi)
    np.testing.assert_array_equal(host(lo), [x[keys == k].min() for k in range(3)])
    np.testing.assert_array_equal(host(hi), [x[keys == k].max() for k in range(3)])

    counter = kkpy.View("counter", 1, dtype=np.int32, space=cuda)
    slots = kkpy.View("slots", 50, dtype=np.int64, space=cuda)
    kkpy.parallel_for(kkpy.RangePolicy(cuda, 0, 50), take_slot, counter, slots)
    assert sorted(host(slots)) == list(range(50)) and host(counter)[0] == 50

    flags = kkpy.View("flags", 4, dtype=np.int64, space=cuda)
    winners = kkpy.View("winners", 1, dtype=np.int32, space=cuda)
    f = kkpy.View("f", 4, dtype=np.float32, space=cuda)
    kkpy.parallel_for(kkpy.RangePolicy(cuda, 0, 40), swap_and_cas, flags, winners, f)
    assert host(winners)[0] == 4 and (host(flags) > 0).all()
    np.testing.assert_array_equal(host(f), np.full(4, 1.5, np.float32))


# -- interop and errors -------------------------------------------------------------

@on_device
def test_numba_device_arrays_and_views_mix(cuda):
    from numba import cuda as nbcuda

    x = nbcuda.to_device(np.arange(6.0))
    y = kkpy.View("y", 6, space=cuda)
    kkpy.parallel_for(kkpy.RangePolicy(cuda, 0, 6), axpy, 3.0, x, y)
    np.testing.assert_array_equal(host(y), 3 * np.arange(6.0))
    z = kkpy.View("z", 6, space=cuda)
    kkpy.deep_copy(z, x)
    np.testing.assert_array_equal(host(z), np.arange(6.0))
    if MODE == "gpu":
        same = nbcuda.as_cuda_array(y)
        assert same.__cuda_array_interface__["data"] == y.__cuda_array_interface__["data"]


@pytest.mark.skipif(MODE != "gpu", reason="CuPy needs a real GPU")
def test_cupy_shares_memory_with_views(cuda):
    cp = pytest.importorskip("cupy")
    v = dev(np.arange(8.0))
    c = cp.asarray(v)                      # no copy: the same device memory
    c *= 2
    np.testing.assert_array_equal(host(v), 2 * np.arange(8.0))
    y = cp.zeros(8)
    kkpy.parallel_for(kkpy.RangePolicy(cuda, 0, 8), axpy, 1.0, c, y)
    np.testing.assert_array_equal(cp.asnumpy(y), 2 * np.arange(8.0))
    w = kkpy.View("w", 8, space=cuda)
    kkpy.deep_copy(w, y)
    np.testing.assert_array_equal(host(w), 2 * np.arange(8.0))


@on_device
def test_host_arrays_and_bad_kernels_are_reported(cuda):
    with pytest.raises(TypeError, match="host array"):
        kkpy.parallel_for(kkpy.RangePolicy(cuda, 0, 3), axpy, 1.0, np.zeros(3), np.zeros(3))
