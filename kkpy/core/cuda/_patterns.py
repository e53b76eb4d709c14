"""Pattern launches on the GPU: generated driver kernels around the user's kernel."""
from __future__ import annotations

import numpy as np

from numba import cuda
from numba.core import config as _config

from .._kernel_typing import reducer_bindings, scan_update_dtype
from .._kernel_typing import return_dtype as _host_return_dtype
from ._space import host_wait, is_simulator
from ._drivers import (block_size, for_md, for_range, for_team, reduce_source, scan_final_source,
                       scan_source)
from ._views import device_array, fill

if not _config.ENABLE_CUDASIM:
    # GPU versions of kkpy.atomic_*; the simulator runs the Python ones.
    from . import _atomics  # noqa: F401

__all__ = ["parallel_for", "parallel_reduce", "parallel_scan", "parallel_scan_final",
           "return_dtype"]




# -- launches -------------------------------------------------------------------

_drivers: dict = {}
_MAX_BLOCKS = 1024 if not _config.ENABLE_CUDASIM else 4


def _host_arg_error(n, a):
    return TypeError(
        f"argument {n + 1} is a host array (shape {a.shape}); a Cuda kernel needs CudaSpace "
        "views: kkpy.create_mirror_view_and_copy(kkpy.CudaSpace, array)")


def _check_args(args):
    for n, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.ndim > 0:
            raise _host_arg_error(n, a)


def _driver(kernel, key, make_source, bindings, names=("drv",)):
    """The generated kernels for ``key``, built once per process (and cached on disk)."""
    from .._codegen import build_driver

    full = (id(kernel), key)
    hit = _drivers.get(full)
    if hit is None:
        source = make_source()
        funcs = tuple(build_driver(source, name, bindings, parallel=False,
                                   fastmath=kernel.fastmath, target="cuda") for name in names)
        hit = _drivers[full] = (funcs, kernel, bindings)  # keep ids alive and unique
    return hit[0]


def _grid(n):
    bs = block_size()
    return max(1, min(_MAX_BLOCKS, -(-n // bs))), bs


def _call(func, grid, block, args, shared=0, stream=0):
    """Launch on ``stream``, turning numba-cuda's typing errors into the ones kkpy reports."""
    from numba.core.errors import TypingError
    if is_simulator():
        args = _sim_args(args)
    try:
        from numba.cuda.core.errors import TypingError as CudaTypingError
    except ImportError:  # pragma: no cover - older numba-cuda shares numba's classes
        CudaTypingError = TypingError
    try:
        func[grid, block, stream, shared](*args)
    except CudaTypingError as err:
        if isinstance(err, TypingError):
            raise
        raise TypingError(str(err)) from None


def _sim_args(args):
    """Hand simulated kernels the numpy arrays behind device arrays, not copies.

    The simulator would otherwise wrap each argument in its own array class,
    which kkpy's Python atomics (and numpy) do not accept.
    """
    from numba.cuda.simulator.args import ArgHint
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    class Shared(ArgHint):
        def to_device(self, retr, stream=0):
            return self.value

    return tuple(Shared(a._ary) if isinstance(a, FakeCUDAArray) else a for a in args)


def parallel_for(policy, kernel, args):
    _check_args(args)
    n = len(args)
    stream = policy.space.launch_stream()
    if policy.kind == "range":
        count = len(policy)
        if count == 0:
            return
        (drv,) = _driver(kernel, ("for", n), lambda: for_range(n), {"_k": kernel})
        _call(drv, *_grid(count), (np.int64(policy.begin), np.int64(policy.end), *args),
              stream=stream)
    elif policy.kind == "mdrange":
        rank = policy.rank
        total = int(np.prod(policy.extents))
        if total == 0:
            return
        (drv,) = _driver(kernel, ("md", n, rank), lambda: for_md(n, rank), {"_k": kernel})
        lead = [np.int64(v) for be in zip(policy.begin, policy.extents) for v in be]
        _call(drv, *_grid(total), (*lead, np.int64(total), *args), stream=stream)
    else:
        if policy.league_size == 0:
            return
        (drv,) = _driver(kernel, ("team", n), lambda: for_team(n), {"_k": kernel})
        _call(drv, _team_grid(policy), policy.team_size,
              (np.int64(policy.league_size), np.int64(policy.team_size), *args),
              policy.scratch_size, stream)


def _team_grid(policy):
    _check_team(policy)
    return max(1, min(policy.league_size, 2**31 - 1 if not is_simulator() else 4))


def _check_team(policy):
    limit = 1024 if not is_simulator() else 256
    if policy.team_size > limit:
        raise ValueError(f"TeamPolicy: team_size {policy.team_size} exceeds the {limit} threads "
                         "a Cuda thread block can hold")


def parallel_reduce(policy, kernel, args, reducer, value_dtype):
    _check_args(args)
    n = len(args)
    dtype = reducer.result_dtype(value_dtype)
    ident = reducer.identity(dtype)
    kind = policy.kind
    rank = getattr(policy, "rank", 1)
    if kind == "range":
        count = len(policy)
        lead = (np.int64(policy.begin), np.int64(policy.end))
    elif kind == "mdrange":
        count = int(np.prod(policy.extents))
        lead = tuple(np.int64(v) for be in zip(policy.begin, policy.extents) for v in be)
        lead += (np.int64(count),)
    else:
        count = policy.league_size
        lead = (np.int64(policy.league_size), np.int64(policy.team_size))
    if count == 0:
        return reducer.finish(ident, -1)
    stream = policy.space.launch_stream()
    key = ("reduce", kind, n, rank, id(reducer), reducer.name, dtype.str)
    drv, fin = _driver(kernel, key, lambda: reduce_source(n, reducer, kind, rank, dtype),
                       reducer_bindings(kernel, reducer), names=("drv", "fin"))
    if kind == "team":
        grid, block, shared = _team_grid(policy), policy.team_size, policy.scratch_size
    else:
        (grid, block), shared = _grid(count), 0
    part = device_array(grid, dtype)
    ploc = device_array(grid, np.int64)
    _call(drv, grid, block, (*lead, ident, part, ploc, *args), shared, stream)
    res = device_array(1, dtype)
    rloc = device_array(1, np.int64)
    _call(fin, 1, block_size(), (np.int64(grid), ident, part, ploc, res, rloc), 0, stream)
    value, loc = _fetch(stream, res, rloc)
    return reducer.finish(value, int(loc))


def _scan_launch(policy, kernel, key, make_source, dtype):
    """What a scan's three passes share: its kernels, grid and block, the block sums
    ``part``, the thread sums ``tsum``, the ``total``, the range and the stream."""
    drivers = _driver(kernel, key, make_source, {"_k": kernel},
                      names=("scan_sums", "scan_part", "scan_write"))
    grid, block = _grid(len(policy))
    buffers = (device_array(grid, dtype), device_array(grid * block, dtype),
               device_array(1, dtype))
    lead = (np.int64(policy.begin), np.int64(policy.end))
    return (drivers, grid, block, *buffers, lead, policy.space.launch_stream())


def parallel_scan(policy, kernel, args, out, inclusive):
    _check_args(args)
    if isinstance(out, np.ndarray):
        raise TypeError("parallel_scan: out is a host array; on Cuda it must be a CudaSpace view")
    n = len(args)
    count = len(policy)
    dtype = np.dtype(out.dtype)
    zero = dtype.type(0)
    if count == 0:
        if not inclusive and out.shape[0] > 0:
            fill(out[0:1], zero)
        return zero.item()
    (p1, p2, p3), grid, block, part, tsum, total, lead, stream = _scan_launch(
        policy, kernel, ("scan", n, dtype.str), lambda: scan_source(n, dtype), dtype)
    _call(p1, grid, block, (*lead, zero, out, part, tsum, *args), 0, stream)
    _call(p2, 1, 1, (np.int64(grid), zero, part, total, out, np.int64(count),
                     np.bool_(inclusive)), 0, stream)
    _call(p3, grid, block, (*lead, out, part, tsum, np.bool_(inclusive)), 0, stream)
    return _fetch(stream, total)[0].item()


def parallel_scan_final(policy, kernel, args):
    """Kokkos's ``parallel_scan`` of a functor ``kernel(i, update, final, *args)``,
    which writes its own output; returns the total."""
    _check_args(args)
    n = len(args)
    count = len(policy)
    dtype = scan_update_dtype(kernel, args)
    zero = dtype.type(0)
    if count == 0:
        return zero.item()
    (p1, p2, p3), grid, block, part, tsum, total, lead, stream = _scan_launch(
        policy, kernel, ("scanf", n, dtype.str), lambda: scan_final_source(n), dtype)
    _call(p1, grid, block, (*lead, zero, part, tsum, *args), 0, stream)
    _call(p2, 1, 1, (np.int64(grid), zero, part, total, part, np.int64(grid), np.bool_(True)),
          0, stream)
    _call(p3, grid, block, (*lead, part, tsum, *args), 0, stream)
    return _fetch(stream, total)[0].item()


def _fetch(stream, *arrays):
    """``a[0]`` of each device array on the host once ``stream`` has reached them
    (a reduction's results): one wait for all of them."""
    hosts = [a.copy_to_host(stream=stream) for a in arrays]
    host_wait(stream)
    return [h[0] for h in hosts]


def return_dtype(kernel, index_types, args):
    """The numpy dtype ``kernel`` returns, from numba's typing of its host form.

    Typing needs no GPU: a device array has the same numba type as a host
    array of its dtype, rank and layout.
    """
    return _host_return_dtype(kernel, index_types, args)
