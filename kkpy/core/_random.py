"""Random numbers inside kernels: ``Random_XorShift64_Pool`` (``Kokkos_Random``).

A pool owns a View of uint64 generator states, ``pool.states``, one per
stream, seeded deterministically from one seed: state ``k`` is splitmix64 of
``seed + (k + 1) * 0x9E3779B97F4A7C15`` (never 0, which xorshift cannot leave).
Kernels draw through plain functions that take that View and a stream
index, and advance that one state (xorshift64*):

* :func:`rand_uint64` ``(states, k)``: 64 random bits, as a uint64;
* :func:`drand` ``(states, k)``: a float64 uniform on [0, 1) (53 random bits);
* :func:`normal` ``(states, k)``: a float64 from N(0, 1) (Box-Muller, two draws).

They are callable in the interpreter (and so under ``NUMBA_DISABLE_JIT=1`` and
numba's CUDA simulator, which run kernels as Python) and compiled on the CPU
target; :mod:`kkpy.core.cuda` registers them for the GPU as it does atomics.

Kokkos versus kkpy
------------------
Kokkos hands a thread a state with ``pool.get_state()`` and takes it back
with ``free_state``: which state an iteration gets depends on the thread
that runs it, so results vary between runs and backends.  kkpy kernels do
not know their thread, so the kernel names the stream itself.  The rule:
**no two iterations that may run at the same time use the same stream.**
Two ways to keep it, both deterministic on every space (same seed, same
pool size, same per-index use: same numbers on Serial, Threads and Cuda):

* one stream per iteration: a pool of ``n`` states for a range of ``n``
  indices, the kernel drawing from stream ``i``;
* a pool sized to the space (the default: ``space.concurrency()``
  streams) and a ``parallel_for`` over ``pool.size`` indices whose kernel
  loops over its share of the work, ``for j in range(k, n, pool.size)``
  (:func:`fill_random` does so).

Sharing a stream between concurrent iterations (``i % pool.size`` over a
larger range on Threads or Cuda) is a data race: numbers repeat or
depend on timing.  kkpy does not check this.

Kokkos draws normals with the polar method (a loop of rejected pairs);
kkpy uses Box-Muller, which always takes two uniforms, so a stream's
position after ``m`` normals is known (``2 m`` draws).
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload

from ._kernel import kernel
from ._patterns import parallel_for
from ._policies import RangePolicy
from ._spaces import DefaultExecutionSpace, ExecutionSpace
from ._views import View, deep_copy

__all__ = ["Random_XorShift64_Pool", "RandomPool", "rand_uint64", "drand", "normal",
           "fill_random"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MULT = 0x2545F4914F6CDD1D  # xorshift64* output multiplier
_TWO_M53 = 2.0 ** -53


class Random_XorShift64_Pool:  # noqa: N801  (Kokkos's spelling)
    """A pool of xorshift64* generator states in a space's memory.

    Parameters
    ----------
    seed : int
        Any integer (taken modulo 2**64); equal seeds give equal states.
    space : ExecutionSpace, optional
        Where the kernels that draw run; the states live in its memory
        space.  Default: :func:`kkpy.DefaultExecutionSpace`.
    count : int, optional
        Number of streams (states).  Default ``space.concurrency()``; give
        the range's length to draw from stream ``i`` in iteration ``i``.

    Attributes
    ----------
    states : View
        The uint64 states, rank 1, ``count`` long: pass it to kernels.
    size : int
        ``count``.
    space : ExecutionSpace

    Notes
    -----
    Kokkos hands a thread a state with ``pool.get_state()`` and takes it
    back with ``free_state()``, so which state an iteration draws from
    depends on the thread that runs it.  kkpy kernels do not know their
    thread; the kernel names the stream itself, with one rule: **no two
    iterations that may run at the same time use the same stream**.  Two
    ways keep it, and both give the same numbers on Serial, Threads and
    Cuda for the same seed, pool size and per-index use:

    * one stream per iteration: ``count=n`` for a range of ``n`` indices,
      iteration ``i`` drawing from stream ``i``;
    * the default pool (``space.concurrency()`` streams) and a
      ``parallel_for`` over ``pool.size`` indices whose kernel loops over its
      share, ``for j in range(k, n, pool.size)``, as :func:`fill_random` does.

    Sharing a stream between concurrent iterations (``i % pool.size`` over a
    larger range on Threads or Cuda) is a data race that kkpy does not
    detect: numbers repeat or depend on timing.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> pool = kkpy.Random_XorShift64_Pool(42, kkpy.Serial(), count=4)
    >>> @kkpy.kernel
    ... def draw(i, states, out):
    ...     out[i] = kkpy.drand(states, i)
    >>> out = np.zeros(4)
    >>> kkpy.parallel_for("draw", kkpy.RangePolicy(pool.space, 0, 4), draw, pool.states, out)
    >>> bool(((0 <= out) & (out < 1)).all()), len(set(out.tolist()))
    (True, 4)
    """

    def __init__(self, seed, space: ExecutionSpace | None = None, count: int | None = None):
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"Random_XorShift64_Pool: seed must be an integer, got "
                            f"{type(seed).__name__} {seed!r}")
        if space is None:
            space = DefaultExecutionSpace()
        if not isinstance(space, ExecutionSpace):
            raise TypeError(f"Random_XorShift64_Pool: space must be an execution space, "
                            f"got {space!r}")
        if count is None:
            count = space.concurrency()
        if isinstance(count, bool) or not isinstance(count, numbers.Integral):
            raise TypeError(f"Random_XorShift64_Pool: count must be an integer, got "
                            f"{type(count).__name__} {count!r}")
        if count < 1:
            raise ValueError(f"Random_XorShift64_Pool: count must be at least 1, got {count}")
        self.seed = int(seed) & _MASK
        self.space = space
        self.size = int(count)
        self.states = View("Random_XorShift64_Pool::states", self.size, dtype=np.uint64,
                           space=space, initialize=False)
        deep_copy(self.states, seed_states(self.seed, self.size))

    def __repr__(self):
        return (f"Random_XorShift64_Pool(seed={self.seed}, space={self.space!r}, "
                f"count={self.size})")


#: A shorter name for :class:`Random_XorShift64_Pool`.
RandomPool = Random_XorShift64_Pool


def seed_states(seed: int, count: int) -> np.ndarray:
    """The ``count`` initial states for ``seed`` (splitmix64, never 0).

    Examples
    --------
    >>> s = seed_states(1, 3)
    >>> s.dtype, len(set(s.tolist())), bool((s != 0).all())
    (dtype('uint64'), 3, True)
    """
    with np.errstate(over="ignore"):
        k = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(seed) + k * np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    z[z == 0] = np.uint64(_GOLDEN)
    return z


# ---------------------------------------------------------------------------
# The functions kernels call: interpreter forms (Python integers, masked).

def rand_uint64(states, k):
    """Advance stream ``k`` of ``states`` and return 64 random bits (uint64).

    Parameters
    ----------
    states : View or array of uint64
        A pool's ``states``.
    k : int
        The stream; no other iteration running at the same time may use it
        (see :class:`Random_XorShift64_Pool`).

    Examples
    --------
    >>> import kkpy
    >>> pool = kkpy.RandomPool(7, kkpy.Serial(), count=1)
    >>> a, b = rand_uint64(pool.states, 0), rand_uint64(pool.states, 0)
    >>> type(a).__name__, bool(a != b)
    ('uint64', True)
    """
    x = int(states[k])
    x ^= x >> 12
    x ^= (x << 25) & _MASK
    x ^= x >> 27
    states[k] = x
    return np.uint64((x * _MULT) & _MASK)


def drand(states, k):
    """Advance stream ``k`` and return a float64 uniform on [0, 1).

    The top 53 bits of :func:`rand_uint64`, times 2**-53: every value is a
    multiple of 2**-53, and 1.0 never comes.

    Examples
    --------
    >>> import kkpy
    >>> pool = kkpy.RandomPool(7, kkpy.Serial(), count=1)
    >>> 0.0 <= drand(pool.states, 0) < 1.0
    True
    """
    return float(int(rand_uint64(states, k)) >> 11) * _TWO_M53


def normal(states, k):
    """Advance stream ``k`` by two draws and return a float64 from N(0, 1).

    Box-Muller on two uniforms (Kokkos uses the polar method, whose number
    of draws varies).

    Examples
    --------
    >>> import math, kkpy
    >>> pool = kkpy.RandomPool(7, kkpy.Serial(), count=1)
    >>> math.isfinite(normal(pool.states, 0))
    True
    """
    u1 = 1.0 - drand(states, k)  # (0, 1]: log is finite
    u2 = drand(states, k)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


# ---------------------------------------------------------------------------
# Compiled forms: the same algorithm in numba's uint64 arithmetic (wrapping).
# kkpy.core.cuda registers these same bodies for the GPU.

_U12, _U25, _U27, _U11 = (np.uint64(s) for s in (12, 25, 27, 11))
_UMULT = np.uint64(_MULT)


def _rand_uint64_impl(states, k):
    x = states[k]
    x ^= x >> _U12
    x ^= x << _U25
    x ^= x >> _U27
    states[k] = x
    return x * _UMULT


def _check(name, states, k):
    if not (isinstance(states, types.Array) and states.dtype == types.uint64
            and states.ndim == 1):
        raise TypingError(f"kkpy.{name}: states must be a rank-1 uint64 View (a pool's "
                          f"states), got {states}")
    if not isinstance(k, types.Integer):
        raise TypingError(f"kkpy.{name}: the stream index must be an integer, got {k}")


def register(target, jit_device, overload_for):
    """Register the compiled forms for numba ``target``.

    ``jit_device`` turns a Python function into a function callable from
    that target's compiled code (``numba.njit`` on the CPU);
    ``overload_for`` is that target's ``numba.extending.overload``.
    """
    next_bits = jit_device(_rand_uint64_impl)

    def _drand_impl(states, k):
        return np.float64(next_bits(states, k) >> _U11) * _TWO_M53

    uniform = jit_device(_drand_impl)

    def _normal_impl(states, k):
        u1 = 1.0 - uniform(states, k)
        u2 = uniform(states, k)
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    gaussian = jit_device(_normal_impl)

    @overload_for(rand_uint64, target=target)
    def _ov_rand_uint64(states, k):
        _check("rand_uint64", states, k)
        return lambda states, k: next_bits(states, k)

    @overload_for(drand, target=target)
    def _ov_drand(states, k):
        _check("drand", states, k)
        return lambda states, k: uniform(states, k)

    @overload_for(normal, target=target)
    def _ov_normal(states, k):
        _check("normal", states, k)
        return lambda states, k: gaussian(states, k)


def _cpu_jit(func):
    import numba

    return numba.njit(inline="always", cache=False)(func)


register("cpu", _cpu_jit, overload)


# ---------------------------------------------------------------------------
# Kokkos::fill_random

@kernel
def _fill_kernel(k, states, flat, nstreams, low, span, high, is_int):
    for j in range(k, flat.shape[0], nstreams):
        v = low + drand(states, k) * span
        if is_int:
            v = math.floor(v)
        flat[j] = v
        if flat[j] >= high:  # rounding (to the element type) reached ``high``
            flat[j] = low


def fill_random(view, pool, low, high=None):
    """Fill ``view`` with values uniform on [low, high) (``Kokkos::fill_random``).

    ``fill_random(view, pool, high)`` fills on [0, high).  Stream ``k`` of
    the pool fills elements ``k, k + pool.size, ...`` of the view in memory
    order, so the result depends only on the seed, the pool's size and the
    view's shape, not on the space or the number of threads.  Integer views
    get integers (``floor`` of a uniform float, so spans beyond 2**53 are
    not uniform).  Runs on ``pool.space``; the view must be in its memory.

    Parameters
    ----------
    view : View
        Contiguous, of a float or integer type (rank 1 for a non-host
        memory space).
    pool : Random_XorShift64_Pool
    low, high : int or float
        ``low < high``.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> pool = kkpy.RandomPool(3, kkpy.Serial())
    >>> v = kkpy.View("v", 2, 3, dtype=np.int32)
    >>> kkpy.fill_random(v, pool, 5, 8)
    >>> bool(((5 <= v) & (v < 8)).all())
    True
    """
    if not isinstance(pool, Random_XorShift64_Pool):
        raise TypeError(f"fill_random: pool must be a Random_XorShift64_Pool, got "
                        f"{type(pool).__name__}")
    if high is None:
        low, high = 0, low
    for name, x in (("low", low), ("high", high)):
        if isinstance(x, bool) or not isinstance(x, numbers.Real):
            raise TypeError(f"fill_random: {name} must be a real number, got {x!r}")
    if not low < high:
        raise ValueError(f"fill_random: need low < high, got low={low}, high={high}")
    dtype = np.dtype(view.dtype)
    if dtype.kind not in "iuf":
        raise TypeError(f"fill_random: the view's element type must be an integer or "
                        f"float, got {dtype}")
    if isinstance(view, np.ndarray):
        if not (view.flags.c_contiguous or view.flags.f_contiguous):
            raise ValueError("fill_random: the view must be contiguous")
        flat = view.reshape(-1, order="A")
    elif getattr(view, "ndim", 1) == 1:
        flat = view
    else:
        raise ValueError("fill_random: a view outside host memory must be rank 1")
    is_int = dtype.kind in "iu"
    if is_int and (int(low) != low or int(high) != high):
        raise ValueError(f"fill_random: an integer view needs integer bounds, got "
                         f"low={low}, high={high}")
    parallel_for("kkpy::fill_random", RangePolicy(pool.space, 0, pool.size), _fill_kernel,
                 pool.states, flat, pool.size, float(low), float(high) - float(low),
                 float(high), is_int)
