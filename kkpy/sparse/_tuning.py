"""Every tuning threshold of the host sparse kernels, each with the measurement that set it.

A threshold decides between two correct ways of doing something (dense or
hash accumulator, one pass or two, huge pages or small, one thread or
many); none changes a result's bits, only its speed or memory.  They live
here, and nowhere else, so that retuning one means editing one line and
reading the evidence next to it.  "Not measured" says so where a value was
reasoned out rather than timed.

Measurements are on the 2-core development VM ("dev-2c") unless said
otherwise; see ``docs/performance.md`` for the runs.

Host Python code reads ``_tuning.NAME`` when it runs, so a test may patch a
threshold here once (``mock.patch.object(_tuning, "MIN_CHUNK_WORK", 1)``).
Compiled kernels import the names instead (``from .._tuning import NAME``):
numba freezes module globals into the machine code, so a kernel's
thresholds change only with this file (which invalidates the kernel cache).
The GPU chain's are at the end.

Examples
--------
>>> from kkpy.sparse import _tuning
>>> _tuning.DENSE_FILL, _tuning.SORT_INSERTION_MAX
(0.015625, 32)
"""
from __future__ import annotations

from numba.core import config as _config

# ---------------------------------------------------------------- accumulator choice
# (``_accumulate.choose_accumulator``: dense array or hash table per row of C)

#: A dense accumulator of at most this many bytes per thread stays in cache:
#: always dense.  Not measured alone; 4 MiB is a typical L2 + share of L3.
DENSE_CACHE_BYTES = 4 << 20
#: Rows of C that fill at most this fraction of their upper bounds (a sample's
#: mean of distinct columns / min(products, ncols)) compress so much that a
#: hash table sized for the bound stays hot, while a dense accumulator of more
#: than ``DENSE_HOT_BYTES`` takes a cache miss per product: hash.  W @ W of
#: the challenge's layers (fill 0.047), ``spgemm`` dense / hash, medians of 7,
#: loaded dev-2c: 16384 neurons (192 KB) 70.3 / 45.7 ms on one thread, 54.5 /
#: 37.8 on two; 65536 (768 KB) 274 / 167 and 211 / 121; numeric phase alone
#: 286 / 114 (one thread).  Rows that do not compress (power-law, uniform
#: random: fill 0.99-1.0) stay dense, 2x faster there; fills between 0.05 and
#: 0.99 not measured.
HASH_FILL = 1 / 8
#: ... for dense accumulators larger than this.  4096 neurons (48 KB, fill
#: 0.047): dense 9.3 ms against hash 13.0 on one thread, 6.8 / 7.0 on two;
#: 192 KB lost (above).  Set between the two.
DENSE_HOT_BYTES = 96 << 10
#: Dense accumulators (or two-pass markers) of all threads together may take
#: at most this many bytes; beyond, hash.  Not measured: a memory budget.
DENSE_MEMORY_BYTES = 1 << 30
#: Rows of C at least this full (mean upper bound / ncols) make a hash table
#: about as big as the dense array, so dense.  Not measured alone; follows the
#: speed-versus-memory rule of Kokkos Kernels.
DENSE_FILL = 1 / 64
#: A hash table has at least this many slots per entry its row may hold
#: (rounded up to a power of two: 2-4 slots per entry), so linear probing
#: stays short.  Not measured; the usual load factor of at most 1/2.
HASH_SLOTS_PER_ENTRY = 2
#: A chunk with a dense accumulator gets at least ``ncols / DENSE_SETUP_SHARE``
#: work: setting up the accumulator costs about ``ncols`` stores, which the
#: chunk's work must repay.  Not measured; chosen so setup is a few tenths of it.
DENSE_SETUP_SHARE = 4

# ---------------------------------------------------------------- two-pass SpGEMM
# (``_accumulate.use_two_pass``; medians of 5, ms, one-pass / two-pass / scipy:
# Poisson 2D 700 x 700 squared, 25 products a row, 55 / 45 / 47; uniformly
# random, 25 products a row, 387 / 457 / 553 and 42 / 49 / 47; tall-skinny
# (64 columns), 8 a row, 101 / 106 / 106)

#: Products per row of ``A @ B`` (mean) up to which the two-pass path may be taken.
TWO_PASS_PRODUCTS = 64
#: ... and bytes of accumulator a row of C may span (an L2 cache's share).
TWO_PASS_WINDOW_BYTES = 256 << 10
#: Rows sampled to estimate how many columns a row spans.  Not measured: a
#: sample cheap next to any product that reaches the test.
SPAN_SAMPLE = 1024

# ---------------------------------------------------------------- narrow B, short rows

#: ``B`` at most this wide may have its rows kept as bitmaps (64 words: a row
#: of words stays in L1).  Session 4: W @ W 1024 one-shot 2.4 ms -> 1.6-1.8 ms,
#: Y @ W 0.55 s -> 0.32-0.41 s (commit 5f337a2).
ROW_BITMAP_COLS = 4096
#: ... when the rows of ``B`` have at least one entry per this many words (an OR
#: of the words then costs less than inserting the entries one by one).  Not
#: measured alone; reasoned from the operation counts.
ROW_BITMAP_WORDS_PER_ENTRY = 2
#: ... and the product does at least this many products per word of bitmaps,
#: to repay building them.  Not measured alone; reasoned as above.
ROW_BITMAP_FLOPS_PER_WORD = 4
#: ... in a one-shot ``spgemm``, whose bitmaps no numeric call reuses.
#: Measured 2026-12-08 on dev-2c (2 threads, the public ``spgemm`` with and
#: without bitmaps alternating, medians; products per word in brackets):
#: W @ W 1024 neurons [64] 0.76-0.83 ms without against 0.87-0.93 with
#: (building them is a one-thread pass of about 66 us); W @ W 4096 [16]
#: 3.2-3.4 against 4.2-6.5; 300 and 1200 real images @ W [60, 240] the same
#: either way; 4800 images @ W [959] 13.5-16.2 against 12.9-13.8; 60000
#: [17700] 206-247 against 165-209.  A handle keeps 4: its symbolic phase
#: without them made symbolic + numeric of W @ W 30-40 % slower.
ROW_BITMAP_ONE_SHOT_FLOPS_PER_WORD = 256
#: More columns than this make ``B`` wide (the dense accumulator's bitmap needs
#: more than one level-1 word): its numeric phase marks columns instead
#: (``numeric_rows_marked``).  Not measured alone; the bitmap's geometry
#: (64 x 64 columns).  A different decision from ROW_BITMAP_COLS, which may
#: move on its own.
WIDE_COLS = 4096
#: Rows of C with at most this many products are kept sorted as they grow
#: (``sorted_add``), whatever the accumulator.  Poisson2D squared (700 x 700
#: grid, 25 products a row), one thread, row loop alone, median of 5, loaded
#: VM: hash 0.27-0.38 s, dense 0.10-0.13 s, sorted 0.12 s; a chunk of short
#: rows also skips allocating the dense accumulator.  32 is not tuned further.
SHORT_ROW_PRODUCTS = 32
#: Rows (of a hash table's slots, of a two-pass row) up to this long are
#: insertion-sorted: quadratic but branch-light, in place and allocation-free;
#: longer ones take a radix or numpy sort.  Not measured as a threshold
#: (session 6 took insertion sort up to 32 for CRS rows sorted in place, which
#: now sort by rank, and the other two sorts share the value).
SORT_INSERTION_MAX = 32
#: Rows of a CRS row sort (``sort_and_merge``, ``from_coo``) up to this long
#: are sorted by rank, comparing every pair of their entries; longer ones by
#: a merge sort.  ``sort_and_merge`` of 2e6 entries in rows of k unsorted
#: columns, one thread, rank / merge sort ms: k=16 16.2 / 40.3, 32 20.0 / 44.3,
#: 48 29.4 / 53.0, 64 29.5 / 50.6, 96 40.6 / 59.5 (2026-12-07, dev machine,
#: scratch sweep).  Rank sorting costs k compares an entry, so it stops at 64.
SORT_RANK_MAX = 64
#: Entries of A ahead whose row of B is prefetched in the row loops (twice that
#: for B's row map, which must be read first).  Software prefetch took the
#: power-law product from 2.07x to 2.43x scipy; the distance was not tuned.
PREFETCH_DISTANCE = 4
#: Entries ahead whose targets the counting-sort scatters (transpose, COO ->
#: CRS) prefetch: each entry writes two random lines of the output.
SCATTER_PREFETCH_DISTANCE = 32

# ---------------------------------------------------------------- fill estimate

#: Rows of C computed ahead (at most) to estimate how full its staging will be.
#: Not measured: enough for a mean of ratios in [0, 1].
FILL_SAMPLE = 64
#: ... and the sample may cost at most ``1 / FILL_SAMPLE_SHARE`` of the product's
#: upper bounds, or is halved until it does.  Not measured.
FILL_SAMPLE_SHARE = 16

# ---------------------------------------------------------------- chunks and staging (``_staged``)

#: Least work (products, plus one per row) a chunk gets; below it threads
#: don't pay.  Not measured alone.
MIN_CHUNK_WORK = 1 << 14
#: Chunks per thread at most: enough to balance, few enough to allocate
#: workspaces rarely.  Not measured alone.
CHUNKS_PER_THREAD = 32
#: Staging entries one pass may reserve (the rows' upper bounds; pages never
#: touched cost nothing).  Not measured: bounds address space, not memory.
STAGING_ENTRIES = 1 << 26
#: Passes staging at most this many entries reuse a buffer kept per thread, and
#: copy the result out: first touches of fresh pages cost more than a small
#: copy.  Per-thread reuse of small staging: W @ W 1024 1.64x -> 1.91x scipy.
POOL_ENTRIES = 1 << 21
#: Arrays of results and scratch of at least this many bytes come from the
#: result pool (``host._pool``), over memory earlier arrays gave back: a page
#: written for the first time costs a fault, and with huge pages the kernel
#: zeroes 2 MiB at each.  Poisson2D squared, 2 threads, medians of 9, the
#: two-pass arrays fresh / already touched: 47.6 / 39.1 ms (scipy 47.5).
#: Smaller arrays come from malloc's own free lists.  Not swept.
RESULT_POOL_MIN_BYTES = 1 << 20
#: Passes expected (by the sampled fill) to fill at least this fraction of
#: their rows' bounds stage in blocks of the result pool and leave the result
#: there, its unused tail included; sparser ones stage in fresh memory and
#: shrink it to the result (W @ W 65536 fills 5 %).  Power-law A @ A (fill
#: 0.99) and uniform (1.0) take the pool.  The value is reasoned (a tenth of
#: a result's memory at most left unused), not swept.
POOL_STAGING_FILL = 0.9
#: The most bytes of free blocks the result pool keeps, as a share of the
#: machine's memory: an eighth (``KKPY_SPARSE_POOL_BYTES`` overrides; 0
#: turns the pool off).  Reasoned, not measured: a bound on memory held.
RESULT_POOL_SHARE = 8
#: ... and at most 4 GiB however large the machine: blocks are kept for
#: results of the same sizes, not as a cache of everything.  Reasoned.
RESULT_POOL_MAX_BYTES = 4 << 30
#: Pooled blocks are whole multiples of a huge page (2 MiB), so that equal
#: requests meet equal blocks and a block never shares a huge page.  Reasoned.
RESULT_POOL_GRAIN = 1 << 21


def result_pool_bytes():
    """The result pool's limit in bytes (see ``RESULT_POOL_SHARE``), read once."""
    if not _pool_limit:
        import os

        env = os.environ.get("KKPY_SPARSE_POOL_BYTES")
        if env not in (None, ""):
            try:
                limit = int(env)
            except ValueError:
                limit = -1
            if limit < 0:
                raise ValueError(f"environment variable KKPY_SPARSE_POOL_BYTES={env!r} is not "
                                 "a number of bytes (0 turns the result pool off)")
        else:
            try:
                total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, AttributeError):
                total = 8 << 30
            limit = min(total // RESULT_POOL_SHARE, RESULT_POOL_MAX_BYTES)
        _pool_limit.append(limit)
    return _pool_limit[0]


_pool_limit: list = []

#: Chunks expected to write at least this many bytes each get staging in huge
#: pages.  2 MiB left Poisson2D squared (1.2 MB a chunk) in small pages: 0.43 s
#: against 0.29 s in huge pages (2 threads, loaded VM, medians of 5); W @ W
#: 65536 (0.4 MB a chunk, 5 % of its bounds filled) stays in small pages, 8 %
#: faster there.
HUGE_PAGE_BYTES = 1 << 20
#: Loops shorter than this over rows (scans, counts) run on one thread: waking
#: the others (tens of microseconds, milliseconds on a busy machine) costs more
#: than the loop.  A cached tiny ``parallel_for`` measured 4.0 us Serial, 4.6 us
#: Threads quiet, 8-13 us under load; the length itself was not tuned.
SERIAL_BELOW = 1 << 18
#: A random read (e.g. of B's row map, once per entry of A) counts as this many
#: iterations of a streaming loop when choosing one thread or many
#: (``glue_space(space, nnz // RANDOM_READ_COST)``).  Not measured.
RANDOM_READ_COST = 8

# ---------------------------------------------------------------- row blocks, SpMV, validation

#: Blocks per thread for kernels whose rows are independent (SpMV, transpose,
#: sort, SpAdd): enough that an uneven block or a core lost to another process
#: costs little, few enough that each streams through thousands of rows.  Row
#: blocks took SpMV "N" from 0.78-0.81x to 1.2x scipy on one thread (session 6);
#: 8 was not tuned against other counts.
BLOCKS_PER_THREAD = 8
#: SpMV mode "T" gives each thread a private copy of ``y`` unless the copies
#: would hold more than this many times the matrix's entries; then atomics.
#: Not measured as a threshold (session 6).
SPMV_PRIVATE_LIMIT = 2
#: SpAdd's merge path counts a row's shared columns by comparing every pair
#: when the two rows' lengths multiply to at most this, else by a branch-free
#: merge.  Counting pass alone, one thread, 2e5 rows of k random columns each
#: (A + B; A + A in brackets), merge / pairs ms: k=8 8.5 / 2.8 (2.6 / 2.8),
#: 16 17.4 / 6.7 (6.8 / 6.7), 24 26.3 / 12.1 (11.3 / 12.0), 32 35.2 / 21.3
#: (15.7 / 21.1): pairs win on unrelated rows up to 24 x 24 and tie on equal
#: ones up to 16 x 16 (2026-12-07, dev machine, scratch sweep).
SPADD_PAIRS_LIMIT = 512
#: Elements each iteration of the validation pass covers: long enough for a
#: vectorised inner loop, short enough to split 1e6 entries among many
#: threads.  Not measured alone.
VALIDATE_CHUNK = 1 << 14
#: Work bound given to ``np.shares_memory`` when checking an output for overlap
#: with the inputs; past it the check is inconclusive and counts as overlap.
#: Not measured: keeps the check far cheaper than the kernel.
OVERLAP_MAX_WORK = 1 << 16

# ---------------------------------------------------------------- spgemm_chain (host)

#: Rows per dense block of the chain (the vector length of its inner loop):
#: 32 float32 sums fill four AVX2 registers per weight.  Not tuned against
#: other lengths.
CHAIN_BLOCK_ROWS = 32
#: Memory budget of the chain's dense working set; larger inputs run in
#: batches of rows.  Not measured: a memory budget.
CHAIN_MAX_BYTES = 2 << 30
#: Live rows are held densely while their mean density is at least this: a
#: dense product costs about ``ncols * avg_col_nnz / vector_width`` per row
#: against ``row_nnz * avg_row_nnz`` scattered updates, which breaks even near
#: 1/32 on AVX2 hardware.  Reasoned from those counts, not swept.
CHAIN_DENSE_FRACTION = 1 / 32
#: ... and go back to sparse storage below this share of it, so that they do
#: not flip at every product.  Not measured.
CHAIN_SPARSE_SHARE = 1 / 2

# ---------------------------------------------------------------- spgemm_chain (Cuda)
# (``kkpy.sparse.cuda._chain``; one H100 80GB HBM3, 60000 images, see the GPU
# section of docs/performance.md)

_simulated = bool(_config.ENABLE_CUDASIM)   # the simulator runs Python threads, not warps

#: Threads per block of the layer kernels: two warps, each taking its own work
#: items; 32 such blocks fill a multiprocessor's 2048 threads.  Not swept.  One
#: warp under the simulator, which runs a Python thread per thread (its grid
#: has two blocks, so two warps still share the work).
GPU_BLOCK = 32 if _simulated else 64
#: Outputs one warp computes together when their columns of B list the same
#: rows: each input line is loaded once for all of them.  Measured: grouping
#: took 1024 x 120 from 2.16e13 to 2.91e13 edges/s and 65536 x 120 from
#: 1.70e13 to 3.56e13; 16 sums still fit in registers.
GPU_GROUP = 16
#: Fewer outputs sharing their rows than this are computed one by one: each
#: input load would serve too few outputs to pay for a group's fixed work.
#: Reasoned, not swept.
GPU_SHARED_MIN = 8
#: Threads of the one block that turns each product's live-row masks into
#: slots.  Not swept; small under the simulator, where threads are costly.
GPU_PLAN_BLOCK = 32 if _simulated else 256
#: Bytes per chunk of a host input's upload through pinned memory.  Measured
#: from the host CSR at 1024 x 120: 20.3 ms with 8 MiB, 23.0 with 2 MiB and
#: 30.1 with 1 MiB (more chunks, more copy calls of fixed cost).
GPU_UPLOAD_CHUNK = 8 << 20
#: Host threads that copy upload chunks into pinned memory (numpy's copy
#: releases the GIL).  Not swept: half the device host's 16 cores.
GPU_UPLOAD_THREADS = 8
#: Inputs of at most this many columns load into the batches through
#: shared-memory tiles, clearing and loading in one coalesced write
#: (:mod:`kkpy.sparse.cuda._load`); wider ones are cleared by a memset and
#: scattered into (each block of the tiled load reads its rows' entries once
#: per tile of columns).  Measured on one H100, 60000 images of 1024: memset
#: 79 us plus scatter 446 us (see ``_batches``' docstring).  The limit is
#: reasoned (16 tiles of float32), not swept.
GPU_TILED_LOAD_COLUMNS = 4096
#: Bytes of one row of a tiled load's tile (32 rows): 1024 gives 256 float32
#: columns, about 32 KiB of shared memory with the padding (numba's static
#: limit is 48).  Not swept.  Small under the simulator, so that its small
#: tests cross several tiles.
GPU_LOAD_TILE_ROW_BYTES = 64 if _simulated else 1024
#: Threads per block of the tiled load: eight warps, each loading a row at a
#: time.  Not swept; one warp under the simulator, which runs a thread per thread.
GPU_LOAD_THREADS = 32 if _simulated else 256
#: Columns per work item when the final rows are counted and compacted: a
#: few live rows of a wide layer still spread over the whole GPU.  Not swept.
GPU_COMPACT_CHUNK = 256
#: An input goes through the chain in parts of at least this many entries, at
#: most ``GPU_PIPELINE_PARTS`` of them, each on its own buffers and stream: a
#: part's upload overlaps the products of the part before, and the parts fill
#: each other's gaps.  Measured from the host CSR: 65536 x 120 (392M entries)
#: 633 ms in one part, 529 in two, 471 in four, 465 in eight; 1024 x 120 (6.1M
#: entries) 16.6 ms in one part, 19.6 in two, 24.3 in four, 27.2 in eight
#: (each part replays every product's launches).  Under the simulator, small,
#: so that its tests go through the parts too.
GPU_PIPELINE_ENTRIES = 64 if _simulated else 1 << 24
#: See ``GPU_PIPELINE_ENTRIES``; eight is the most tried (465 ms against 471
#: with four at 65536 x 120).
GPU_PIPELINE_PARTS = 3 if _simulated else 8
#: Share of the GPU memory free when a chain is prepared that its matrices
#: may take; past it the later matrices stay on the host and stream (see
#: ``CudaChain``).  Reasoned, not swept: the rest is for the activations,
#: two buffers of rows x neurons (60000 x 65536 float32: 31 GB, beside
#: 65536 x 1920's 33 GB of matrices on an 80 GB H100).
GPU_RESIDENT_SHARE = 0.5
#: GPU slots that streamed matrices go up into in turn: one read by the
#: products, one being copied, one spare so that a copy never waits on the
#: product just before it.  Reasoned, not swept (no GPU run yet).
GPU_STREAM_SLOTS = 3
#: The memory the simulator's fake GPU reports to ``GPU_RESIDENT_SHARE``.
GPU_SIMULATED_MEMORY = 1 << 30

# ---------------------------------------------------------------- streamed chains (``_stream``)

#: Matrices a ChainStream's worker prepares ahead of the product that computes.
#: Two lets reading matrix k + 2 overlap product k while k + 1 waits ready;
#: memory holds at most this many plus the one computing and the one being
#: read.  Not measured: a bound on memory, not a speed setting.
STREAM_WINDOW = 2
