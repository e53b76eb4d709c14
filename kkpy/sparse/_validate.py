"""Input validation for every public sparse entry: structure, shapes, dtypes, aliasing.

The kernels trust the arrays they are given: an offset past the end of
``entries`` or a column past ``ncols`` reads or writes outside the arrays
and may crash the process.  Every entry therefore passes its operands
through :func:`matrix` first, which checks, in one parallel pass over the
index arrays (O(nnz)):

* ``row_map`` is 1-D, starts at 0, never decreases and ends at ``nnz``;
* every column index lies in ``[0, ncols)``;
* values and indices have the dtypes and lengths the kernels expect.

A :class:`~kkpy.sparse.CrsMatrix` whose index arrays nobody else can write
(kkpy's results, copies, matrices built from lists) is checked once and
remembered as valid; its ``row_map`` and ``entries`` refuse item
assignment and in-place operations, so the memo cannot go stale by
accident.  A CrsMatrix that shares writable arrays with the caller, and
every scipy.sparse matrix, is checked at each call: the caller can change
those arrays between calls.

``CrsMatrix(..., check=False)`` and :func:`unsafe_skip_validation` skip the
checks.  Both are UNSAFE: a bad structure then reaches the kernels.
"""
from __future__ import annotations

import contextlib
import contextvars
import numbers
import os

import numpy as np

from .. import DefaultExecutionSpace, RangePolicy, parallel_reduce
from ..core import kernel
from ..core import View
from . import _tuning
from ._dtypes import COMPUTE
from .host._pool import Alias

__all__ = ["matrix", "bind", "kernel_array", "real_scalar", "checked_by_kernel", "structure", "no_overlap", "unsafe_skip_validation",
           "skipping", "IndexView", "owned", "private", "TooLargeError", "fits", "available_bytes"]

_SKIP = contextvars.ContextVar("kkpy_sparse_skip_validation", default=False)

#: The CrsMatrix class and its ``as_crs``, given by ``_crs`` through
#: :func:`bind` when it is imported: it imports this module for its checks,
#: and importing it back from here made an import cycle.
_MATRIX = {}


def bind(matrix_type, as_matrix):
    """Tell :func:`matrix` which class it returns and how to wrap anything else."""
    _MATRIX.update(type=matrix_type, wrap=as_matrix)


@contextlib.contextmanager
def unsafe_skip_validation():
    """UNSAFE: inside this block, sparse entries do not check their operands.

    A row_map or column index out of range then reaches the kernels, which
    may return garbage or crash the process.  Only for inputs already known
    to be valid, when the O(nnz) check matters (it costs a fraction of one
    SpMV; see the "Validation" section of the sparse docs).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from kkpy.sparse import spmv, unsafe_skip_validation
    >>> A = sp.eye(3, format="csr"); y = np.zeros(3)
    >>> with unsafe_skip_validation():
    ...     spmv(1.0, A, np.ones(3), 0.0, y)
    >>> y
    array([1., 1., 1.])
    """
    token = _SKIP.set(True)
    try:
        yield
    finally:
        _SKIP.reset(token)


@kernel
def bad_in_chunk(c, chunk, row_map, entries, ncols):
    """Count the faults in chunk ``c``: columns outside ``[0, ncols)``, decreasing offsets.

    The columns' min and max (which vectorise) stand for the range test of each.
    """
    nnz = entries.shape[0]
    lo = c * chunk
    bad = 0
    if lo < nnz:
        least = most = entries[lo]
        for p in range(lo, min(lo + chunk, nnz)):
            e = entries[p]
            least = min(least, e)
            most = max(most, e)
        bad += (least < 0) + (most >= ncols)
    for i in range(lo, min(lo + chunk, row_map.shape[0] - 1)):
        bad += row_map[i + 1] < row_map[i]
    return bad


class IndexView(View):
    """A CrsMatrix's ``row_map`` or ``entries``: a View that refuses to be changed in place.

    The matrix remembers that it checked these arrays; changing them would
    let a bad index reach the kernels.  Results of arithmetic on it are
    plain arrays.
    """

    def __array_finalize__(self, obj):
        super().__array_finalize__(obj)
        #: whether the matrix owns the memory (nobody else holds a writable array of it)
        self.owned = getattr(obj, "owned", False)

    def _refuse(self, *args, **kwargs):
        raise ValueError(f"{self.label or 'this index array'} is read-only: a CrsMatrix checks "
                         "its structure once; build a new CrsMatrix to change it")

    __setitem__ = fill = put = sort = partition = itemset = _refuse

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if out is not None:
            if any(isinstance(o, IndexView) for o in out):
                self._refuse()
            kwargs["out"] = out
        inputs = tuple(np.asarray(a) if isinstance(a, IndexView) else a for a in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def copy(self, order="C"):
        return np.asarray(self).copy(order).view(View)


def kernel_array(a):
    """``a`` as a plain ndarray for a kernel that only reads it.

    numba types a read-only array apart from a writable one, so every
    kernel given a read-only operand (``to_scipy()``'s index arrays, a
    memory-mapped file) was compiled again for it, for each mix of the two
    across its arguments: in the test suite, a few seconds per mix.  A
    read-only array therefore reaches the kernels as a writable alias of the
    same memory; only arrays a kernel reads may come this way (see
    ``crs_arrays``'s ``out``).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(3.0); a.flags.writeable = False
    >>> b = kernel_array(a)
    >>> b.flags.writeable, np.shares_memory(a, b)
    (True, True)
    """
    a = np.asarray(a)
    return a if a.flags.writeable else np.asarray(Alias(a))


def skipping():
    """Whether :func:`unsafe_skip_validation` is in force here."""
    return _SKIP.get()


def owned(final, src, given):
    """``(final, whether only kkpy can write it)`` for an index array a CrsMatrix will hold.

    ``given`` is what the caller passed, ``src`` it as an array, ``final``
    it converted to the index dtype: a copy, or an array built from a
    list, is the matrix's own.
    """
    fresh = (final is not src and not np.may_share_memory(final, src)) \
        or isinstance(given, (list, tuple, range))
    return final, fresh or private(final)


def private(a):
    """Whether nobody but kkpy can write the memory under ``a`` (short of asking for it).

    True for an array that owns read-only memory, or whose chain of bases
    reaches the :class:`IndexView` of a CrsMatrix that owns its memory;
    False as soon as a writable array that someone else may hold is met.
    """
    while isinstance(a, np.ndarray):
        if isinstance(a, IndexView):
            return a.owned
        if a.flags.writeable:
            return False
        a = a.base
        if a is None:
            return True
    return isinstance(a, bytes)


def _fault(what, name, row_map, entries, ncols):
    """The first fault of a structure known to have one, as one line."""
    nnz = entries.shape[0]
    if row_map.shape[0] and (row_map[0] != 0 or row_map[-1] != nnz):
        return (f"{what}: {name}'s row_map must run from 0 to its {nnz} entries, but runs "
                f"from {row_map[0]} to {row_map[-1]}")
    steps = np.flatnonzero(np.diff(row_map) < 0)
    if steps.size:
        i = int(steps[0])
        return (f"{what}: {name}'s row_map must be non-decreasing, but row_map[{i}] = "
                f"{row_map[i]} > row_map[{i + 1}] = {row_map[i + 1]}")
    out = np.flatnonzero((entries < 0) | (entries >= ncols))
    p = int(out[0])
    return (f"{what}: {name}'s column indices must lie in [0, {ncols}), but entries[{p}] = "
            f"{entries[p]} ({out.size} out of range)")


def structure(what, name, row_map, entries, values, ncols, nrows=None, space=None, deep=True):
    """Raise ValueError (TypeError for dtypes) unless the arrays form a valid CRS structure.

    Costs one parallel pass over ``row_map`` and ``entries``; with
    ``deep=False`` only the O(1) checks (types, lengths, the first and last
    offsets), for a kernel that checks every offset and index it reads.

    Examples
    --------
    >>> import numpy as np
    >>> structure("f", "A", np.array([0, 1, 2]), np.array([0, 1]), np.ones(2), 2)
    >>> structure("f", "A", np.array([0, 1, 2]), np.array([0, 5]), np.ones(2), 2)
    Traceback (most recent call last):
    ...
    ValueError: f: A's column indices must lie in [0, 2), but entries[1] = 5 (1 out of range)
    """
    for arr, label in ((row_map, "row_map"), (entries, "entries"), (values, "values")):
        if not isinstance(arr, np.ndarray) or arr.ndim != 1:
            raise ValueError(f"{what}: {name}'s {label} must be a 1-D array, got "
                             f"{getattr(arr, 'shape', type(arr).__name__)}")
    for arr, label in ((row_map, "row_map"), (entries, "entries")):
        if arr.dtype not in (np.int32, np.int64):
            raise TypeError(f"{what}: {name}'s {label} must be int32 or int64, got {arr.dtype}")
    if values.dtype not in COMPUTE:
        raise TypeError(f"{what}: {name}'s values must be one of "
                        f"{', '.join(map(str, COMPUTE))}, got {values.dtype}")
    if row_map.shape[0] == 0:
        raise ValueError(f"{what}: {name}'s row_map needs nrows + 1 >= 1 offsets, got none")
    if nrows is not None and row_map.shape[0] != nrows + 1:
        raise ValueError(f"{what}: {name} has {nrows} rows but its row_map has "
                         f"{row_map.shape[0]} offsets")
    if row_map[0] != 0:
        raise ValueError(f"{what}: {name}'s row_map must start at 0, got {row_map[0]}")
    nnz = entries.shape[0]
    if row_map[-1] != nnz or values.shape[0] != nnz:
        raise ValueError(f"{what}: {name}'s row_map ends at {row_map[-1]} but there are "
                         f"{nnz} column indices and {values.shape[0]} values")
    if ncols < 0:
        raise ValueError(f"{what}: {name} has a negative number of columns ({ncols})")
    n = max(nnz, row_map.shape[0] - 1)
    if n == 0 or not deep:
        return
    space = space or DefaultExecutionSpace()
    if space.backend != "host":
        from .. import DefaultHostExecutionSpace

        space = DefaultHostExecutionSpace()
    chunks = -(-n // _tuning.VALIDATE_CHUNK)
    if chunks == 1 and space.parallel:
        from .. import Serial

        space = Serial()
    bad = parallel_reduce("kkpy.sparse.validate", RangePolicy(space, 0, chunks), bad_in_chunk,
                          np.int64(_tuning.VALIDATE_CHUNK), row_map, entries, np.int64(ncols))
    if bad:
        raise ValueError(_fault(what, name, row_map, entries, ncols))


def matrix(A, what, name="A", space=None, deep=True):
    """``A`` as a valid CrsMatrix (a scipy.sparse matrix is wrapped), or a clear ValueError.

    A CrsMatrix already known valid costs O(1); see the module's docstring
    for when that memo holds.  A :class:`~kkpy.sparse.DeviceCrs` is
    returned as it is (it was checked on the host when uploaded).

    ``deep=False`` is for a kernel that checks, as it reads them, every
    offset (within ``[0, nnz]``, never decreasing) and every column index:
    then only the O(1) checks run here, and ``A._trusted`` is False where
    the kernel must check.  It calls :func:`checked_by_kernel` after.
    """
    CrsMatrix, as_crs = _MATRIX["type"], _MATRIX["wrap"]
    if not isinstance(A, CrsMatrix):
        if type(A).__name__ == "DeviceCrs":
            return A
        token = _SKIP.set(True)  # checked below, under the entry's name
        try:
            A = as_crs(A)
        except TypeError as e:
            raise TypeError(f"{what}: {name}: {e}") from None
        finally:
            _SKIP.reset(token)
        if _SKIP.get():
            return A
    elif _SKIP.get() or A._trusted:
        if A.values.shape[0] != A.entries.shape[0]:  # O(1): values may have been replaced
            raise ValueError(f"{what}: {name} has {A.entries.shape[0]} column indices but "
                             f"{A.values.shape[0]} values")
        return A
    structure(what, name, kernel_array(A.row_map), kernel_array(A.entries),
              np.asarray(A.values), A.ncols, space=space, deep=deep)
    if deep:
        A._trusted = private(A.row_map) and private(A.entries)
    return A


def real_scalar(what, name, s):
    """Refuse anything but a real number (complex included) as scalar ``name``.

    Examples
    --------
    >>> real_scalar("spadd", "alpha", 2.0)
    >>> real_scalar("spadd", "alpha", "2")
    Traceback (most recent call last):
    ...
    TypeError: spadd: alpha must be a real scalar, got '2'
    """
    if not isinstance(s, numbers.Number) or isinstance(s, complex):
        raise TypeError(f"{what}: {name} must be a real scalar, got {s!r}")


def checked_by_kernel(A, what, name, bad):
    """After a kernel that checked ``A`` as it read it: raise its fault, or remember it valid.

    ``bad`` holds a nonzero per block of rows that met a bad offset or
    index (and stopped before using it).
    """
    row_map, entries = np.asarray(A.row_map), np.asarray(A.entries)
    if bad.any():
        raise ValueError(_fault(what, name, row_map, entries, A.ncols))
    A._trusted = private(A.row_map) and private(A.entries)


def no_overlap(what, out_name, out, **inputs):
    """Raise ValueError if array ``out``, written by ``what``, shares memory with an input.

    Writing a result over an input it still reads gives a silently wrong
    answer; partly overlapping views count too.
    """
    out = np.asarray(out)
    for name, a in inputs.items():
        if a is None:
            continue
        a = np.asarray(a)
        if not np.may_share_memory(out, a):
            continue
        try:
            overlap = np.shares_memory(out, a, max_work=_tuning.OVERLAP_MAX_WORK)
        except np.exceptions.TooHardError:
            overlap = True
        if overlap:
            raise ValueError(f"{what}: {out_name} shares memory with {name}; the result would "
                             f"overwrite its own input (pass a separate array, e.g. "
                             f"{name}.copy())")


class TooLargeError(MemoryError, ValueError):
    """A size that needs more memory than the machine has (a ValueError too: bad input)."""


def available_bytes():
    """Memory the kernel says a new allocation can still get (MemAvailable), in bytes."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def fits(nbytes, what):
    """Raise :class:`TooLargeError` unless ``nbytes`` fit in the memory available now.

    Checked before a large allocation, because Linux grants one far past
    the memory there is and the out-of-memory killer ends the process when
    it is touched: an error message is better.

    Examples
    --------
    >>> fits(1024, "a small array")
    >>> fits(1 << 62, "from_coo of 2**58 rows")
    Traceback (most recent call last):
    ...
    kkpy.sparse._validate.TooLargeError: from_coo of 2**58 rows: too large: asked for 4611686018427387904 bytes, ... available
    """
    nbytes = int(nbytes)
    avail = available_bytes()
    if avail is not None and nbytes > avail:
        raise TooLargeError(f"{what}: too large: asked for {nbytes} bytes, {avail} available")


def too_large_message(err):
    """One line for a MemoryError: the bytes asked for when numpy says, as for :func:`fits`."""
    if isinstance(err, TooLargeError):
        return str(err)
    size = getattr(err, "_total_size", None)  # numpy's _ArrayMemoryError
    if size is not None:
        return f"too large: asked for {int(size)} bytes, {available_bytes()} available"
    return f"too large: out of memory{': ' + str(err) if str(err) else ''}"
