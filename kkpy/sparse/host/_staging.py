"""Staging moves of the host's one-pass kernels: chunks publish their rows, then compact.

A one-pass kernel writes each chunk's rows into a region of a staging
buffer sized by upper bounds; :func:`publish` and :func:`compact` move them
to their final place (see :mod:`kkpy.sparse._staged`).
"""
from __future__ import annotations

import numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from kkpy.core import atomic_compare_exchange, atomic_load, atomic_store
from kkpy.core import kernel


@intrinsic
def _memmove(typingctx, a, d, s, n):
    """``a[d:d + n] = a[s:s + n]`` by libc's ``memmove`` (overlap allowed), ``a`` contiguous.

    About twice as fast as an element loop, which the compiler cannot turn
    into ``memmove`` itself; the call is an LLVM intrinsic, so a kernel that
    makes it still caches on disk.
    """
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        dst, src, count = (context.cast(builder, v, t, types.intp)
                           for v, t in zip(args[1:], sig.args[1:]))
        size = context.get_abi_sizeof(context.get_data_type(sig.args[0].dtype))
        cgutils.raw_memmove(builder, builder.gep(ary.data, [dst]), builder.gep(ary.data, [src]),
                            count, size)
        return context.get_dummy_value()

    return types.none(a, d, s, n), codegen


@numba.njit(cache=True)
def move(s, d, n, ent, val, with_values):
    """Move ``n`` entries from ``s`` to ``d <= s`` (overlap is safe)."""
    if s != d and n > 0:
        _memmove(ent, d, s, n)
        if with_values:
            _memmove(val, d, s, n)


@numba.njit(cache=True)
def publish(c, region, count, dest, done, state, ent, val, with_values):
    """Mark chunk ``c`` finished, and slide finished chunks to their final place.

    Chunk ``f`` can move once every chunk before it has moved (then its
    destination ``dest[f]`` is known and no unmoved rows lie there).  The
    thread that finishes a chunk takes the lock ``state[1]`` if it is free
    and advances the frontier ``state[0]`` over finished chunks, while the
    other threads go on computing: the move overlaps the work.  A chunk
    that finishes while another thread holds the lock is left for the next
    advance, or for the sweep after the kernel.
    """
    atomic_store(done, c, 1)
    if atomic_compare_exchange(state, 1, 0, 1) != 0:
        return
    f = state[0]
    while f < count.shape[0] and atomic_load(done, f) == 1:
        move(region[f], dest[f], count[f], ent, val, with_values)
        dest[f + 1] = dest[f] + count[f]
        f += 1
    state[0] = f
    atomic_store(state, 1, 0)


@kernel
def compact(_, region, dest, count, ent, val, with_values):
    """Move every chunk's rows left, from ``region[c]`` to ``dest[c]``, in place.

    Chunk ``c``'s destination may overlap the source of an earlier chunk,
    never of a later one, so a single pass in chunk order is safe; it moves
    each entry once, at memory speed, and needs no second buffer.
    """
    for c in range(count.shape[0]):
        move(region[c], dest[c], count[c], ent, val, with_values)
