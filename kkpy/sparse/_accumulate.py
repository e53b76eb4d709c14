"""Choosing a row accumulator (dense or hash) and planning the rows for it."""
from __future__ import annotations

import numpy as np

from . import _tuning
from ._staged import RowPlan

ALGORITHMS = ("auto", "dense", "hash")


def check_algorithm(what, algorithm):
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{what}: algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    return algorithm


def choose_accumulator(ncols, mean_bound, itemsize, threads, fill=None):
    """Dense or hash accumulator for rows of ``ncols`` columns, as ``"auto"`` decides.

    A dense accumulator costs ``w = ncols * (itemsize + 4)`` bytes per thread
    (values plus an int32 marker) and touches them at random; a hash table
    costs about 2-4 slots per entry of the row, wherever the columns are,
    plus a radix sort of each row.  The rule, in the spirit of Kokkos
    Kernels' speed-versus-memory choice::

        hash   if  w * threads > DENSE_MEMORY_BYTES
        hash   if  w > DENSE_HOT_BYTES  and  fill <= HASH_FILL
        dense  if  w <= DENSE_CACHE_BYTES  or  mean_bound >= DENSE_FILL * ncols
        hash   otherwise

    i.e. dense when it fits the memory budget and either stays in cache or
    the rows of the result are full enough that a hash table would not be
    much smaller; but hash when the rows compress (many products land on few
    columns: ``fill``, the fraction of the rows' upper bounds that they
    fill, is small) and the dense array is past the fastest caches.
    ``mean_bound`` is the mean over rows of ``min(ncols, contributions)``;
    ``fill`` (None: unknown) a callable that estimates it, called only when
    the rule needs it.  The thresholds, and the measurements behind them,
    are in ``kkpy/sparse/_tuning.py``.

    Examples
    --------
    >>> from kkpy.sparse import choose_accumulator
    >>> choose_accumulator(1024, 700, 4, 2), choose_accumulator(10**7, 300, 8, 2)
    ('dense', 'hash')
    >>> choose_accumulator(65536, 1024, 8, 2, fill=lambda: 0.05)  # W @ W, 65536 neurons
    'hash'
    """
    w = ncols * (itemsize + 4)
    if w * threads > _tuning.DENSE_MEMORY_BYTES:
        return "hash"
    if fill is not None and w > _tuning.DENSE_HOT_BYTES and fill() <= _tuning.HASH_FILL:
        return "hash"
    if w <= _tuning.DENSE_CACHE_BYTES or mean_bound >= _tuning.DENSE_FILL * ncols:
        return "dense"
    return "hash"


def mean_row_span(row_map, entries, sample=None):
    """Mean of ``max - min`` column over up to ``sample`` evenly spaced nonempty rows.

    ``sample`` defaults to :data:`~kkpy.sparse._tuning.SPAN_SAMPLE`.

    Examples
    --------
    >>> import numpy as np
    >>> mean_row_span(np.array([0, 2, 2, 5]), np.array([3, 1, 7, 9, 8]))
    2.0
    """
    n = row_map.shape[0] - 1
    if n == 0:
        return 0.0
    if sample is None:
        sample = _tuning.SPAN_SAMPLE
    rows = np.unique(np.linspace(0, n - 1, min(n, sample)).astype(np.int64))
    lo, hi = np.asarray(row_map[rows], np.int64), np.asarray(row_map[rows + 1], np.int64)
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        return 0.0
    lengths = hi - lo
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    picked = entries[np.repeat(lo - starts, lengths) + np.arange(int(lengths.sum()))]
    span = np.maximum.reduceat(picked, starts) - np.minimum.reduceat(picked, starts)
    return float(span.mean())


def use_two_pass(nrows, products, window, itemsize, threads, ncols):
    """Whether a plain ``A @ B`` should take the two-pass path for low-flop products.

    With few products per row the one-pass kernels' staging and compaction
    cost as much as the products; the two-pass path writes ``C`` directly,
    through a marker and an accumulator of ``ncols`` entries per thread.
    That wins only where each row's columns lie in a narrow ``window``
    (stencils, banded matrices: the accumulator's live part stays in
    cache).  The thresholds (:data:`~kkpy.sparse._tuning.TWO_PASS_PRODUCTS`,
    :data:`~kkpy.sparse._tuning.TWO_PASS_WINDOW_BYTES`) carry the
    measurements that set them.

    Examples
    --------
    >>> use_two_pass(490000, 490000 * 25, 2800, 8, 2, 490000)    # Poisson 2D squared
    True
    >>> use_two_pass(500000, 500000 * 25, 10**6, 8, 2, 500000)   # random, as sparse
    False
    """
    if ncols * (itemsize + 8) * threads > _tuning.DENSE_MEMORY_BYTES:
        return False
    return (few_products(nrows, products)
            and window * (itemsize + 8) <= _tuning.TWO_PASS_WINDOW_BYTES)


def far_rows(a_span, b_nrows, b_nnz, itemsize):
    """Whether the rows of ``B`` that a row of ``A`` names lie too far apart to stay cached.

    A row of ``A`` spanning ``a_span`` columns names rows of ``B`` within
    ``a_span`` of each other; when those rows (entries and values) fill more
    than an L2 cache's share (:data:`~kkpy.sparse._tuning.TWO_PASS_WINDOW_BYTES`),
    the row loops prefetch them; nearer, as in a stencil, the rows the
    previous row of ``A`` read are still in cache and a prefetch only costs.

    Examples
    --------
    >>> far_rows(1400, 490000, 2447200, 8)        # Poisson 2D, 700 x 700 grid
    False
    >>> far_rows(490000, 500000, 1000000, 8)      # random A, tall-skinny B
    True
    """
    per_row = b_nnz / max(b_nrows, 1) * (itemsize + 8)
    return a_span * per_row > _tuning.TWO_PASS_WINDOW_BYTES


def few_products(nrows, products):
    """Whether rows average at most ``TWO_PASS_PRODUCTS`` products (cheap to ask first)."""
    return products <= _tuning.TWO_PASS_PRODUCTS * max(nrows, 1)


def use_row_bitmaps(ncols, nrows, nnz, flops):
    """Whether a dense SpGEMM should take its rows' columns from bitmaps of ``B``'s rows.

    Each row of ``B`` (``nrows`` x ``ncols``, ``nnz`` entries) becomes
    ``nw = ceil(ncols / 64)`` words; a row of ``C`` ORs the words of the rows
    of ``B`` it adds instead of testing every product's column.  The rule::

        ncols <= ROW_BITMAP_COLS  and
        nrows * nw <= ROW_BITMAP_WORDS_PER_ENTRY * nnz  and
        flops >= ROW_BITMAP_FLOPS_PER_WORD * nrows * nw

    (4096 columns, 2 and 4: see ``kkpy/sparse/_tuning.py``), that is:
    narrow ``B``, rows of ``B`` with at least half as many entries as words
    (so an OR of the words, a few vector operations, costs less than
    inserting the entries one by one), and enough products (``flops``) to
    repay building the bitmaps.  This is the rule of a handle's symbolic
    phase, whose bitmaps every numeric call reuses; a one-shot
    :func:`~kkpy.sparse.spgemm` asks for 256 products a word, not 4.

    Examples
    --------
    >>> from kkpy.sparse import use_row_bitmaps
    >>> use_row_bitmaps(1024, 1024, 32 * 1024, 32 * 32 * 1024)    # W @ W, 1024 neurons
    True
    >>> use_row_bitmaps(65536, 65536, 32 * 65536, 32 * 32 * 65536)  # too wide
    False
    """
    return bitmaps_repaid(ncols, nrows, nnz, flops, _tuning.ROW_BITMAP_FLOPS_PER_WORD)


def bitmaps_repaid(ncols, nrows, nnz, flops, per_word):
    """:func:`use_row_bitmaps`'s rule with ``per_word`` products to repay each word.

    A one-shot :func:`~kkpy.sparse.spgemm` asks for more
    (``_tuning.ROW_BITMAP_ONE_SHOT_FLOPS_PER_WORD``): no numeric call
    reuses its bitmaps.
    """
    words = nrows * ((ncols + 63) // 64)
    return (ncols <= _tuning.ROW_BITMAP_COLS
            and 0 < words <= _tuning.ROW_BITMAP_WORDS_PER_ENTRY * nnz
            and flops >= per_word * words)


def short_rows():
    """The most products a row of ``C`` may have to be kept sorted as it grows.

    Such rows (stencils squared: 25 products, 13 entries) are a few cache
    lines; a dense accumulator touches a wide array for them (and a chunk
    allocates and zeroes it), a hash table hashes and sorts.  The value is
    :data:`~kkpy.sparse._tuning.SHORT_ROW_PRODUCTS`, read at each call.
    """
    return _tuning.SHORT_ROW_PRODUCTS


def plan_rows(space, work, m, algorithm, value_dtype, fill_of=None):
    """Rows cut into chunks of equal ``work``, and whether to accumulate densely.

    ``fill_of(plan)``, if given, estimates the fraction of the rows' upper
    bounds that the result fills; :func:`choose_accumulator` may ask for it,
    and ``plan.fill`` keeps what it said (None if not asked).

    Returns
    -------
    plan : RowPlan
    dense : bool
    """
    plan = RowPlan(space, work, m)
    if algorithm == "auto":
        mean = plan.max_bound / max(work.shape[0], 1)

        def fill():
            plan.fill = fill_of(plan)
            return plan.fill

        algorithm = choose_accumulator(m, mean, np.dtype(value_dtype).itemsize,
                                       space.concurrency(), None if fill_of is None else fill)
    dense = algorithm == "dense"
    plan.split(_dense_min_work(m) if dense else _tuning.MIN_CHUNK_WORK)
    return plan, dense


def _dense_min_work(m):
    # A dense workspace costs about m stores to set up: give chunks work to repay it.
    return max(_tuning.MIN_CHUNK_WORK, m // _tuning.DENSE_SETUP_SHARE)
