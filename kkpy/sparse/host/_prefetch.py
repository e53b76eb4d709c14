"""Software prefetch for the row loops of sparse products.

A row of ``A @ B`` reads the rows of ``B`` that ``A``'s row names: scattered
reads, each a likely cache miss that the processor cannot foresee.
:func:`ahead` asks for the rows a few entries ahead, so their memory is on
its way while the current ones are used; on a power-law product this took a
third off the numeric phase.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .._tuning import PREFETCH_DISTANCE

# Unsigned, as the indices they are added to.  B's row map is read twice as
# far ahead: the row's start must be in cache before its entries can be asked for.
_DISTANCE = np.uint64(PREFETCH_DISTANCE)
_TWICE = np.uint64(2 * PREFETCH_DISTANCE)


def prefetch(a, i):
    """Hint that ``a[i]`` will be read soon; does nothing outside compiled code."""


@intrinsic
def _prefetch(typingctx, a, i):
    if not (isinstance(a, types.Array) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        byte_ptr = builder.bitcast(builder.gep(ary.data, [index]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read, keep in all cache levels, data cache; a prefetch never faults
        builder.call(fn, [byte_ptr, ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(a, i), codegen


@overload(prefetch, target="cpu")
def _prefetch_impl(a, i):
    if isinstance(a, types.Array) and isinstance(i, types.Integer):
        return lambda a, i: _prefetch(a, i)


@numba.njit(cache=True)
def ahead(p, a_ent, b_rm, b_ent, b_val):
    """Prefetch the start of ``B``'s row for ``A``'s entry ``p + PREFETCH_DISTANCE``.

    Straight-line code (indices clamped, not branched on), which keeps numba
    from reference counting the arrays on every call.
    """
    last = np.uint64(a_ent.shape[0] - 1)
    prefetch(b_rm, a_ent[min(p + _TWICE, last)])
    start = b_rm[np.uint64(a_ent[min(p + _DISTANCE, last)])]
    prefetch(b_ent, start)
    prefetch(b_val, start)
