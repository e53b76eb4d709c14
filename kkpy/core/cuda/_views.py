"""CudaSpace Views: device arrays with a label, and copies to, from and between them.

A ``CudaView`` wraps a numba-cuda device array.  It exposes
``__cuda_array_interface__``, so CuPy, numba and other GPU libraries use its
memory without a copy (``cupy.asarray(view)``, ``numba.cuda.as_cuda_array``),
and kkpy accepts any of their arrays wherever it takes a device View.  As in
Kokkos, host code cannot read device memory directly: ``np.asarray(view)``
raises, and :func:`kkpy.create_mirror_view_and_copy` brings data back.
"""
from __future__ import annotations

import numbers

import numpy as np
from numba import cuda
from numba.core import config

from .._kernel import kernel
from .._spaces import CudaSpace
from .._views import View
from ._space import host_wait

__all__ = ["CudaView", "view_factory", "device_array", "as_device", "copy", "fill"]


class _Flags:
    """The two flags kkpy's layout logic reads (numpy's ``ndarray.flags`` spelling)."""

    __slots__ = ("c_contiguous", "f_contiguous")

    def __init__(self, c, f):
        self.c_contiguous, self.f_contiguous = bool(c), bool(f)


class CudaView:
    """A labelled array in GPU global memory (``Kokkos::View<T, CudaSpace>``).

    Made by ``kkpy.View(label, shape, dtype, space=kkpy.CudaSpace)`` (or
    ``space=kkpy.Cuda()``); wraps an existing device array with
    :meth:`from_array`.  Indexing with slices gives a subview sharing memory.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> v = kkpy.View("x", (2, 3), dtype=np.float32, space=kkpy.CudaSpace)  # doctest: +SKIP
    >>> v.label, v.extent(1), v.memory_space                                # doctest: +SKIP
    ('x', 3, kkpy.CudaSpace)
    """

    memory_space = CudaSpace
    __slots__ = ("label", "_array")

    def __init__(self, label, array):
        self.label = label
        self._array = array

    @classmethod
    def from_array(cls, label, array):
        """Wrap a device array (numba, CuPy, anything with ``__cuda_array_interface__``)."""
        return cls(label, as_device(array))

    # -- array attributes ----------------------------------------------------------
    shape = property(lambda self: tuple(self._array.shape))
    ndim = property(lambda self: len(self._array.shape))
    size = property(lambda self: int(np.prod(self._array.shape, dtype=np.int64)))
    dtype = property(lambda self: np.dtype(self._array.dtype))
    strides = property(lambda self: tuple(self._array.strides))
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.size * self.itemsize)

    @property
    def flags(self):
        return _Flags(*_contiguity(self.shape, self.strides, self.itemsize))

    @property
    def layout(self):
        from .._views import LayoutLeft, LayoutRight, LayoutStride

        c, f = _contiguity(self.shape, self.strides, self.itemsize)
        return LayoutRight if c else LayoutLeft if f else LayoutStride

    # The host View's accessors need only shape, strides and sizes.
    extent, stride, rank, span = View.extent, View.stride, View.rank, View.span

    def __len__(self):
        return self.shape[0]

    # -- interop -------------------------------------------------------------------
    @property
    def __cuda_array_interface__(self):
        inner = getattr(self._array, "__cuda_array_interface__", None)
        if inner is not None:
            return inner
        # The simulator's arrays live in host memory and have no interface of
        # their own; describe that memory the same way.
        host = self._array._ary
        c, _ = _contiguity(host.shape, host.strides, host.itemsize)
        return {"shape": tuple(host.shape), "strides": None if c else tuple(host.strides),
                "typestr": host.dtype.str, "data": (host.ctypes.data, False), "version": 3}

    def __kkpy_array__(self):
        """The device array compiled kernels receive."""
        return self._array

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"View {self.label!r} lives in CudaSpace; copy it to the host first: "
            "kkpy.create_mirror_view_and_copy(kkpy.HostSpace, view)")

    def __getitem__(self, index):
        sub = self._array[_no_ellipsis(index, self.ndim)]
        if isinstance(sub, (numbers.Number, np.generic)):
            return sub
        return CudaView(self.label, sub)

    def __repr__(self):
        return f"CudaView({self.label!r}, shape={self.shape}, dtype={self.dtype})"


def _no_ellipsis(index, ndim):
    """numba's device arrays take no ``...``: spell it out as full slices."""
    if not isinstance(index, tuple) or not any(i is Ellipsis for i in index):
        return index
    at = next(n for n, i in enumerate(index) if i is Ellipsis)
    rest = index[:at] + index[at + 1:]
    used = sum(i is not None for i in rest)
    return index[:at] + (slice(None),) * (ndim - used) + index[at + 1:]


def _contiguity(shape, strides, itemsize):
    """(C-contiguous, F-contiguous), ignoring strides of extents 0 and 1 as numpy does."""
    def walk(order):
        expect = itemsize
        for n, s in order:
            if n == 0:
                return True
            if n != 1 and s != expect:
                return False
            expect *= n
        return True

    dims = list(zip(shape, strides))
    return walk(reversed(dims)), walk(dims)


def device_array(shape, dtype, order="C"):
    """An uninitialised numba-cuda device array."""
    return cuda.device_array(shape, dtype=np.dtype(dtype), order=order)


def view_factory(label, shape, dtype, layout, initialize):
    """``kkpy.View(..., space=CudaSpace)`` lands here (registered with :func:`kkpy.core._backends.register_memory`)."""
    view = CudaView(label, device_array(shape, dtype, layout.order))
    if initialize:
        fill(view, 0)
    return view


def as_device(array):
    """The numba device array for a CudaView or any ``__cuda_array_interface__`` object."""
    if isinstance(array, CudaView):
        return array._array
    if getattr(array, "__cuda_ndarray__", False):  # numba's own (or the simulator's)
        return array
    if hasattr(array, "__cuda_array_interface__") and not config.ENABLE_CUDASIM:
        return cuda.as_cuda_array(array)
    raise TypeError(f"expected a CudaSpace View or device array, got {type(array).__name__}")


def _is_device(a):
    from .._views import memory_space_of

    return memory_space_of(a) == CudaSpace


def _contiguous(d):
    """``"C"``, ``"F"`` or None, by the array's own flags where it has them: numba's
    copies check contiguity by those, which for extents of 1 need not be numpy's."""
    try:
        c, f = bool(d.flags["C_CONTIGUOUS"]), bool(d.flags["F_CONTIGUOUS"])
    except (AttributeError, KeyError, TypeError):
        c, f = _contiguity(d.shape, d.strides, np.dtype(d.dtype).itemsize)
    return "C" if c else "F" if f else None


def _check_cast(dst_dtype, src_dtype):
    if not np.can_cast(src_dtype, dst_dtype, casting="same_kind"):
        raise TypeError(f"deep_copy: cannot copy {src_dtype} into {dst_dtype} "
                        "(numpy 'same_kind' casting)")


def _stream(space):
    """The stream ``deep_copy(space, ...)`` orders work on: a Cuda instance's, else 0."""
    launch = getattr(space, "launch_stream", None)
    return 0 if launch is None else launch()


def copy(dst, src, space=None):
    """``deep_copy`` when either side is on the GPU; shapes were checked by the caller.

    A copy between GPU arrays is enqueued on ``space``'s stream; one to or from
    host memory has finished on return (numpy arrays are pageable memory).
    """
    stream = _stream(space)
    if _is_device(dst) and _is_device(src):
        d, s = as_device(dst), as_device(src)
        _check_cast(d.dtype, s.dtype)
        order = _contiguous(d)
        if order is not None and order == _contiguous(s) and d.dtype == s.dtype:
            if d.size:
                d.copy_to_device(s, stream=stream)
        else:
            _copy_kernel(d, s, space)
        return
    if _is_device(dst):
        d, h = as_device(dst), np.asarray(src)
        _check_cast(d.dtype, h.dtype)
        order = _contiguous(d)
        if order is None:
            tmp = device_array(d.shape, d.dtype)
            tmp.copy_to_device(np.asarray(h, dtype=d.dtype, order="C"), stream=stream)
            _copy_kernel(d, tmp, space)
        elif d.size:
            d.copy_to_device(np.asarray(h, dtype=d.dtype, order=order), stream=stream)
        host_wait(stream)
        return
    s, h = as_device(src), np.asarray(dst)
    _check_cast(h.dtype, s.dtype)
    if _contiguous(s) is None:
        tmp = device_array(s.shape, s.dtype)
        _copy_kernel(tmp, s, space)
        s = tmp
    if s.size:
        got = s.copy_to_host(stream=stream)
        host_wait(stream)
        np.copyto(h, got, casting="same_kind")


def fill(dst, value, space=None):
    """Set every element of a device array or View to ``value``, on ``space``'s stream."""
    d = as_device(dst)
    if d.size == 0:
        return
    value = np.dtype(d.dtype).type(value)
    if _contiguous(d) is not None and not config.ENABLE_CUDASIM and value == 0 \
            and not np.signbit(value):
        from numba.cuda.cudadrv.driver import device_memset
        device_memset(d, 0, d.size * np.dtype(d.dtype).itemsize, stream=_stream(space))
        return
    _run_elementwise(_fill_kernels, d, value, space)


def _copy_kernel(d, s, space=None):
    _run_elementwise(_copy_kernels, d, s, space)


# -- element-wise kernels, one per rank -------------------------------------------
#
# Strided device arrays cannot be copied as one block of memory; these run
# through kkpy's own patterns instead.  They are module-level kernels so that
# numba caches them.

@kernel
def _fill1(i, a, v):
    a[i] = v


@kernel
def _fill2(i, j, a, v):
    a[i, j] = v


@kernel
def _fill3(i, j, k, a, v):
    a[i, j, k] = v


@kernel
def _copy1(i, a, b):
    a[i] = b[i]


@kernel
def _copy2(i, j, a, b):
    a[i, j] = b[i, j]


@kernel
def _copy3(i, j, k, a, b):
    a[i, j, k] = b[i, j, k]


_fill_kernels = {1: _fill1, 2: _fill2, 3: _fill3}
_copy_kernels = {1: _copy1, 2: _copy2, 3: _copy3}


def _run_elementwise(kernels, d, other, space=None):
    from .._patterns import parallel_for
    from .._policies import MDRangePolicy, RangePolicy
    from ._space import Cuda

    shape = tuple(d.shape)
    scalar = np.isscalar(other)
    if len(shape) > 3:  # rare: peel the outermost index
        for i in range(shape[0]):
            _run_elementwise(kernels, d[i], other if scalar else other[i], space)
        return
    if not isinstance(space, Cuda):
        space = Cuda()
    if len(shape) == 1:
        policy = RangePolicy(space, 0, shape[0])
    else:
        policy = MDRangePolicy(space, (0,) * len(shape), shape)
    parallel_for("kkpy::deep_copy", policy, kernels[len(shape)], d, other)
