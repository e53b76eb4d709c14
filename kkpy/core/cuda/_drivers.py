"""Source templates of the Cuda pattern drivers, and each kernel's device form.

A driver is a ``@cuda.jit`` kernel that maps GPU threads onto a policy's
indices and calls the user's kernel, compiled as a device function, for each.
The text goes through :func:`kkpy.core._codegen.build_driver` like the host
templates, so it becomes a real file and numba-cuda caches the compiled
kernel on disk.  Each template starts with its own prelude (``build_driver``
only knows the host's imports) and asks for the disk cache only when it runs
from such a file.
"""
from __future__ import annotations

import numpy as np
from numba import cuda
from numba.core import config

__all__ = ["block_size", "device_form", "for_range", "for_md", "for_team", "reduce_source",
           "scan_source", "scan_final_source"]

#: Threads per block of range, MDRange and reduction launches.  The simulator
#: runs every GPU thread as a Python thread, so it gets small blocks.
_BLOCK = 32 if config.ENABLE_CUDASIM else 256
#: Upper bound of a thread block (team) size; sizes shared arrays of reductions.
MAX_BLOCK = 1024

_forms: dict = {}


def block_size() -> int:
    """Threads per block that range launches use."""
    return _BLOCK


def device_form(obj):
    """``numba.cuda.jit(device=True)`` of a kernel's Python function, made once.

    Also stored as ``kernel.forms["cuda"]`` when ``obj`` is a Kernel.
    """
    from .._kernel import Kernel, as_kernel

    k = obj if isinstance(obj, Kernel) else as_kernel(obj)
    key = (k.py_func, k.fastmath)
    form = _forms.get(key)
    if form is None:
        form = _forms[key] = cuda.jit(device=True, fastmath=bool(k.fastmath))(k.py_func)
    k.forms.setdefault("cuda", form)
    return form


def _prelude(join=False, team=False):
    lines = [
        "from numba import cuda",
        "from kkpy.core.cuda._drivers import device_form as _device_form",
        # exec'd drivers have no file for numba-cuda's cache to key on
        '_CACHE = "__file__" in globals()',
        "_kd = _device_form(_k)",
    ]
    if join:
        lines.append("_jd = _device_form(_j)")
    if team:
        lines.append("from kkpy.core.cuda._team import make_cuda_member")
    return "\n".join(lines) + "\n"


def _argnames(nargs):
    return "".join(f", a{n}" for n in range(nargs))


def _np_type(dtype):
    return "np." + np.dtype(dtype).type.__name__


# -- index loops ----------------------------------------------------------------

def _range_loop(body, pad="    "):
    return (f"{pad}i = beg + cuda.grid(1)\n"
            f"{pad}step = cuda.gridsize(1)\n"
            f"{pad}while i < end:\n"
            f"{body(pad + '    ')}"
            f"{pad}    i += step\n")


def _md_params(rank):
    return ", ".join(f"b{d}, n{d}" for d in range(rank)) + ", total"


def _md_loop(rank, body, pad="    "):
    """Grid-stride loop over the flattened MDRange; the last index varies fastest."""
    lines = [f"{pad}t = cuda.grid(1)", f"{pad}step = cuda.gridsize(1)", f"{pad}while t < total:",
             f"{pad}    r = t"]
    for d in reversed(range(1, rank)):
        lines.append(f"{pad}    i{d} = b{d} + r % n{d}")
        lines.append(f"{pad}    r //= n{d}")
    lines.append(f"{pad}    i0 = b0 + r")
    return "\n".join(lines) + "\n" + body(pad + "    ") + f"{pad}    t += step\n"


def _team_loop(body, pad="    "):
    """Teams are blocks; a block runs further league ranks if the grid is smaller."""
    return (f"{pad}scratch = cuda.shared.array(0, dtype=numba.uint8)\n"
            f"{pad}tr = cuda.threadIdx.x\n"
            f"{pad}lr = ls - ls + cuda.blockIdx.x\n"
            f"{pad}while lr < ls:\n"
            f"{pad}    member = make_cuda_member(lr, ls, tr, ts, scratch)\n"
            f"{body(pad + '    ')}"
            # the next league rank reuses the scratch memory
            f"{pad}    cuda.syncthreads()\n"
            f"{pad}    lr += cuda.gridDim.x\n")


def for_range(nargs):
    a = _argnames(nargs)
    return _prelude() + f"""
@cuda.jit(cache=_CACHE)
def drv(beg, end{a}):
{_range_loop(lambda p: f"{p}_kd(i{a})" + chr(10))}"""


def for_md(nargs, rank):
    a = _argnames(nargs)
    idx = ", ".join(f"i{d}" for d in range(rank))
    return _prelude() + f"""
@cuda.jit(cache=_CACHE)
def drv({_md_params(rank)}{a}):
{_md_loop(rank, lambda p: f"{p}_kd({idx}{a})" + chr(10))}"""


def for_team(nargs):
    a = _argnames(nargs)
    return _prelude(team=True) + f"""
@cuda.jit(cache=_CACHE)
def drv(ls, ts{a}):
{_team_loop(lambda p: f"{p}_kd(member{a})" + chr(10))}"""


# -- reductions -----------------------------------------------------------------

def _fold_value(reducer, pad):
    """Join the kernel's value ``b`` (of index ``i``) into ``acc`` / ``li``."""
    if reducer.loc:
        cond = reducer.expr.format(a="acc", b="b")
        return f"{pad}if li < 0 or ({cond}):\n{pad}    acc = b\n{pad}    li = i\n"
    return _fold_partial(reducer, pad, "acc", "b")


def _fold_partial(reducer, pad, a, b, la="la", lb="lb"):
    """Join partial result ``b`` (index ``lb``) into ``a`` (index ``la``)."""
    if reducer.loc:
        take = reducer.expr.format(a=a, b=b)
        other = reducer.expr.format(a=b, b=a)
        # the lower index wins ties, as on the host
        return (f"{pad}if {lb} >= 0 and ({la} < 0 or ({take}) or ({lb} < {la} and not ({other}))):\n"
                f"{pad}    {a} = {b}\n{pad}    {la} = {lb}\n")
    if reducer.expr is not None:
        return f"{pad}{a} = {reducer.expr.format(a=a, b=b)}\n"
    return f"{pad}{a} = _jd({a}, {b})\n"


def _tree(reducer, dt, pad="    "):
    """Combine the block's per-thread partials in a fixed order; thread 0 gets the result."""
    fold = _fold_partial(reducer, pad + "        ", "x", "y", "lx", "ly")
    return (f"{pad}sv = cuda.shared.array({MAX_BLOCK}, dtype={dt})\n"
            f"{pad}sl = cuda.shared.array({MAX_BLOCK}, dtype=np.int64)\n"
            f"{pad}tid = cuda.threadIdx.x\n"
            f"{pad}sv[tid] = acc\n"
            f"{pad}sl[tid] = li\n"
            f"{pad}cuda.syncthreads()\n"
            f"{pad}m = cuda.blockDim.x\n"
            f"{pad}while m > 1:\n"
            f"{pad}    h = (m + 1) // 2\n"
            f"{pad}    if tid < m - h:\n"
            f"{pad}        x = sv[tid]\n"
            f"{pad}        lx = sl[tid]\n"
            f"{pad}        y = sv[tid + h]\n"
            f"{pad}        ly = sl[tid + h]\n"
            f"{fold}"
            f"{pad}        sv[tid] = x\n"
            f"{pad}        sl[tid] = lx\n"
            f"{pad}    cuda.syncthreads()\n"
            f"{pad}    m = h\n")


def reduce_source(nargs, reducer, kind, rank, dtype):
    """``drv`` reduces each block's indices to ``part``; ``fin`` (one block) reduces ``part``."""
    a = _argnames(nargs)
    dt = _np_type(dtype)
    # MinLoc/MaxLoc keep the index ``i``: an MDRange's row-major offset ``t``
    # (unravelled by the caller), a team's league rank.
    where = {"range": "", "mdrange": "i = t", "team": "i = lr"}[kind] if reducer.loc else ""
    fold = lambda p: (f"{p}b = _kd({call}{a})\n" + (f"{p}{where}\n" if where else "")  # noqa: E731
                      + _fold_value(reducer, p))
    if kind == "range":
        params, call, loop = "beg, end", "i", _range_loop
    elif kind == "mdrange":
        params, call = _md_params(rank), ", ".join(f"i{d}" for d in range(rank))
        loop = lambda body: _md_loop(rank, body)  # noqa: E731
    else:
        params, call, loop = "ls, ts", "member", _team_loop
    fin_fold = _fold_partial(reducer, "        ", "acc", "part[c]", "li", "ploc[c]")
    return _prelude(join=reducer.expr is None, team=kind == "team") + f"""
@cuda.jit(cache=_CACHE)
def drv({params}, ident, part, ploc{a}):
    acc = ident
    li = np.int64(-1)
{loop(fold)}{_tree(reducer, dt)}    if tid == 0:
        part[cuda.blockIdx.x] = sv[0]
        ploc[cuda.blockIdx.x] = sl[0]


@cuda.jit(cache=_CACHE)
def fin(nb, ident, part, ploc, res, rloc):
    acc = ident
    li = np.int64(-1)
    c = cuda.threadIdx.x
    while c < nb:
{fin_fold}        c += cuda.blockDim.x
{_tree(reducer, dt)}    if tid == 0:
        res[0] = sv[0]
        rloc[0] = sl[0]
"""


# -- scans ----------------------------------------------------------------------

_SCAN_BOUNDS = """\
    nb = cuda.gridDim.x
    c = cuda.blockIdx.x
    t = cuda.threadIdx.x
    bs = cuda.blockDim.x
    n = end - beg
    lo = (n * c) // nb
    m = (n * (c + 1)) // nb - lo
    slo = lo + (m * t) // bs
    shi = lo + (m * (t + 1)) // bs
"""


# Each thread's sum ``s`` to tsum, and thread 0's total of the block to part.
_BLOCK_TOTAL = """\
    tsum[c * bs + t] = s
    cuda.syncthreads()
    if t == 0:
        tot = zero
        for u in range(bs):
            tot += tsum[c * bs + u]
        part[c] = tot
"""

# The sum before each block, in one thread: the blocks are few.
_SCAN_PART = """
@cuda.jit(cache=_CACHE)
def scan_part(nb, zero, part, total, out, n, inclusive):
    run = zero
    for c in range(nb):
        v = part[c]
        part[c] = run
        run += v
    total[0] = run
    if not inclusive and out.shape[0] > n:
        out[n] = run
"""

# The sum before this thread's piece: its block's, plus its block's earlier threads'.
_THREAD_START = """\
    r = part[c]
    for u in range(t):
        r += tsum[c * bs + u]
"""


def scan_source(nargs, dtype):
    """Three kernels: per-thread and per-block sums, a scan of the block sums, the writes.

    Block ``c`` owns a contiguous chunk of the range and each of its threads
    a contiguous piece of that, so the sums follow index order within each
    thread.
    """
    a = _argnames(nargs)
    return _prelude() + f"""
@cuda.jit(cache=_CACHE)
def scan_sums(beg, end, zero, out, part, tsum{a}):
{_SCAN_BOUNDS}    s = zero
    for k in range(slo, shi):
        out[k] = _kd(beg + k{a})
        s += out[k]
{_BLOCK_TOTAL}
{_SCAN_PART}

@cuda.jit(cache=_CACHE)
def scan_write(beg, end, out, part, tsum, inclusive):
{_SCAN_BOUNDS}{_THREAD_START}    for k in range(slo, shi):
        v = out[k]
        if inclusive:
            r += v
            out[k] = r
        else:
            out[k] = r
            r += v
"""


def scan_final_source(nargs):
    """Kokkos's functor form ``f(i, update, final, *args)``: :func:`scan_source`'s
    passes, where each thread first runs ``f`` over its piece with ``final``
    false (its sum), then again from its prefix with ``final`` true, when ``f``
    writes.  ``scan_part`` is called with ``out = part``, so it stores no total.
    """
    a = _argnames(nargs)
    return _prelude() + f"""
@cuda.jit(cache=_CACHE)
def scan_sums(beg, end, zero, part, tsum{a}):
{_SCAN_BOUNDS}    s = zero
    for k in range(slo, shi):
        s = _kd(beg + k, s, False{a})
{_BLOCK_TOTAL}
{_SCAN_PART}

@cuda.jit(cache=_CACHE)
def scan_write(beg, end, part, tsum{a}):
{_SCAN_BOUNDS}{_THREAD_START}    for k in range(slo, shi):
        r = _kd(beg + k, r, True{a})
"""
