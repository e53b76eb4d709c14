"""GPU implementations of ``kkpy.atomic_*``, so one kernel source runs on Threads and Cuda.

The public functions live in :mod:`kkpy.core._atomics`, which compiles them
for the CPU; this module registers the same functions for numba-cuda's
``cuda`` target.  Semantics are the host's (see that module): values are
converted to the element type, indices are an integer or one per dimension
and may be negative, and a NaN never replaces a stored value in min/max
while a stored NaN stays.

Arithmetic updates map to numba-cuda's ``cuda.atomic`` functions, which use
the GPU's native atomic instructions (their float min/max already follow the
rule above).  Exchange, compare-exchange, load and store of every element
type are built from the host's own code generators: a ``cmpxchg`` on the
element's bits, so floats work too, which ``cuda.atomic.cas`` does not allow.
"""
from __future__ import annotations

from numba import cuda, types
from numba.cuda.extending import intrinsic, overload

from .. import _atomics as _a

__all__: list = []


def _scalar_index(view, index):
    """numba-cuda types a 1-D atomic's index as one integer, never a 1-tuple."""
    return view.ndim == 1 and isinstance(index, types.BaseTuple)


_ADD, _SUB, _MIN, _MAX = range(4)


def _rmw(op, view, index, value):
    # ``op`` is a compile-time constant: the optimiser keeps one branch.
    if op == _ADD:
        return cuda.atomic.add(view, index, value)
    if op == _SUB:
        return cuda.atomic.sub(view, index, value)
    if op == _MIN:
        return cuda.atomic.min(view, index, value)
    return cuda.atomic.max(view, index, value)


_rmw_device = cuda.jit(device=True, inline="always")(_rmw)


def _register_rmw(func, op, fetch):
    name = func.__name__

    @overload(func, target="cuda")
    def impl(view, index, value):
        _a._check_args(name, view, index, (value,))
        dt = view.dtype
        if _scalar_index(view, index):
            if fetch:
                return lambda view, index, value: _rmw_device(op, view, index[0], dt(value))

            def update_one(view, index, value):
                _rmw_device(op, view, index[0], dt(value))

            return update_one
        if fetch:
            return lambda view, index, value: _rmw_device(op, view, index, dt(value))

        def update(view, index, value):
            _rmw_device(op, view, index, dt(value))

        return update


for _func, _op, _fetch in (
        (_a.atomic_add, _ADD, False), (_a.atomic_fetch_add, _ADD, True),
        (_a.atomic_sub, _SUB, False), (_a.atomic_fetch_sub, _SUB, True),
        (_a.atomic_min, _MIN, False), (_a.atomic_fetch_min, _MIN, True),
        (_a.atomic_max, _MAX, False), (_a.atomic_fetch_max, _MAX, True)):
    _register_rmw(_func, _op, _fetch)


# -- bitwise operations, from the host's code generators --------------------------
#
# NVVM takes LLVM's cmpxchg; it knows no ordering stronger than the GPU's
# own, so the host's seq_cst is lowered as the strongest the device has.

@intrinsic
def _gpu_exchange(typingctx, view, index, value):
    def codegen(context, builder, sig, args):
        arrty, idxty, valty = sig.args
        ptr = _a._element_pointer(context, builder, arrty, idxty, args[0], args[1])
        val = context.cast(builder, args[2], valty, arrty.dtype)
        return _swap_loop(builder, ptr, arrty.dtype, val)

    return view.dtype(view, index, value), codegen


def _swap_loop(builder, ptr, dtype, value):
    """Store ``value`` with a cmpxchg loop; return what was there."""
    iptr, ity = _a._int_view(builder, ptr, dtype)
    first = builder.load(iptr)
    entry = builder.block
    loop = builder.append_basic_block("xchg.loop")
    done = builder.append_basic_block("xchg.done")
    builder.branch(loop)
    builder.position_at_end(loop)
    old = builder.phi(ity)
    old.add_incoming(first, entry)
    seen, ok = _a._cas(builder, ptr, dtype, builder.bitcast(old, value.type), value)
    old.add_incoming(builder.bitcast(seen, ity), loop)
    builder.cbranch(ok, done, loop)
    builder.position_at_end(done)
    return builder.bitcast(old, value.type)


@intrinsic
def _gpu_compare_exchange(typingctx, view, index, expected, desired):
    def codegen(context, builder, sig, args):
        arrty, idxty, expty, desty = sig.args
        ptr = _a._element_pointer(context, builder, arrty, idxty, args[0], args[1])
        exp = context.cast(builder, args[2], expty, arrty.dtype)
        des = context.cast(builder, args[3], desty, arrty.dtype)
        return _a._cas(builder, ptr, arrty.dtype, exp, des)[0]

    return view.dtype(view, index, expected, desired), codegen


@overload(_a.atomic_exchange, target="cuda")
def _atomic_exchange(view, index, value):
    _a._check_args("atomic_exchange", view, index, (value,))
    return lambda view, index, value: _gpu_exchange(view, index, value)


@overload(_a.atomic_compare_exchange, target="cuda")
def _atomic_compare_exchange(view, index, expected, desired):
    _a._check_args("atomic_compare_exchange", view, index, (expected, desired))
    return lambda view, index, expected, desired: _gpu_compare_exchange(
        view, index, expected, desired)


@overload(_a.atomic_load, target="cuda")
def _atomic_load(view, index):
    _a._check_args("atomic_load", view, index, write=False)
    zero = view.dtype(0)
    # A compare-exchange of 0 for 0 changes nothing and returns what is there.
    return lambda view, index: _gpu_compare_exchange(view, index, zero, zero)


@overload(_a.atomic_store, target="cuda")
def _atomic_store(view, index, value):
    _a._check_args("atomic_store", view, index, (value,))

    def impl(view, index, value):
        _gpu_exchange(view, index, value)

    return impl
