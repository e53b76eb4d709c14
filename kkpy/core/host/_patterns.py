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

import threading

import numba
import numpy as np

from .._codegen import build_driver
from .._compile_notice import watch
from .._kernel import with_slp_vectorize
from .._kernel_typing import reducer_bindings, return_dtype, scan_update_dtype
from .._reducers import Reducer

#: Chunks per reduction or scan; fixed, so results don't depend on threads.
NCHUNK = 512

def _argnames(nargs):
    return "".join(f", a{n}" for n in range(nargs))


def _chunk_bounds(first, n, indent):
    pad = " " * indent
    return (f"{pad}lo = {first} + (n * c) // nchunk\n"
            f"{pad}hi = {first} + (n * (c + 1)) // nchunk\n")


# -- templates ------------------------------------------------------------------

def _for_range(nargs):
    a = _argnames(nargs)
    # A single index cannot be shared among threads; calling the kernel inline
    # saves waking the thread pool (microseconds, far more on a busy machine).
    return f"""
@DRIVER
def drv(beg, end{a}):
    if end - beg == 1:
        _k(beg{a})
    else:
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
    # Tile t has coordinates q_d = (t // s_d) % n_d; the last index varies
    # fastest, like LayoutRight.  (No running remainder: numba refuses any
    # variable that starts as a copy of the prange index and is then updated.)
    lines.append(f"{pad}s{rank - 1} = 1")
    for d in reversed(range(rank - 1)):
        lines.append(f"{pad}s{d} = s{d + 1} * n{d + 1}")
    lines.append(f"{pad}ntiles = s0 * n0")
    lines.append(f"{pad}for t in prange(ntiles):")
    for d in range(rank):
        lines.append(f"{pad}    q{d} = (t // s{d}) % n{d}")
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
        inner += f"{' ' * pad}b = _k({idx}{a})\n"
        if reducer.loc:  # MinLoc/MaxLoc: the row-major offset, unravelled by the caller
            flat = "(i0 - b0)"
            for d in range(1, rank):
                flat = f"({flat} * (e{d} - b{d}) + (i{d} - b{d}))"
            inner += f"{' ' * pad}i = {flat}\n"
        inner += _join_lines(reducer, pad)
    else:  # team
        params, first, n = "ls, ts, nscratch", "0", "ls"
        inner = ("        scratch = np.empty(nscratch, np.uint8)\n"
                 "        for lr in range(lo, hi):\n"
                 "            for tr in range(ts):\n"
                 f"                b = _k(make_team_member(lr, ls, tr, ts, scratch){a})\n"
                 + _join_lines(reducer, 16, i="lr"))
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


def _scan_final(nargs):
    """Kokkos's two-pass scan: ``_k(i, update, final)`` returns the new ``update``."""
    a = _argnames(nargs)
    return f"""
@DRIVER
def drv(beg, end, nchunk, zero, part{a}):
    n = end - beg
    for c in prange(nchunk):
{_chunk_bounds("beg", "n", 8)}        s = zero
        for i in range(lo, hi):
            s = _k(i, s, False{a})
        part[c] = s
    run = zero
    for c in range(nchunk):
        t = part[c]
        part[c] = run
        run = run + t
    for c in prange(nchunk):
{_chunk_bounds("beg", "n", 8)}        r = part[c]
        for i in range(lo, hi):
            r = _k(i, r, True{a})
    return run
"""


# -- launchers ------------------------------------------------------------------

_tls = threading.local()

#: The pattern each driver kind implements, to name it in compile notices.
_PATTERN = {"for": "parallel_for", "md": "parallel_for", "team": "parallel_for",
            "reduce": "parallel_reduce", "scan": "parallel_scan", "scanf": "parallel_scan"}


def _set_threads(space):
    # numba's thread count is per calling thread, so remember it per thread too.
    n = space.concurrency()
    if getattr(_tls, "threads", None) != n:
        numba.set_num_threads(n)
        _tls.threads = n


def _driver(space, kernel, key, template, targs, bindings=None):
    """The compiled driver for ``kernel``, memoised on the kernel itself.

    The memo keeps ``bindings`` alive, so the ids in the code generator's key
    stay unique.
    """
    # numba cannot raise from its threads: a bounds-checked kernel's IndexError
    # would be lost there, so such a kernel runs on one thread.
    parallel = space.parallel and not getattr(kernel, "boundscheck", False)
    full = (parallel, key)
    hit = kernel.forms.get(full)
    if hit is None:
        bindings = bindings or {"_k": kernel}
        drv = build_driver(template(*targs), "drv", bindings, parallel=parallel,
                           fastmath=kernel.fastmath)
        if any(getattr(b, "slp_vectorize", False) for b in bindings.values()):
            drv = with_slp_vectorize(drv)
        drv = watch(drv, f"{_PATTERN[key[0]]} '{kernel.name}'")
        hit = kernel.forms[full] = (drv, bindings)
    return hit[0]


def _dynamic(policy):
    return policy.space.parallel and getattr(policy, "schedule", "static") == "dynamic"


def _call_dynamic(policy, drv, *args):
    old = numba.set_parallel_chunksize(policy.chunk or 1)
    try:
        return drv(*args)
    finally:
        numba.set_parallel_chunksize(old)


def parallel_for(policy, kernel, args):
    space = policy.space
    if space.parallel:
        _set_threads(space)
    n = len(args)
    kind = policy.kind
    if kind == "range":
        hit = kernel.forms.get((space.parallel, ("for", n)))  # inline fast path of _driver
        drv = hit[0] if hit is not None else _driver(space, kernel, ("for", n), _for_range, (n,))
        if policy.schedule == "dynamic" and space.parallel:
            _call_dynamic(policy, drv, policy.begin, policy.end, *args)
        else:
            drv(policy.begin, policy.end, *args)
    elif kind == "mdrange":
        tiled = policy.tile is not None
        drv = _driver(space, kernel, ("md", n, policy.rank, tiled), _for_md, (n, policy.rank, tiled))
        bounds = [v for be in zip(policy.begin, policy.end) for v in be]
        drv(*bounds, *(policy.tile or ()), *args)
    else:
        drv = _driver(space, kernel, ("team", n), _for_team, (n,))
        nchunk = min(policy.league_size, max(1, 8 * space.concurrency()))
        drv(policy.league_size, policy.team_size, policy.scratch_size, nchunk, *args)


def parallel_reduce(policy, kernel, args, reducer, value_dtype):
    space = policy.space
    if space.parallel:
        _set_threads(space)
    n = len(args)
    kind = policy.kind
    dtype = reducer.result_dtype(value_dtype)
    ident = reducer.identity(dtype)
    rank = getattr(policy, "rank", 0)
    bindings = reducer_bindings(kernel, reducer)
    # Key on what the code depends on, not on the Reducer object: user reducers
    # are often made on the fly, and a dead one's id may be reused.
    join = reducer.expr if reducer.expr is not None else id(bindings["_j"])
    key = ("reduce", kind, n, rank, reducer.loc, join)
    drv = _driver(space, kernel, key, _reduce, (n, reducer, kind, rank), bindings)
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
    if _dynamic(policy):
        value, loc = _call_dynamic(policy, drv, *lead, nchunk, ident, *args)
    else:
        value, loc = drv(*lead, nchunk, ident, *args)
    if length == 0:
        value, loc = ident, -1
    return reducer.finish(value, loc)


def parallel_scan(policy, kernel, args, out, inclusive):
    space = policy.space
    if space.parallel:
        _set_threads(space)
    n = len(args)
    drv = _driver(space, kernel, ("scan", n), _scan, (n,))
    nchunk = max(1, min(len(policy), NCHUNK))
    if _dynamic(policy):
        total = _call_dynamic(policy, drv, policy.begin, policy.end, nchunk, out, inclusive, *args)
    else:
        total = drv(policy.begin, policy.end, nchunk, out, inclusive, *args)
    return total.item() if hasattr(total, "item") else total


def parallel_scan_final(policy, kernel, args):
    space = policy.space
    if space.parallel:
        _set_threads(space)
    dtype = scan_update_dtype(kernel, args)
    n = len(args)
    drv = _driver(space, kernel, ("scanf", n), _scan_final, (n,))
    nchunk = max(1, min(len(policy), NCHUNK))
    total = drv(policy.begin, policy.end, nchunk, dtype.type(0), np.zeros(nchunk, dtype), *args)
    return total.item() if hasattr(total, "item") else total


__all__ = ["parallel_for", "parallel_reduce", "parallel_scan", "parallel_scan_final", "return_dtype",
           "Reducer"]
