"""Random_XorShift64_Pool, the in-kernel draws and fill_random.

Statistical checks use fixed seeds and generous bounds, so they are
deterministic: they fail only if the generator changes, never by chance.
The Cuda space runs at small sizes (the simulator runs each GPU thread as a
Python thread); without a GPU one test reruns this module under it.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kkpy
from kkpy.core._cuda_testing import make_space, simulator_rerun, space_params

test_cuda_space_under_the_simulator = simulator_rerun(__file__)
FEW = settings(max_examples=8, deadline=None)


@pytest.fixture(scope="module", params=space_params())
def space(request):
    return make_space(request.param)


def host(v):
    return np.asarray(kkpy.create_mirror_view_and_copy(kkpy.HostSpace, v))


def out_view(space, n, dtype=np.float64):
    return kkpy.View("out", n, dtype=dtype, space=space)


@kkpy.kernel
def one_each(i, states, u, bits, g):
    u[i] = kkpy.drand(states, i)
    bits[i] = kkpy.rand_uint64(states, i)
    g[i] = kkpy.normal(states, i)


@kkpy.kernel
def streams_normal(k, states, out, nstreams):
    for j in range(k, out.shape[0], nstreams):
        out[j] = kkpy.normal(states, k)


@kkpy.kernel
def streams_bits(k, states, out, nstreams):
    for j in range(k, out.shape[0], nstreams):
        out[j] = kkpy.rand_uint64(states, k)


def draws(space, seed, n):
    pool = kkpy.RandomPool(seed, space, count=n)
    u, bits, g = out_view(space, n), out_view(space, n, np.uint64), out_view(space, n)
    kkpy.parallel_for("one_each", kkpy.RangePolicy(space, 0, n), one_each, pool.states, u, bits,
                      g)
    return host(u), host(bits), host(g), host(pool.states)


def reference(seed, n):
    """The same draws through the interpreter forms, on a host copy of the states."""
    states = np.array(kkpy.RandomPool(seed, kkpy.Serial(), count=n).states)
    u = np.array([kkpy.drand(states, i) for i in range(n)])
    bits = np.array([kkpy.rand_uint64(states, i) for i in range(n)], dtype=np.uint64)
    g = np.array([kkpy.normal(states, i) for i in range(n)])
    return u, bits, g, states


# -- determinism ------------------------------------------------------------------------

@FEW
@given(seed=st.integers(-2**70, 2**70), n=st.integers(1, 40))
def test_same_seed_same_numbers_on_every_space(space, seed, n):
    if space.backend == "cuda":
        n = min(n, 8)
    u, bits, g, states = draws(space, seed, n)
    ru, rbits, rg, rstates = reference(seed, n)
    np.testing.assert_array_equal(u, ru)
    np.testing.assert_array_equal(bits, rbits)
    np.testing.assert_array_equal(states, rstates)
    # libm's log/cos may differ from Python's in the last bit
    np.testing.assert_allclose(g, rg, rtol=1e-12, atol=1e-12)


def test_serial_and_threads_agree():
    a = draws(kkpy.Serial(), 123, 500)
    b = draws(kkpy.Threads(), 123, 500)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_fill_random_is_the_same_on_serial_and_threads():
    vs = []
    for space in (kkpy.Serial(), kkpy.Threads()):
        v = kkpy.View("v", 1000)
        kkpy.fill_random(v, kkpy.RandomPool(9, space, count=16), 1.0)
        vs.append(np.array(v))
    np.testing.assert_array_equal(*vs)


@FEW
@given(seed=st.integers(0, 2**64 - 1), other=st.integers(0, 2**64 - 1))
def test_different_seeds_differ(seed, other):
    if seed == other:
        other = (other + 1) % 2**64
    a = kkpy.RandomPool(seed, kkpy.Serial(), count=4).states
    b = kkpy.RandomPool(other, kkpy.Serial(), count=4).states
    assert not np.array_equal(a, b)
    assert len(set(np.asarray(a).tolist())) == 4  # the streams differ too


def test_seed_is_taken_modulo_2_to_the_64():
    a = kkpy.RandomPool(-1, kkpy.Serial(), count=3).states
    b = kkpy.RandomPool(2**64 - 1, kkpy.Serial(), count=3).states
    np.testing.assert_array_equal(a, b)


def test_default_count_is_the_space_concurrency():
    assert kkpy.RandomPool(0, kkpy.Threads()).size == kkpy.Threads().concurrency()
    assert kkpy.Random_XorShift64_Pool is kkpy.RandomPool


# -- statistics (fixed seeds, 1e5 draws) ------------------------------------------------

N = 100_000


def test_drand_is_uniform_on_0_1():
    v = kkpy.View("v", N)
    kkpy.fill_random(v, kkpy.RandomPool(2024, kkpy.Threads(), count=64), 0.0, 1.0)
    assert 0.0 <= v.min() and v.max() < 1.0
    assert abs(v.mean() - 0.5) < 0.01
    assert abs(v.var() - 1 / 12) < 0.005
    counts = np.histogram(v, bins=10, range=(0, 1))[0]
    assert (abs(counts - N / 10) < 0.05 * N / 10).all()


def test_normal_has_mean_0_and_std_1():
    pool = kkpy.RandomPool(77, kkpy.Threads(), count=64)
    out = np.zeros(N)
    kkpy.parallel_for("n", kkpy.RangePolicy(pool.space, 0, pool.size), streams_normal,
                      pool.states, out, pool.size)
    assert np.isfinite(out).all()
    assert abs(out.mean()) < 0.02
    assert abs(out.std() - 1.0) < 0.02
    assert abs((abs(out) < 1).mean() - 0.6827) < 0.01


def test_every_bit_of_rand_uint64_is_set_about_half_the_time():
    pool = kkpy.RandomPool(5, kkpy.Threads(), count=64)
    out = np.zeros(N // 4, dtype=np.uint64)
    kkpy.parallel_for("b", kkpy.RangePolicy(pool.space, 0, pool.size), streams_bits,
                      pool.states, out, pool.size)
    bits = (out[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    frac = bits.mean(axis=0)
    assert ((0.45 < frac) & (frac < 0.55)).all(), frac


# -- fill_random ------------------------------------------------------------------------

@FEW
@given(low=st.integers(-1000, 1000), width=st.integers(1, 1000),
       dtype=st.sampled_from([np.float64, np.float32, np.int32, np.int64, np.uint8]))
def test_fill_random_stays_in_low_high(space, low, width, dtype):
    if np.dtype(dtype).kind == "u":
        low, width = abs(low) % 200, min(width, 55)
    n = 16 if space.backend == "cuda" else 500
    v = out_view(space, n, dtype)
    kkpy.fill_random(v, kkpy.RandomPool(low, space, count=4), low, low + width)
    a = host(v)
    assert (low <= a).all() and (a < low + width).all()


def test_fill_random_covers_small_integer_ranges_and_any_rank():
    v = kkpy.View("v", 10, 20, 5, dtype=np.int64)
    kkpy.fill_random(v, kkpy.RandomPool(1, kkpy.Serial()), -3, 3)
    assert set(np.unique(v).tolist()) == {-3, -2, -1, 0, 1, 2}


def test_fill_random_with_one_bound_is_0_to_high():
    v = kkpy.View("v", 1000)
    kkpy.fill_random(v, kkpy.RandomPool(1, kkpy.Serial()), 2.5)
    assert 0 <= v.min() and v.max() < 2.5 and v.max() > 2.0


# -- errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((1.5,), {}, TypeError, "seed must be an integer"),
    (("7",), {}, TypeError, "seed must be an integer"),
    ((True,), {}, TypeError, "seed must be an integer"),
    ((1,), {"count": -3}, ValueError, "count must be at least 1"),
    ((1,), {"count": 0}, ValueError, "count must be at least 1"),
    ((1,), {"count": 2.0}, TypeError, "count must be an integer"),
    ((1, "serial"), {}, TypeError, "space must be an execution space"),
])
def test_bad_pool_arguments(args, kwargs, exc, match):
    with pytest.raises(exc, match=match) as info:
        kkpy.Random_XorShift64_Pool(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_bad_fill_random_arguments():
    pool = kkpy.RandomPool(1, kkpy.Serial())
    v = kkpy.View("v", 4)
    for args, exc, match in [((v, pool, 2, 1), ValueError, "low < high"),
                             ((v, None, 0, 1), TypeError, "pool must be"),
                             ((v, pool, "a", 1), TypeError, "low must be a real number"),
                             ((kkpy.View("i", 4, dtype=np.int32), pool, 0, 1.5), ValueError,
                              "integer bounds"),
                             ((kkpy.View("b", 4, dtype=bool), pool, 0, 1), TypeError,
                              "integer or float")]:
        with pytest.raises(exc, match=match) as info:
            kkpy.fill_random(*args)
        assert "\n" not in str(info.value)


def test_kernel_with_wrong_states_fails_to_compile_naming_drand():
    @kkpy.kernel
    def bad(i, states, out):
        out[i] = kkpy.drand(states, i)

    with pytest.raises(kkpy.KernelError, match=r"drand\(array\(float64"):
        kkpy.parallel_for("bad", kkpy.RangePolicy(kkpy.Serial(), 0, 2), bad, np.zeros(2),
                          np.zeros(2))
