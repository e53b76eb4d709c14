"""Atomic operations on one element of an array, for use inside kernels.

Each public function is a plain Python function: called from the
interpreter (or from a kernel run under ``NUMBA_DISABLE_JIT=1``) it updates
the element under one module-wide lock.  Compiled code gets a separate
implementation registered with ``numba.extending.overload(...,
target="cpu")`` that lowers to one LLVM atomic instruction (or a
compare-and-swap loop) on the element's address, so another target (CUDA)
can register its own overload of the same public function later.

Supported element types are int32, int64, uint32, uint64, float32 and
float64.  ``index`` is an integer for a 1-D array or a tuple of integers,
one per dimension; negative indices count from the end as in NumPy, and
bounds are checked only where numba checks them (``boundscheck=True`` or
``NUMBA_BOUNDSCHECK=1``).  ``value`` is first converted to the element type,
as an assignment ``view[index] = value`` would.  Integer arithmetic wraps
around on overflow.  Elements must be naturally aligned, as NumPy
allocates them; the interpreter versions reject an unaligned array, but
numba types every array as aligned, so compiled code cannot check.
"""

import operator
import threading

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

__all__ = [
    "atomic_add",
    "atomic_fetch_add",
    "atomic_sub",
    "atomic_fetch_sub",
    "atomic_min",
    "atomic_fetch_min",
    "atomic_max",
    "atomic_fetch_max",
    "atomic_exchange",
    "atomic_compare_exchange",
    "atomic_load",
    "atomic_store",
]

_DTYPES = (types.int32, types.int64, types.uint32, types.uint64,
           types.float32, types.float64)
_NP_DTYPES = frozenset(np.dtype(str(t)) for t in _DTYPES)

# The interpreter fallback is not atomic by itself (``view[i] += v`` is
# several bytecodes), so Python threads calling it are serialised here.
_PY_LOCK = threading.Lock()


# ---------------------------------------------------------------------------
# Public functions: the interpreter implementation.

def atomic_add(view, index, value):
    """Atomically add ``value`` to ``view[index]``.

    Parameters
    ----------
    view : numpy.ndarray
        Array of int32, int64, uint32, uint64, float32 or float64.
    index : int or tuple of int
        Element to update (one integer per dimension).
    value : int or float
        Converted to ``view.dtype`` before the addition.

    Examples
    --------
    >>> import numpy as np
    >>> counts = np.zeros(3, dtype=np.int64)
    >>> atomic_add(counts, 1, 5)
    >>> counts
    array([0, 5, 0])
    """
    _py_update(atomic_add, view, index, operator.add, value)


def atomic_fetch_add(view, index, value):
    """Atomically add ``value`` to ``view[index]`` and return the old value.

    Every caller sees a distinct old value when ``value`` is positive, so
    ``atomic_fetch_add(counter, 0, 1)`` hands out unique slots.

    Examples
    --------
    >>> import numpy as np
    >>> counter = np.zeros(1, dtype=np.int32)
    >>> int(atomic_fetch_add(counter, 0, 1)), int(atomic_fetch_add(counter, 0, 1))
    (0, 1)
    """
    return _py_update(atomic_fetch_add, view, index, operator.add, value)


def atomic_sub(view, index, value):
    """Atomically subtract ``value`` from ``view[index]``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([10.0, 20.0])
    >>> atomic_sub(a, -1, 0.5)
    >>> a
    array([10. , 19.5])
    """
    _py_update(atomic_sub, view, index, operator.sub, value)


def atomic_fetch_sub(view, index, value):
    """Atomically subtract ``value`` from ``view[index]``; return the old value.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([3], dtype=np.uint32)
    >>> int(atomic_fetch_sub(a, 0, 1)), int(a[0])
    (3, 2)
    """
    return _py_update(atomic_fetch_sub, view, index, operator.sub, value)


def atomic_min(view, index, value):
    """Atomically set ``view[index]`` to ``value`` if ``value < view[index]``.

    For floats the test is exactly ``value < old``: a NaN ``value`` never
    replaces anything, and a NaN already stored is never replaced.
    ``-0.0`` and ``0.0`` compare equal, so the one stored first stays.
    Start from ``+inf`` to get the minimum of the non-NaN values
    (``numpy.nanmin``).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([np.inf])
    >>> for x in (3.0, np.nan, -1.0, 2.0):
    ...     atomic_min(a, 0, x)
    >>> a
    array([-1.])
    """
    _py_update(atomic_min, view, index, _min, value)


def atomic_fetch_min(view, index, value):
    """Like :func:`atomic_min`, returning the value stored before.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([7, 4], dtype=np.int64)
    >>> int(atomic_fetch_min(a, (1,), 5)), a
    (4, array([7, 4]))
    """
    return _py_update(atomic_fetch_min, view, index, _min, value)


def atomic_max(view, index, value):
    """Atomically set ``view[index]`` to ``value`` if ``value > view[index]``.

    NaN behaves as in :func:`atomic_min`: a NaN ``value`` is ignored and a
    stored NaN stays.  Start from ``-inf`` to get ``numpy.nanmax``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((2, 2), dtype=np.int32)
    >>> atomic_max(a, (1, 0), 9)
    >>> a
    array([[0, 0],
           [9, 0]], dtype=int32)
    """
    _py_update(atomic_max, view, index, _max, value)


def atomic_fetch_max(view, index, value):
    """Like :func:`atomic_max`, returning the value stored before.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([1.5], dtype=np.float32)
    >>> float(atomic_fetch_max(a, 0, 2.5)), a
    (1.5, array([2.5], dtype=float32))
    """
    return _py_update(atomic_fetch_max, view, index, _max, value)


def atomic_exchange(view, index, value):
    """Atomically store ``value`` in ``view[index]``; return the old value.

    Examples
    --------
    >>> import numpy as np
    >>> flags = np.zeros(4, dtype=np.int32)
    >>> int(atomic_exchange(flags, 2, 1)), int(atomic_exchange(flags, 2, 1))
    (0, 1)
    """
    return _py_update(atomic_exchange, view, index, _second, value)


def atomic_compare_exchange(view, index, expected, desired):
    """Atomically replace ``view[index]`` by ``desired`` if it equals ``expected``.

    Returns the value found, as Kokkos does: the exchange happened exactly
    when the result equals ``expected``.  The comparison is on the bit
    pattern after converting ``expected`` to ``view.dtype``, so for floats
    ``-0.0`` does not match ``0.0`` and a NaN matches an identical NaN.

    Examples
    --------
    >>> import numpy as np
    >>> lock = np.zeros(1, dtype=np.int32)
    >>> int(atomic_compare_exchange(lock, 0, 0, 1))  # acquired
    0
    >>> int(atomic_compare_exchange(lock, 0, 0, 1))  # already held
    1
    """
    expected = _py_element(atomic_compare_exchange, view, expected)

    def swap_if_same(old, desired):
        return desired if old.tobytes() == expected.tobytes() else old

    return _py_update(atomic_compare_exchange, view, index, swap_if_same,
                      desired)


def atomic_load(view, index):
    """Read ``view[index]`` atomically (never a torn or stale-cached value).

    Examples
    --------
    >>> import numpy as np
    >>> int(atomic_load(np.arange(4), -1))
    3
    """
    return _py_update(atomic_load, view, index, None, None)


def atomic_store(view, index, value):
    """Write ``value`` to ``view[index]`` atomically.

    Pairs with :func:`atomic_load` and :func:`atomic_compare_exchange`, e.g.
    to release a spin lock.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros(2)
    >>> atomic_store(a, 1, 4)
    >>> a
    array([0., 4.])
    """
    _py_update(atomic_store, view, index, _second, value)


def _min(old, value):
    return value if value < old else old


def _max(old, value):
    return value if value > old else old


def _second(old, value):
    return value


def _py_element(func, view, value):
    """``value`` converted to ``view``'s element type, after checking ``view``."""
    name = func.__name__
    if not isinstance(view, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy array, got "
                        f"{type(view).__name__}")
    if view.dtype not in _NP_DTYPES:
        raise TypeError(f"{name}: unsupported element type {view.dtype}; "
                        f"expected one of {_dtype_names()}")
    if not view.flags.aligned:
        raise TypeError(f"{name}: the array is not aligned; atomics need "
                        f"naturally aligned elements")
    return np.asarray(value).astype(view.dtype)[()]


def _py_update(func, view, index, update, value):
    """Apply ``update(old, value)`` to ``view[index]`` under the lock.

    Returns the old element; ``update=None`` only reads.
    """
    if update is not None:
        value = _py_element(func, view, value)
        if not view.flags.writeable:
            raise TypeError(f"{func.__name__}: the array is read-only")
    else:
        _py_element(func, view, 0)
    with _PY_LOCK:
        old = view[index]
        if not isinstance(old, np.generic):
            raise TypeError(f"{func.__name__}: index {index!r} does not "
                            f"select one element of a {view.ndim}-D array")
        if update is not None:
            view[index] = update(old, value)
    return old


def _dtype_names():
    return ", ".join(str(t) for t in _DTYPES)


# ---------------------------------------------------------------------------
# Compiled implementation for the CPU target.
#
# Memory ordering: the arithmetic updates (add, sub, min, max) are
# ``monotonic`` (C++ relaxed, Kokkos' default): they are used to accumulate
# results that are only read after the parallel region joins, which already
# synchronises, and relaxed ordering leaves the optimiser free around them.
# exchange, compare_exchange, load and store are ``seq_cst``: they are the
# pieces users build locks and flags from, and kkpy offers no separate memory
# fence to order the data such a lock protects.  On x86 both orderings give
# the same ``lock``-prefixed instruction for read-modify-writes.
_RELAXED = "monotonic"
_SEQ_CST = "seq_cst"


def _check_args(name, view, index, values=(), write=True):
    """Raise a TypingError naming ``name`` unless the types are usable."""
    if not isinstance(view, types.Array):
        raise TypingError(f"{name}: first argument must be an array, "
                          f"got {view}")
    if view.dtype not in _DTYPES:
        raise TypingError(f"{name}: unsupported element type {view.dtype}; "
                          f"expected one of {_dtype_names()}")
    if write and not view.mutable:
        raise TypingError(f"{name}: the array is read-only")
    # numba types every NumPy array as aligned, so this only catches
    # arrays numba itself knows to be packed (record fields).
    if not view.aligned:
        raise TypingError(f"{name}: the array is not aligned; atomics need "
                          f"naturally aligned elements")
    if isinstance(index, types.Integer):
        n_indices = 1
    elif isinstance(index, types.BaseTuple) and all(
            isinstance(t, types.Integer) for t in index.types):
        n_indices = len(index)
    else:
        raise TypingError(f"{name}: index must be an integer or a tuple of "
                          f"integers, got {index}")
    if n_indices != view.ndim:
        raise TypingError(f"{name}: {n_indices} index(es) given for a "
                          f"{view.ndim}-D array")
    for value in values:
        if not isinstance(value, (types.Integer, types.Float, types.Boolean)):
            raise TypingError(f"{name}: value must be a real number, "
                              f"got {value}")


def _element_pointer(context, builder, arrty, idxty, arr, idx):
    """LLVM pointer to ``arr[idx]``, honouring strides and layout."""
    ary = context.make_array(arrty)(context, builder, arr)
    if isinstance(idxty, types.BaseTuple):
        inds = cgutils.unpack_tuple(builder, idx, len(idxty))
        idxtys = idxty.types
    else:
        inds, idxtys = [idx], [idxty]
    inds = [context.cast(builder, i, t, types.intp)
            for i, t in zip(inds, idxtys)]
    shape = cgutils.unpack_tuple(builder, ary.shape, arrty.ndim)
    strides = cgutils.unpack_tuple(builder, ary.strides, arrty.ndim)
    # boundscheck=True defers to numba's own switch (off by default).
    return cgutils.get_item_pointer2(context, builder, ary.data, shape,
                                     strides, arrty.layout, inds,
                                     wraparound=True, boundscheck=True)


def _int_view(builder, ptr, dtype):
    """``ptr`` reinterpreted as a pointer to an integer of the same width.

    cmpxchg only takes integers, so floats are swapped as bit patterns.
    """
    ity = ir.IntType(dtype.bitwidth)
    return builder.bitcast(ptr, ity.as_pointer()), ity


def _cas(builder, ptr, dtype, expected, desired):
    """One seq_cst compare-and-swap; returns (old value, success flag)."""
    iptr, ity = _int_view(builder, ptr, dtype)
    pair = builder.cmpxchg(iptr, builder.bitcast(expected, ity),
                           builder.bitcast(desired, ity), _SEQ_CST, _SEQ_CST)
    old = builder.bitcast(builder.extract_value(pair, 0), expected.type)
    return old, builder.extract_value(pair, 1)


def _float_minmax(builder, ptr, dtype, value, op):
    """CAS loop storing ``value`` while ``value op old``; returns old.

    LLVM's ``atomicrmw fmin/fmax`` follow ``minnum`` (a stored NaN gets
    replaced) and not every backend has them, so the documented rule
    "replace only when value < old" is spelled out here.
    """
    llty = value.type
    iptr, ity = _int_view(builder, ptr, dtype)
    first = builder.bitcast(
        builder.load_atomic(iptr, _RELAXED, dtype.bitwidth // 8, typ=ity),
        llty)
    entry = builder.block
    test = builder.append_basic_block("minmax.test")
    swap = builder.append_basic_block("minmax.swap")
    done = builder.append_basic_block("minmax.done")
    builder.branch(test)

    builder.position_at_end(test)
    old = builder.phi(llty)
    old.add_incoming(first, entry)
    builder.cbranch(builder.fcmp_ordered(op, value, old), swap, done)

    builder.position_at_end(swap)
    seen, ok = _cas(builder, ptr, dtype, old, value)
    old.add_incoming(seen, swap)
    builder.cbranch(ok, done, test)

    builder.position_at_end(done)
    return old


def _rmw_codegen(op, dtype, builder, ptr, value):
    if op == "xchg":
        return builder.atomic_rmw("xchg", ptr, value, _SEQ_CST)
    if isinstance(dtype, types.Float):
        if op in ("add", "sub"):
            return builder.atomic_rmw("f" + op, ptr, value, _RELAXED)
        return _float_minmax(builder, ptr, dtype, value,
                             "<" if op == "min" else ">")
    if op in ("min", "max") and not dtype.signed:
        op = "u" + op
    return builder.atomic_rmw(op, ptr, value, _RELAXED)


def _make_rmw_intrinsic(op):
    """Intrinsic ``(view, index, value) -> old`` doing one atomic ``op``."""

    @intrinsic
    def rmw(typingctx, view, index, value):
        def codegen(context, builder, sig, args):
            arrty, idxty, valty = sig.args
            ptr = _element_pointer(context, builder, arrty, idxty,
                                   args[0], args[1])
            val = context.cast(builder, args[2], valty, arrty.dtype)
            return _rmw_codegen(op, arrty.dtype, builder, ptr, val)

        return view.dtype(view, index, value), codegen

    return rmw


@intrinsic
def _cpu_compare_exchange(typingctx, view, index, expected, desired):
    def codegen(context, builder, sig, args):
        arrty, idxty, expty, desty = sig.args
        ptr = _element_pointer(context, builder, arrty, idxty,
                               args[0], args[1])
        exp = context.cast(builder, args[2], expty, arrty.dtype)
        des = context.cast(builder, args[3], desty, arrty.dtype)
        return _cas(builder, ptr, arrty.dtype, exp, des)[0]

    return view.dtype(view, index, expected, desired), codegen


@intrinsic
def _cpu_load(typingctx, view, index):
    def codegen(context, builder, sig, args):
        arrty, idxty = sig.args
        ptr = _element_pointer(context, builder, arrty, idxty, *args)
        return builder.load_atomic(ptr, _SEQ_CST, arrty.dtype.bitwidth // 8)

    return view.dtype(view, index), codegen


@intrinsic
def _cpu_store(typingctx, view, index, value):
    def codegen(context, builder, sig, args):
        arrty, idxty, valty = sig.args
        ptr = _element_pointer(context, builder, arrty, idxty,
                               args[0], args[1])
        val = context.cast(builder, args[2], valty, arrty.dtype)
        builder.store_atomic(val, ptr, _SEQ_CST, arrty.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.none(view, index, value), codegen


def _register_cpu_rmw(func, op, fetch):
    name = func.__name__
    rmw = _make_rmw_intrinsic(op)

    @overload(func, target="cpu")
    def cpu_impl(view, index, value):
        _check_args(name, view, index, (value,))
        if fetch:
            return lambda view, index, value: rmw(view, index, value)

        def impl(view, index, value):
            rmw(view, index, value)

        return impl


for _func, _op, _fetch in (
        (atomic_add, "add", False), (atomic_fetch_add, "add", True),
        (atomic_sub, "sub", False), (atomic_fetch_sub, "sub", True),
        (atomic_min, "min", False), (atomic_fetch_min, "min", True),
        (atomic_max, "max", False), (atomic_fetch_max, "max", True),
        (atomic_exchange, "xchg", True)):
    _register_cpu_rmw(_func, _op, _fetch)


@overload(atomic_compare_exchange, target="cpu")
def _atomic_compare_exchange_cpu(view, index, expected, desired):
    _check_args("atomic_compare_exchange", view, index, (expected, desired))
    return lambda view, index, expected, desired: _cpu_compare_exchange(
        view, index, expected, desired)


@overload(atomic_load, target="cpu")
def _atomic_load_cpu(view, index):
    _check_args("atomic_load", view, index, write=False)
    return lambda view, index: _cpu_load(view, index)


@overload(atomic_store, target="cpu")
def _atomic_store_cpu(view, index, value):
    _check_args("atomic_store", view, index, (value,))
    return lambda view, index, value: _cpu_store(view, index, value)
