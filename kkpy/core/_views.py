"""Views: labelled multi-dimensional arrays that live in a memory space.

A host View *is* a numpy array (an ``ndarray`` subclass), so it slices, prints
and computes like one and ``np.asarray(view)`` shares its memory.  Device
Views (``CudaSpace``) are provided by the Cuda backend and expose
``__cuda_array_interface__``.  Every API that takes a View also takes a plain
numpy array.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _backends
from ._spaces import ExecutionSpace, HostSpace, MemorySpace

__all__ = [
    "Layout", "LayoutRight", "LayoutLeft", "LayoutStride", "View", "ALL",
    "create_mirror", "create_mirror_view", "create_mirror_view_and_copy",
    "deep_copy", "subview", "memory_space_of", "kernel_arg",
]

#: Select a whole extent in :func:`subview` (``Kokkos::ALL``).
ALL = slice(None)


class Layout:
    def __init__(self, name, order):
        self.name, self.order = name, order

    def __repr__(self):
        return f"kkpy.{self.name}"


#: Row-major (C order): the last index is contiguous.
LayoutRight = Layout("LayoutRight", "C")
#: Column-major (Fortran order): the first index is contiguous.
LayoutLeft = Layout("LayoutLeft", "F")
#: Arbitrary strides (subviews that are neither of the above).
LayoutStride = Layout("LayoutStride", None)

#: Factories for non-host memory spaces, filled in by optional backends.


def _memory_space(space):
    if space is None:
        return HostSpace
    if isinstance(space, ExecutionSpace):
        return space.memory_space
    if isinstance(space, MemorySpace):
        return space
    raise TypeError(f"expected a memory or execution space, got {space!r}")


class View(np.ndarray):
    """A labelled, zero-initialised array in a memory space (``Kokkos::View``).

    Parameters
    ----------
    label : str
        A name shown in errors and profiles.
    shape : int or tuple of int
        Extents, rank 1 to 8; also given one by one, as Kokkos does:
        ``View("a", n, m)`` is ``View("a", (n, m))``.
    dtype : numpy dtype, default float64
    layout : LayoutRight or LayoutLeft
    space : MemorySpace or ExecutionSpace, default HostSpace
    initialize : bool, default True
        ``False`` skips zero-filling (``Kokkos::WithoutInitializing``).

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> v = kkpy.View("x", (2, 3), dtype=np.int32)
    >>> v.label, v.extent(1), v.shape, v.layout
    ('x', 3, (2, 3), kkpy.LayoutRight)
    >>> a = np.asarray(v); a[0, 0] = 7; int(v[0, 0])   # shares memory
    7
    >>> kkpy.View("y", 2, 3, 4).shape                    # Kokkos's extents, one by one
    (2, 3, 4)
    """

    def __new__(cls, label, shape, *extents, dtype=np.float64, layout=LayoutRight, space=None,
                initialize=True):
        if not isinstance(label, str):
            raise TypeError(f"View label must be a str, got {type(label).__name__}")
        if extents and not isinstance(extents[-1], numbers.Integral):
            # the dtype given by position, as before Kokkos-style extents
            dtype, extents = extents[-1], extents[:-1]
        if extents:  # Kokkos's View("label", n, m, ...)
            if not all(isinstance(e, numbers.Integral) for e in (shape, *extents)):
                raise TypeError(f"View {label!r}: extents must be integers: View(label, n, m, ...) "
                                f"or View(label, (n, m, ...))")
            shape = (shape, *extents)
        shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)
        if not 1 <= len(shape) <= 8:
            raise ValueError(f"View {label!r}: rank must be 1 to 8, got {len(shape)}")
        if min(shape) < 0:
            raise ValueError(f"View {label!r}: negative extent in {shape}")
        if layout not in (LayoutRight, LayoutLeft):
            raise ValueError(f"View {label!r}: layout must be LayoutRight or LayoutLeft")
        mem = _memory_space(space)
        if mem != HostSpace:
            return _backends.memory_hooks(mem).view_factory(label, shape, dtype, layout,
                                                            initialize)
        alloc = np.zeros if initialize else np.empty
        obj = alloc(shape, dtype=dtype, order=layout.order).view(cls)
        obj.label = label
        obj._layout = layout
        return obj

    def __array_finalize__(self, obj):
        self.label = getattr(obj, "label", "")
        self._layout = getattr(obj, "_layout", None)

    @classmethod
    def from_array(cls, label, array, layout=None):
        """Wrap an existing numpy array without copying."""
        obj = np.asarray(array).view(cls)
        obj.label = label
        obj._layout = layout
        return obj

    memory_space = HostSpace

    @property
    def layout(self):
        """LayoutRight, LayoutLeft, or LayoutStride for a strided subview.

        A View remembers the layout it was made with: with extents of 0 or 1
        (or rank 1) the memory is both C- and F-contiguous, and only the
        request tells the two apart.
        """
        c, f = self.flags.c_contiguous, self.flags.f_contiguous
        if self._layout is LayoutLeft and f:
            return LayoutLeft
        if c:
            return LayoutRight
        return LayoutLeft if f else LayoutStride

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # Reductions give numpy scalars, as they do for plain arrays.
        if return_scalar:
            return arr[()]
        return super().__array_wrap__(arr, context, return_scalar)

    def extent(self, i: int) -> int:
        """Extent of dimension ``i``."""
        return self.shape[i]

    def stride(self, i: int) -> int:
        """Stride of dimension ``i``, in elements."""
        return self.strides[i] // self.itemsize

    def rank(self) -> int:
        return self.ndim

    def span(self) -> int:
        return self.size

    def __repr__(self):
        return f"View({self.label!r}, {np.asarray(self)!r})"

    def __reduce__(self):  # pickle as a plain array plus label and layout
        return (View.from_array, (self.label, np.asarray(self), self.layout))


def memory_space_of(array) -> MemorySpace:
    """The memory space an array or View lives in."""
    space = getattr(array, "memory_space", None)
    if isinstance(space, MemorySpace):
        return space
    if hasattr(array, "__cuda_array_interface__") and not isinstance(array, np.ndarray):
        from ._spaces import CudaSpace
        return CudaSpace
    return HostSpace


#: Types that kernels receive as they are, found once per type: every launch
#: asks for each argument, and a miss of ``__kkpy_array__`` on a device array
#: or a scalar costs an AttributeError each time.
_AS_IS: set = set()


def kernel_arg(a):
    """What a compiled kernel receives for a launch argument.

    Host Views become plain ndarrays (numba dispatches on them faster); device
    Views hand over their device array.
    """
    t = type(a)
    if t in _AS_IS:
        return a
    if isinstance(a, np.ndarray):
        return a if type(a) is np.ndarray else a.view(np.ndarray)
    if isinstance(a, (list, dict, set)):
        # numba would copy a list in and out on every call (reflection), and
        # writes to a dict would be lost: ask for an array instead.
        raise TypeError(f"is a {type(a).__name__}; pass a View or numpy array "
                        "(np.asarray(...)) or a scalar")
    inner = getattr(a, "__kkpy_array__", None)
    if inner is not None:
        return inner()
    # only where no instance could answer otherwise (no __getattr__ of its own)
    if t in (int, float, bool, complex) or not any(
            "__getattr__" in c.__dict__ or "__getattribute__" in c.__dict__
            for c in t.__mro__[:-1]):
        _AS_IS.add(t)
    return a


def create_mirror(space, view=None):
    """A new allocation like ``view`` in ``space`` (default: host), never an alias."""
    if view is None:
        space, view = HostSpace, space
    mem = _memory_space(space)
    label = getattr(view, "label", "") or "mirror"
    layout = getattr(view, "layout", None)
    if layout not in (LayoutLeft, LayoutRight):
        flags = getattr(view, "flags", None)
        layout = (LayoutLeft if flags is not None and view.ndim > 1 and flags.f_contiguous
                  and not flags.c_contiguous else LayoutRight)
    return View(label, view.shape, dtype=view.dtype, layout=layout, space=mem, initialize=False)


def create_mirror_view(space, view=None):
    """``view`` itself if it already lives in ``space``, else a new mirror allocation.

    ``create_mirror_view(view)`` mirrors into host memory, as Kokkos does.

    Examples
    --------
    >>> import kkpy
    >>> v = kkpy.View("a", 3)
    >>> kkpy.create_mirror_view(kkpy.HostSpace, v) is v
    True
    """
    if view is None:
        space, view = HostSpace, space
    if memory_space_of(view) == _memory_space(space):
        return view
    return create_mirror(space, view)


def create_mirror_view_and_copy(space, view):
    """Like :func:`create_mirror_view`, and copy the data when a new allocation was made."""
    mirror = create_mirror_view(space, view)
    if mirror is not view:
        deep_copy(mirror, view)
    return mirror


def deep_copy(*args):
    """Copy ``src`` (a View, array or scalar) into ``dst``; extents must match.

    ``deep_copy(dst, src)`` runs in the order of the default instance
    (``kkpy.Cuda()``: after earlier launches on it, before later ones).
    Like ``Kokkos::deep_copy(exec, dst, src)``, ``deep_copy(space, dst,
    src)`` orders the copy on execution space instance ``space``: on a
    ``kkpy.Cuda(stream=s)`` a fill or a copy between GPU views is enqueued
    on ``s`` and may still run when the call returns (``space.fence()``
    waits for it); a copy to or from host memory has finished on return.
    On host spaces both forms are the same.  It returns nothing.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> v = kkpy.View("a", 3)
    >>> kkpy.deep_copy(v, 2.5); v.tolist()
    [2.5, 2.5, 2.5]
    >>> kkpy.deep_copy(v, np.arange(3.0)); v.tolist()
    [0.0, 1.0, 2.0]
    >>> kkpy.deep_copy(kkpy.Serial(), v, 0); v.tolist()
    [0.0, 0.0, 0.0]
    """
    if len(args) == 3:
        space, dst, src = args
        if not isinstance(space, ExecutionSpace):
            raise TypeError("deep_copy(space, dst, src): space must be an execution space "
                            f"instance such as kkpy.Cuda(), not {type(space).__name__}")
    elif len(args) == 2:
        space, (dst, src) = None, args
    else:
        raise TypeError(f"deep_copy takes (dst, src) or (space, dst, src), not {len(args)} "
                        "arguments")
    dmem = memory_space_of(dst)
    if isinstance(src, (numbers.Number, np.generic)):
        if dmem == HostSpace:
            np.asarray(dst)[...] = src
        else:
            _backends.memory_hooks(dmem).fill(dst, src, space)
        return
    if tuple(dst.shape) != tuple(src.shape):
        raise ValueError(
            f"deep_copy: extents differ: dst {getattr(dst, 'label', '')!r} {tuple(dst.shape)} "
            f"vs src {getattr(src, 'label', '')!r} {tuple(src.shape)}")
    smem = memory_space_of(src)
    if dmem == HostSpace and smem == HostSpace:
        np.copyto(np.asarray(dst), np.asarray(src), casting="same_kind")
    else:
        device = dmem if dmem != HostSpace else smem
        _backends.memory_hooks(device).copy(dst, src, space)


def subview(view, *indices):
    """A view of part of ``view``, sharing memory (``Kokkos::subview``).

    Each index is an int (drops that dimension), :data:`ALL`, a slice, or a
    ``(begin, end)`` pair.  Integers for every dimension give a rank-0 View
    of that element.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> v = kkpy.View("m", (3, 4))
    >>> s = kkpy.subview(v, 1, (1, 3)); s[:] = 5
    >>> v[1].tolist(), s.label
    ([0.0, 5.0, 5.0, 0.0], 'm')
    """
    if len(indices) > view.ndim:
        raise IndexError(f"subview: {len(indices)} indices for a rank-{view.ndim} view")
    idx = tuple(slice(*i) if isinstance(i, tuple) else i for i in indices)
    # The trailing Ellipsis keeps an all-integer subview a rank-0 View that
    # shares memory (as in Kokkos), where numpy would return a copied scalar.
    return view[idx + (Ellipsis,)]
