"""Binning sort: ``Kokkos::BinSort``, ``Kokkos::BinOp1D``, ``BinOp3D`` and ``Kokkos::sort``.

A :class:`BinSort` puts the indices of a key View into bins chosen by a bin
operator (:class:`BinOp1D`: equal-width bins between a minimum and a maximum;
:class:`BinOp3D`: the same along each axis of a box, for points)
and keeps the result as a *permute vector*, which then reorders any View
along its first extent (:meth:`BinSort.sort`).  As in Kokkos it is built from
the programming model's own patterns, so it runs on every execution space:

1. one ``parallel_for`` computes each key's bin and counts the bins with
   atomics;
2. an exclusive ``parallel_scan`` of the counts gives each bin's offset;
3. a second ``parallel_for`` scatters every index into its bin's slots,
   taking a slot with ``atomic_fetch_add``;
4. with ``sort_within_bins`` one ``parallel_for`` over the bins sorts the
   indices of each bin by key.

Deviations from Kokkos, all deliberate:

* ``BinOp1D(nbins, min, max)`` has exactly ``nbins`` bins, and keys are
  clamped into them: a key ``<= min`` (or NaN) goes to bin 0, a key ``>= max``
  to bin ``nbins - 1``.  Kokkos's ``BinOp1D`` has ``max_bins + 1`` bins (so
  that ``max`` itself has a bin) and leaves keys outside ``[min, max]``
  undefined.  Kokkos's special case for integer keys (one value per bin when
  the range is narrower than ``nbins``) is not needed: the bins are then at
  least one unit wide, so distinct integers never share a bin anyway.
* Within a bin, ``sort_within_bins=True`` orders indices by key and then by
  index (Kokkos's in-bin sort is not stable), so the permutation is unique
  and equals a stable argsort of the keys.  Without it the order within a
  bin is whatever the atomics gave, unspecified on parallel spaces (index
  order on ``Serial``).
* Bad arguments raise ``ValueError`` / ``TypeError`` (Kokkos asserts or has
  undefined behaviour).
* :func:`sort` is Kokkos's BinSort-based ``Kokkos::sort`` (``nbins = n / 2``,
  sorting within bins).  A bin of at most ``_INSERTION_MAX`` keys is
  insertion-sorted, a larger one heapsorted: many equal or clustered keys
  cost ``n log n`` in their bin, never ``n**2``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._atomics import atomic_add, atomic_fetch_add
from ._kernel import kernel
from ._patterns import parallel_for, parallel_reduce, parallel_scan
from ._policies import RangePolicy
from ._reducers import Max, Min
from ._spaces import DefaultExecutionSpace, DefaultHostExecutionSpace, ExecutionSpace, HostSpace
from ._views import View, deep_copy, memory_space_of

__all__ = ["BinOp1D", "BinOp3D", "BinSort", "sort"]


# -- kernels -------------------------------------------------------------------------

#: Bins of at most this many keys are insertion-sorted (fast on a few keys);
#: larger ones are heapsorted.  Not swept: the usual small-sort cut-off.
_INSERTION_MAX = 16


@kernel
def _axis_bin(x, lo, hi, mul, nbins):
    # One axis of a bin operator: equal-width bins, keys outside clamped in.
    b = 0
    if x > lo:  # keys at or below min, and NaN, stay in bin 0
        if x >= hi:
            b = nbins - 1
        else:
            b = int((x - lo) * mul)
            if b > nbins - 1:  # rounding just below max
                b = nbins - 1
            if b < 0:
                b = 0
    return b


@kernel
def _bin_and_count(i, k0, k1, k2, begin, lo0, lo1, lo2, hi0, hi1, hi2, mul0, mul1, mul2,
                   nb0, nb1, nb2, bins, counts):
    # k0, k1, k2: the keys' coordinates (a 1-D key has one bin along the
    # other two axes); the bin index is row-major, the first axis slowest.
    j = begin + i
    b = _axis_bin(k0[j], lo0, hi0, mul0, nb0) * nb1 + _axis_bin(k1[j], lo1, hi1, mul1, nb1)
    b = b * nb2 + _axis_bin(k2[j], lo2, hi2, mul2, nb2)
    bins[i] = b
    atomic_add(counts, b, 1)


@kernel
def _bin_count(i, counts):
    return counts[i]


@kernel
def _scatter(i, begin, bins, offsets, fill, perm):
    b = bins[i]
    perm[offsets[b] + atomic_fetch_add(fill, b, 1)] = begin + i


@kernel
def _after(k0, k1, k2, dims, q, p):
    """Whether key ``q`` sorts after key ``p``: coordinates in order, then the index."""
    if k0[q] != k0[p]:
        return k0[q] > k0[p]
    if dims > 1:
        if k1[q] != k1[p]:
            return k1[q] > k1[p]
        if k2[q] != k2[p]:
            return k2[q] > k2[p]
    return q > p


@kernel
def _sort_bin(b, k0, k1, k2, dims, offsets, counts, perm):
    # One bin's indices ordered by (key, index), keys compared coordinate by
    # coordinate (dims of them, in k0, k1, k2): a total order, so the result
    # does not depend on the order the scatter left.  Short bins take an
    # insertion sort; longer ones a heapsort, so that a bin holding every key
    # (all keys equal, say) costs n log n, not n**2.
    start = offsets[b]
    n = counts[b]
    if n <= _INSERTION_MAX:
        for j in range(start + 1, start + n):
            p = perm[j]
            m = j
            while m > start:
                q = perm[m - 1]
                if _after(k0, k1, k2, dims, q, p):
                    perm[m] = q
                    m -= 1
                else:
                    break
            perm[m] = p
        return
    heap = n
    build = n // 2          # roots still to sift while the heap is built
    while True:
        if build > 0:
            build -= 1
            root = build
        else:               # move the largest to the end, shrink the heap
            heap -= 1
            if heap <= 0:
                break
            t = perm[start]
            perm[start] = perm[start + heap]
            perm[start + heap] = t
            root = 0
        while True:         # sift perm[start + root] down
            child = 2 * root + 1
            if child >= heap:
                break
            c = perm[start + child]
            if child + 1 < heap:
                d = perm[start + child + 1]
                if _after(k0, k1, k2, dims, d, c):
                    child += 1
                    c = d
            r = perm[start + root]
            if _after(k0, k1, k2, dims, c, r):
                perm[start + root] = c
                perm[start + child] = r
                root = child
            else:
                break


@kernel
def _gather1(i, values, shift, perm, out):
    out[i] = values[perm[i] + shift]


@kernel
def _put1(i, values, begin, tmp):
    values[begin + i] = tmp[i]


@kernel
def _gather2(i, values, shift, perm, out):
    src = perm[i] + shift
    for j in range(out.shape[1]):
        out[i, j] = values[src, j]


@kernel
def _put2(i, values, begin, tmp):
    for j in range(tmp.shape[1]):
        values[begin + i, j] = tmp[i, j]


@kernel
def _key(i, keys):
    return keys[i]


# -- helpers -------------------------------------------------------------------------

def _is_number(x):
    return isinstance(x, (numbers.Real, np.integer, np.floating)) and not isinstance(x, bool)


def _default_space(view):
    """The space that runs on ``view``'s memory, as Kokkos takes the View's execution space."""
    mem = memory_space_of(view)
    if mem == HostSpace:
        return DefaultHostExecutionSpace()
    space = DefaultExecutionSpace()
    if space.memory_space != mem:
        from ._spaces import space_from_name
        space = space_from_name("cuda")
    return space


def _check_space(what, space, view):
    if not isinstance(space, ExecutionSpace):
        raise TypeError(f"{what}: expected an execution space, got {space!r}")
    mem = memory_space_of(view)
    if space.memory_space != mem:
        raise ValueError(f"{what}: {space!r} cannot access {mem!r}, where the View lives; "
                         f"pass a space that runs on it")


# -- BinOp1D, BinOp3D ----------------------------------------------------------------

def _axis(what, nbins, lo, hi):
    """``(nbins, min, max, mul)`` of one axis, checked; ``mul`` turns a distance into bins."""
    if not isinstance(nbins, (numbers.Integral, np.integer)) or isinstance(nbins, bool):
        raise TypeError(f"{what}: nbins must be an int, got {nbins!r}")
    if nbins < 1:
        raise ValueError(f"{what}: nbins must be at least 1, got {nbins}")
    if not (_is_number(lo) and _is_number(hi)):
        raise TypeError(f"{what}: min and max must be numbers, got {lo!r} and {hi!r}")
    flo, fhi = float(lo), float(hi)
    if not (np.isfinite(flo) and np.isfinite(fhi)):
        raise ValueError(f"{what}: min and max must be finite, got {lo!r} and {hi!r}")
    if fhi < flo:
        raise ValueError(f"{what}: max ({hi!r}) is below min ({lo!r})")
    return int(nbins), flo, fhi, (int(nbins) / (fhi - flo) if fhi > flo else 0.0)


def _host_bin(x, nbins, lo, hi, mul):
    """:func:`_axis_bin` in plain Python, for ``bin`` on the host."""
    if not x > lo:
        return 0
    if x >= hi:
        return nbins - 1
    return max(0, min(nbins - 1, int((x - lo) * mul)))


class BinOp1D:
    """Equal-width bins between ``min`` and ``max`` (``Kokkos::BinOp1D``).

    Key ``x`` goes to bin ``floor((x - min) * nbins / (max - min))``, clamped
    into ``[0, nbins - 1]``: keys at or below ``min`` (and NaN) to bin 0, keys
    at or above ``max`` to the last bin.  Unlike Kokkos's, which has
    ``max_bins + 1`` bins and no clamping, there are exactly ``nbins`` bins.

    Parameters
    ----------
    nbins : int
        Number of bins, at least 1.
    min, max : float or int
        The keys' range; ``max >= min`` (with ``max == min`` every key at or
        below it is in bin 0 and every key above it in the last bin).

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> op = kkpy.BinOp1D(4, 0.0, 8.0)
    >>> op.max_bins(), [op.bin(np.array([-1.0, 0.0, 3.9, 4.0, 8.0, 99.0]), i) for i in range(6)]
    (4, [0, 0, 1, 2, 3, 3])
    """

    #: Coordinates per key: BinSort takes rank-1 keys.
    dims = 1

    def __init__(self, nbins, min, max):  # noqa: A002  (Kokkos's names)
        self.nbins, self.min, self.max, self.mul = _axis("BinOp1D", nbins, min, max)

    def axes(self):
        """``(nbins, min, max, mul)`` of each of the three axes the kernels bin along."""
        return [(self.nbins, self.min, self.max, self.mul)] + [(1, 0.0, 0.0, 0.0)] * 2

    def max_bins(self) -> int:
        """The number of bins (Kokkos's name)."""
        return self.nbins

    def bin(self, keys, i) -> int:
        """The bin of ``keys[i]``, computed on the host (the kernels compute the same)."""
        return _host_bin(keys[i], self.nbins, self.min, self.max, self.mul)

    def __call__(self, keys, i1, i2) -> bool:
        """Whether ``keys[i1]`` sorts before ``keys[i2]`` (Kokkos's comparison)."""
        return bool(keys[i1] < keys[i2])

    def __repr__(self):
        return f"BinOp1D({self.nbins}, {self.min!r}, {self.max!r})"


class BinOp3D:
    """Equal-width bins of a box in three dimensions (``Kokkos::BinOp3D``).

    Keys are rows of a ``(n, 3)`` View, points say.  Each coordinate is
    binned as :class:`BinOp1D` bins a key (clamped into its axis's bins), and
    the bin of a point is ``(b0 * nbins[1] + b1) * nbins[2] + b2``: row-major,
    the first coordinate slowest, as in Kokkos.  With ``sort_within_bins``
    the points of a bin are ordered by their coordinates in turn, then by
    index.

    Parameters
    ----------
    nbins : sequence of 3 ints
        Bins along each axis, each at least 1 (Kokkos's ``max_bins[3]``).
    min, max : sequences of 3 numbers
        The box: ``max[d] >= min[d]`` along each axis ``d``.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> op = kkpy.BinOp3D((2, 3, 4), (0.0, 0.0, 0.0), (1.0, 3.0, 4.0))
    >>> pts = np.array([[0.9, 0.5, 3.5], [0.1, 2.5, 0.0]])
    >>> op.max_bins(), op.bin(pts, 0), op.bin(pts, 1)
    (24, 15, 8)
    """

    dims = 3

    def __init__(self, nbins, min, max):  # noqa: A002  (Kokkos's names)
        parts = [list(x) if np.ndim(x) == 1 else None for x in (nbins, min, max)]
        if any(p is None or len(p) != 3 for p in parts):
            raise TypeError(f"BinOp3D: nbins, min and max must each hold three values, got "
                            f"{nbins!r}, {min!r} and {max!r}")
        self._axes = [_axis(f"BinOp3D (axis {d})", *args) for d, args in enumerate(zip(*parts))]
        self.nbins = tuple(a[0] for a in self._axes)
        self.min = tuple(a[1] for a in self._axes)
        self.max = tuple(a[2] for a in self._axes)

    def axes(self):
        """``(nbins, min, max, mul)`` of each axis."""
        return list(self._axes)

    def max_bins(self) -> int:
        """The number of bins: the product of the three axes' (Kokkos's name)."""
        return int(np.prod(self.nbins))

    def bin(self, keys, i) -> int:
        """The bin of point ``keys[i]``, computed on the host (the kernels compute the same)."""
        b = 0
        for d, (nb, lo, hi, mul) in enumerate(self._axes):
            b = b * nb + _host_bin(keys[i, d], nb, lo, hi, mul)
        return b

    def __call__(self, keys, i1, i2) -> bool:
        """Whether point ``keys[i1]`` sorts before ``keys[i2]``: the first coordinate
        that differs decides."""
        for d in range(3):
            if keys[i1, d] != keys[i2, d]:
                return bool(keys[i1, d] < keys[i2, d])
        return False

    def __repr__(self):
        return f"BinOp3D({self.nbins}, {self.min!r}, {self.max!r})"


_BINOPS = (BinOp1D, BinOp3D)


# -- BinSort -------------------------------------------------------------------------

class BinSort:
    """Sort the indices of a key View into bins (``Kokkos::BinSort``).

    Called as Kokkos's constructors are: ``BinSort([space,] keys,
    [range_begin, range_end,] binop, sort_within_bins=False)``.
    :meth:`create_permute_vector` does the work; :meth:`sort` then reorders
    Views by the result.

    Parameters
    ----------
    space : ExecutionSpace, optional
        Where the kernels run; by default the space of the keys' memory
        (the default host space for host Views).
    keys : View or array
        Integer or floating keys, only read: rank 1 for a :class:`BinOp1D`,
        ``(n, 3)`` points for a :class:`BinOp3D`.
    range_begin, range_end : int, optional
        Bin only ``keys[range_begin:range_end]`` (default: all of them).
    binop : BinOp1D or BinOp3D
        Maps a key to its bin.
    sort_within_bins : bool, default False
        Also sort each bin by key (ties by index), which makes the
        permutation a stable argsort of the keys.  Without it the order of
        indices within a bin is unspecified on parallel spaces.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> keys = np.array([5.0, 1.0, 4.0, 1.5, 0.0])
    >>> bs = kkpy.BinSort(kkpy.Serial(), keys, kkpy.BinOp1D(3, 0.0, 5.0), True)
    >>> bs.create_permute_vector()
    >>> bs.get_permute_vector().tolist(), bs.get_bin_count().tolist()
    ([4, 1, 3, 2, 0], [3, 0, 2])
    >>> vals = np.array([50, 10, 40, 15, 0])
    >>> bs.sort(vals); vals.tolist()
    [0, 10, 15, 40, 50]
    """

    def __init__(self, *args, sort_within_bins=None):
        space = None
        if args and isinstance(args[0], ExecutionSpace):
            space, args = args[0], args[1:]
        if not args:
            raise TypeError("BinSort: expected BinSort([space,] keys, [range_begin, range_end,] "
                            "binop, sort_within_bins=False)")
        keys, rest = args[0], list(args[1:])
        begin, end = 0, None
        if len(rest) >= 2 and all(isinstance(r, (numbers.Integral, np.integer))
                                  and not isinstance(r, bool) for r in rest[:2]):
            begin, end, rest = int(rest[0]), int(rest[1]), rest[2:]
        if not rest or not isinstance(rest[0], _BINOPS):
            raise TypeError("BinSort: expected BinSort([space,] keys, [range_begin, range_end,] "
                            "binop, sort_within_bins=False) with binop a kkpy.BinOp1D or "
                            "kkpy.BinOp3D")
        binop, rest = rest[0], rest[1:]
        if len(rest) > 1 or (rest and sort_within_bins is not None):
            raise TypeError("BinSort: too many arguments after binop (only sort_within_bins)")
        within = rest[0] if rest else bool(sort_within_bins)
        shape = tuple(getattr(keys, "shape", ()))
        if (len(shape), shape[1:]) != ((1, ()) if binop.dims == 1 else (2, (3,))):
            got = f"shape {shape}" if hasattr(keys, "shape") else type(keys).__name__
            want = "a rank-1 View" if binop.dims == 1 else "a View of shape (n, 3)"
            raise ValueError(f"BinSort: keys for a {type(binop).__name__} must be {want}, "
                             f"got {got}")
        kind = np.dtype(keys.dtype).kind
        if kind not in "iuf":
            raise TypeError(f"BinSort: keys must be integers or floats, got dtype {keys.dtype}")
        n = keys.shape[0]
        end = n if end is None else end
        if not 0 <= begin <= end <= n:
            raise ValueError(f"BinSort: key range [{begin}, {end}) is not within the "
                             f"{n} keys")
        space = _default_space(keys) if space is None else space
        _check_space("BinSort", space, keys)
        self.space, self.keys, self.binop = space, keys, binop
        self.range_begin, self.range_end = begin, end
        self.sort_within_bins = bool(within)
        nb = binop.max_bins()
        self._counts = View("BinSort::bin_count", nb, dtype=np.int64, space=space)
        self._offsets = View("BinSort::bin_offsets", nb, dtype=np.int64, space=space)
        self._perm = View("BinSort::sort_order", end - begin, dtype=np.int64, space=space)
        self._created = False

    def _policy(self, n):
        return RangePolicy(self.space, 0, n)

    def create_permute_vector(self, space=None) -> None:
        """Bin the keys: count the bins, scan their offsets, scatter the indices.

        Parameters
        ----------
        space : ExecutionSpace, optional
            Overrides the space given to the constructor (Kokkos's
            ``create_permute_vector(exec)``).
        """
        if space is not None:
            _check_space("BinSort.create_permute_vector", space, self.keys)
            self.space = space
        n, nb, op = self.range_end - self.range_begin, self.binop.max_bins(), self.binop
        bins = View("BinSort::bins", n, dtype=np.int64, space=self.space, initialize=False)
        fill = View("BinSort::bin_fill", nb, dtype=np.int64, space=self.space)
        deep_copy(self._counts, 0)
        (n0, lo0, hi0, m0), (n1, lo1, hi1, m1), (n2, lo2, hi2, m2) = op.axes()
        parallel_for("Kokkos::Sort::BinCount", self._policy(n), _bin_and_count, *self._columns(),
                     self.range_begin, lo0, lo1, lo2, hi0, hi1, hi2, m0, m1, m2, n0, n1, n2,
                     bins, self._counts)
        parallel_scan("Kokkos::Sort::BinOffset", self._policy(nb), _bin_count, self._counts,
                      out=self._offsets)
        parallel_for("Kokkos::Sort::BinBinning", self._policy(n), _scatter, self.range_begin,
                     bins, self._offsets, fill, self._perm)
        if self.sort_within_bins:
            parallel_for("Kokkos::Sort::BinSort", self._policy(nb), _sort_bin, *self._columns(),
                         op.dims, self._offsets, self._counts, self._perm)
        self._created = True

    def _columns(self):
        """The keys' three coordinates as rank-1 Views (a rank-1 key's, three times)."""
        if self.binop.dims == 1:
            return (self.keys,) * 3
        return tuple(self.keys[:, d] for d in range(3))

    def _need(self, what):
        if not self._created:
            raise RuntimeError(f"BinSort.{what}: call create_permute_vector() first")

    def get_permute_vector(self):
        """``perm``: the sorted position ``k`` holds key index ``perm[k]`` (absolute, not
        relative to ``range_begin``)."""
        self._need("get_permute_vector")
        return self._perm

    def get_bin_count(self):
        """The number of keys in each bin."""
        self._need("get_bin_count")
        return self._counts

    def get_bin_offsets(self):
        """Where each bin starts in the permute vector (exclusive prefix sums of the counts)."""
        self._need("get_bin_offsets")
        return self._offsets

    def get_sort_within_bins(self) -> bool:
        return self.sort_within_bins

    def sort(self, *args):
        """Reorder ``values`` along its first extent by the permute vector, in place.

        Called ``sort([space,] values[, values_range_begin[, values_range_end]])``:
        ``values[begin + k]`` becomes the old ``values[begin + perm[k] - range_begin]``
        (through a temporary, so ``values`` may be the keys themselves).
        ``values_range_end - values_range_begin`` must equal the number of
        keys binned; ``values`` is rank 1 or 2.
        """
        self._need("sort")
        space = self.space
        if args and isinstance(args[0], ExecutionSpace):
            space, args = args[0], args[1:]
        if not 1 <= len(args) <= 3:
            raise TypeError("BinSort.sort: expected sort([space,] values[, values_range_begin"
                            "[, values_range_end]])")
        values = args[0]
        n = self.range_end - self.range_begin
        begin = int(args[1]) if len(args) > 1 else 0
        end = int(args[2]) if len(args) > 2 else begin + n
        ndim = getattr(values, "ndim", None)
        if ndim not in (1, 2):
            raise ValueError(f"BinSort.sort: values must be a rank-1 or rank-2 View, got rank "
                             f"{ndim}")
        if end - begin != n:
            raise ValueError(f"BinSort.sort: the values range [{begin}, {end}) has {end - begin} "
                             f"entries but {n} keys were binned")
        if not 0 <= begin <= end <= values.shape[0]:
            raise ValueError(f"BinSort.sort: the values range [{begin}, {end}) is not within "
                             f"the {values.shape[0]} values")
        _check_space("BinSort.sort", space, values)
        tmp = View("BinSort::sorted_values", (n, *values.shape[1:]), dtype=values.dtype,
                   space=space, initialize=False)
        gather, put = (_gather1, _put1) if ndim == 1 else (_gather2, _put2)
        policy = RangePolicy(space, 0, n)
        parallel_for("Kokkos::Sort::CopyPermute", policy, gather, values,
                     begin - self.range_begin, self._perm, tmp)
        parallel_for("Kokkos::Sort::Copy", policy, put, values, begin, tmp)

    def __repr__(self):
        return (f"BinSort({self.space!r}, {self.range_end - self.range_begin} keys, "
                f"{self.binop!r}, sort_within_bins={self.sort_within_bins})")


def sort(*args) -> None:
    """Sort a rank-1 View in place, ascending (``Kokkos::sort``, its BinSort form).

    Called ``sort([space,] view)``.  Bins the keys into ``n // 2`` bins
    between their minimum and maximum and sorts within the bins, as
    Kokkos's BinSort-based ``sort`` does; the result is the same as
    ``np.sort`` for keys without NaN.

    Examples
    --------
    >>> import numpy as np, kkpy
    >>> v = np.array([3, -1, 2, 2, 7])
    >>> kkpy.sort(kkpy.Serial(), v); v.tolist()
    [-1, 2, 2, 3, 7]
    """
    space = None
    if args and isinstance(args[0], ExecutionSpace):
        space, args = args[0], args[1:]
    if len(args) != 1:
        raise TypeError("sort: expected sort([space,] view)")
    view = args[0]
    if getattr(view, "ndim", None) != 1:
        raise ValueError("sort: the View must be rank 1")
    space = _default_space(view) if space is None else space
    _check_space("sort", space, view)
    n = view.shape[0]
    if n < 2:
        return
    policy = RangePolicy(space, 0, n)
    lo = parallel_reduce("Kokkos::Sort::FindMin", policy, _key, view, reducer=Min)
    hi = parallel_reduce("Kokkos::Sort::FindMax", policy, _key, view, reducer=Max)
    if lo == hi:
        return
    bs = BinSort(space, view, BinOp1D(max(n // 2, 1), lo, hi), True)
    bs.create_permute_vector()
    bs.sort(view)
