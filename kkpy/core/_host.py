"""The host backend: pattern drivers for ``Serial`` and ``Threads``.

Each pattern is a small source template; :func:`~kkpy.core._codegen.build_driver`
turns it into a cached numba function.  ``Threads`` compiles the same text with
``parallel=True`` so that ``prange`` loops run on numba's thread pool;
``Serial`` compiles it without, so ``prange`` is a plain ``range``.

Reductions and scans split the range into a fixed number of chunks that does
not depend on the thread count, and combine the chunk results in order: the
answer is bitwise the same on 1 or 16 threads.
"""
from __future__ import annotations

import numba
import numpy as np

from ._codegen import build_driver
from ._reducers import Reducer

#: Chunks per reduction or scan; fixed, so results don't depend on threads.
NCHUNK = 512

_drivers: dict = {}
_threads_now = [None]


def _argnames(nargs):
    return "".join(f", a{n}" for n in range(nargs))


def _set_threads(space):
    n = space.concurrency()
    if _threads_now[0] != n:
        numba.set_num_threads(n)
        _threads_now[0] = n


def _chunk_bounds(first, n, indent):
    pad = " " * indent
    return (f"{pad}lo = {first} + (n * c) // nchunk\n"
            f"{pad}hi = {first} + (n * (c + 1)) // nchunk\n")


# -- templates ------------------------------------------------------------------

def _for_range(nargs):
    a = _argnames(nargs)
    return f"""
@DRIVER
def drv(beg, end{a}):
    for i in prange(beg, end):
        _k(i{a})
"""


def _md_loops(rank, tiled, indent, call):
    """Nested loops over an MDRange; the outermost (or the tile loop) is a prange."""
    pad = " " * indent
    idx = ", ".join(f"i{d}" for d in range(rank))
    lines = []
    if not tiled:
        lines.append(f"{pad}for i0 in prange(b0, e0):")
        for d in range(1, rank):
            lines.append(f"{pad}{'    ' * d}for i{d} in range(b{d}, e{d}):")
        lines.append(f"{pad}{'    ' * rank}{call.format(idx=idx)}")
        return "\n".join(lines)
    for d in range(rank):
        lines.append(f"{pad}n{d} = (e{d} - b{d} + t{d} - 1) // t{d}")
    lines.append(f"{pad}ntiles = " + " * ".join(f"n{d}" for d in range(rank)))
    lines.append(f"{pad}for t in prange(ntiles):")
    lines.append(f"{pad}    r = t")
    for d in reversed(range(rank)):  # last index varies fastest, like LayoutRight
        lines.append(f"{pad}    q{d} = r % n{d}")
        lines.append(f"{pad}    r //= n{d}")
    for d in range(rank):
        lines.append(f"{pad}    lo{d} = b{d} + q{d} * t{d}")
        lines.append(f"{pad}    hi{d} = min(lo{d} + t{d}, e{d})")
    for d in range(rank):
        lines.append(f"{pad}    {'    ' * d}for i{d} in range(lo{d}, hi{d}):")
    lines.append(f"{pad}    {'    ' * rank}{call.format(idx=idx)}")
    return "\n".join(lines)


def _md_params(rank, tiled):
    p = "".join(f", b{d}, e{d}" for d in range(rank))
    if tiled:
        p += "".join(f", t{d}" for d in range(rank))
    return p[2:]


def _for_md(nargs, rank, tiled):
    a = _argnames(nargs)
    return f"""
@DRIVER
def drv({_md_params(rank, tiled)}{a}):
{_md_loops(rank, tiled, 4, "_k({idx}" + a + ")")}
"""


def _for_team(nargs):
    a = _argnames(nargs)
    return f"""
@DRIVER
def drv(ls, ts, nscratch, nchunk{a}):
    n = ls
    for c in prange(nchunk):
{_chunk_bounds(0, "n", 8)}        scratch = np.empty(nscratch, np.uint8)
        for lr in range(lo, hi):
            for tr in range(ts):
                _k(make_team_member(lr, ls, tr, ts, scratch){a})
"""


def _join_lines(reducer, indent, a="a", b="b", i="i", li="li"):
    pad = " " * indent
    if reducer.loc:
        return (f"{pad}if {li} < 0 or ({reducer.expr.format(a=a, b=b)}):\n"
                f"{pad}    {a} = {b}\n{pad}    {li} = {i}\n")
    if reducer.expr is not None:
        return f"{pad}{a} = {reducer.expr.format(a=a, b=b)}\n"
    return f"{pad}{a} = _j({a}, {b})\n"


def _reduce(nargs, reducer, kind, rank=0):
    """Chunked reduction over a range, an MDRange (chunks of the first index) or a league."""
    a = _argnames(nargs)
    if kind == "range":
        params, first, n = "beg, end", "beg", "end - beg"
        body = (f"            b = _k(i{a})\n" + _join_lines(reducer, 12)).replace("\n", "\n    ")
        inner = f"        for i in range(lo, hi):\n    {body}"
    elif kind == "mdrange":
        params, first, n = _md_params(rank, False), "b0", "e0 - b0"
        idx = ", ".join(f"i{d}" for d in range(rank))
        inner = "        for i0 in range(lo, hi):\n"
        for d in range(1, rank):
            inner += f"        {'    ' * d}for i{d} in range(b{d}, e{d}):\n"
        pad = 8 + 4 * rank
        inner += f"{' ' * pad}b = _k({idx}{a})\n" + _join_lines(reducer, pad)
    else:  # team
        params, first, n = "ls, ts, nscratch", "0", "ls"
        inner = ("        scratch = np.empty(nscratch, np.uint8)\n"
                 "        for lr in range(lo, hi):\n"
                 "            for tr in range(ts):\n"
                 f"                b = _k(make_team_member(lr, ls, tr, ts, scratch){a})\n"
                 + _join_lines(reducer, 16))
    loc_init = "        li = -1\n" if reducer.loc else ""
    loc_store = "        ploc[c] = li\n" if reducer.loc else ""
    final_join = _join_lines(reducer, 8, a="acc", b="part[c]", i="ploc[c]", li="lacc")
    return f"""
@DRIVER
def drv({params}, nchunk, ident{a}):
    n = {n}
    part = np.full(nchunk, ident)
    ploc = np.full(nchunk, -1, np.int64)
    for c in prange(nchunk):
{_chunk_bounds(first, "n", 8)}        a = ident
{loc_init}{inner.rstrip()}
        part[c] = a
{loc_store}    acc = ident
    lacc = -1
    for c in range(nchunk):
        if ploc[c] < 0 and {int(reducer.loc)}:
            continue
{final_join}    return acc, lacc
"""


def _scan(nargs):
    a = _argnames(nargs)
    return f"""
@DRIVER
def drv(beg, end, nchunk, out, inclusive{a}):
    n = end - beg
    part = np.zeros(nchunk, out.dtype)
    for c in prange(nchunk):
{_chunk_bounds("beg", "n", 8)}        s = part[c]
        for i in range(lo, hi):
            out[i - beg] = _k(i{a})
            s += out[i - beg]
        part[c] = s
    run = part[0] - part[0]
    for c in range(nchunk):
        t = part[c]
        part[c] = run
        run += t
    for c in prange(nchunk):
{_chunk_bounds("beg", "n", 8)}        r = part[c]
        for i in range(lo, hi):
            v = out[i - beg]
            if inclusive:
                r += v
                out[i - beg] = r
            else:
                out[i - beg] = r
                r += v
    if not inclusive and out.shape[0] > n:
        out[n] = run
    return run
"""


# -- launchers ------------------------------------------------------------------

def _driver(space, kernel, key, make_source, bindings):
    full = (id(kernel), space.parallel, key)
    hit = _drivers.get(full)
    if hit is None:
        drv = build_driver(make_source(), "drv", bindings, parallel=space.parallel,
                           fastmath=kernel.fastmath)
        hit = _drivers[full] = (drv, kernel, bindings)  # keep objects alive: ids stay unique
    return hit[0]


def _with_schedule(policy, call):
    if policy.space.parallel and getattr(policy, "schedule", "static") == "dynamic":
        old = numba.set_parallel_chunksize(policy.chunk or 1)
        try:
            return call()
        finally:
            numba.set_parallel_chunksize(old)
    return call()


def parallel_for(policy, kernel, args):
    space = policy.space
    if space.parallel:
        _set_threads(space)
    n = len(args)
    kind = policy.kind
    if kind == "range":
        drv = _driver(space, kernel, ("for", n), lambda: _for_range(n), {"_k": kernel})
        _with_schedule(policy, lambda: drv(policy.begin, policy.end, *args))
    elif kind == "mdrange":
        tiled = policy.tile is not None
        drv = _driver(space, kernel, ("md", n, policy.rank, tiled),
                      lambda: _for_md(n, policy.rank, tiled), {"_k": kernel})
        bounds = [v for be in zip(policy.begin, policy.end) for v in be]
        drv(*bounds, *(policy.tile or ()), *args)
    else:
        drv = _driver(space, kernel, ("team", n), lambda: _for_team(n), {"_k": kernel})
        nchunk = min(policy.league_size, max(1, 8 * space.concurrency()))
        drv(policy.league_size, policy.team_size, policy.scratch_size, nchunk, *args)


def _bindings(kernel, reducer):
    b = {"_k": kernel}
    if reducer.expr is None:
        from ._kernel import as_kernel

        b["_j"] = as_kernel(reducer.join)
    return b


def parallel_reduce(policy, kernel, args, reducer, value_dtype):
    space = policy.space
    if space.parallel:
        _set_threads(space)
    n = len(args)
    kind = policy.kind
    dtype = reducer.result_dtype(value_dtype)
    ident = reducer.identity(dtype)
    key = ("reduce", kind, n, getattr(policy, "rank", 0), id(reducer), reducer.name)
    drv = _driver(space, kernel, key, lambda: _reduce(n, reducer, kind, getattr(policy, "rank", 0)),
                  _bindings(kernel, reducer))
    if kind == "range":
        length = len(policy)
        lead = (policy.begin, policy.end)
    elif kind == "mdrange":
        length = policy.extents[0] if all(policy.extents) else 0
        lead = tuple(v for be in zip(policy.begin, policy.end) for v in be)
    else:
        length = policy.league_size
        lead = (policy.league_size, policy.team_size, policy.scratch_size)
    nchunk = max(1, min(length, NCHUNK))
    value, loc = _with_schedule(policy, lambda: drv(*lead, nchunk, ident, *args))
    if length == 0:
        value, loc = ident, -1
    return reducer.finish(value, loc)


def parallel_scan(policy, kernel, args, out, inclusive):
    space = policy.space
    if space.parallel:
        _set_threads(space)
    n = len(args)
    drv = _driver(space, kernel, ("scan", n), lambda: _scan(n), {"_k": kernel})
    nchunk = max(1, min(len(policy), NCHUNK))
    total = drv(policy.begin, policy.end, nchunk, out, bool(inclusive), *args)
    return total.item() if hasattr(total, "item") else total


def return_dtype(kernel, index_types, args):
    """The numpy dtype a kernel returns for these arguments (compiling it if needed)."""
    from numba.core import types
    from numba.np.numpy_support import as_dtype

    disp = kernel.host
    sig = tuple(index_types) + tuple(numba.typeof(a, numba.core.typing.typeof.Purpose.argument)
                                     for a in args)
    disp.compile(sig)
    for s in disp.nopython_signatures:
        if s.args == sig:
            rt = s.return_type
            break
    else:  # numba may have converted arguments (e.g. literal ints); take the latest
        rt = disp.nopython_signatures[-1].return_type
    if isinstance(rt, types.Boolean):
        return np.dtype(np.bool_)
    try:
        return as_dtype(rt)
    except Exception:
        raise TypeError(f"kernel '{kernel.name}' must return a scalar for a reduction "
                        f"or scan, but it returns {rt}") from None


__all__ = ["parallel_for", "parallel_reduce", "parallel_scan", "return_dtype", "Reducer"]
