"""SpGEMM against scipy: one pass, two phases with reuse, accumulators, threads, epilogues."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kkpy
from crs_strategies import (VALUE_DTYPES, assert_canonical, assert_close, assert_structure, bits,
                            crs, crs_from_triples, magnitude, needs_two_threads, new_values, pattern,
                            planning, positive_pattern_product, ref, value_elements)
from kkpy.sparse import (CrsMatrix, SpGEMMHandle, epilogues, spgemm, spgemm_numeric,
                         spgemm_symbolic, use_row_bitmaps)

ALGORITHMS = ("auto", "dense", "hash")


@st.composite
def operands(draw, kind=None, **kw):
    """``(A, B, kind)`` with ``A.ncols == B.nrows``; any of the three sizes may be 0."""
    kind = draw(st.sampled_from(["int", "float"])) if kind is None else kind
    n, k, m = (draw(st.integers(0, 9)) for _ in range(3))
    return draw(crs(n, k, kind=kind, **kw)), draw(crs(k, m, kind=kind, **kw)), kind


def assert_product(C, A, B, exact):
    """``C == A @ B``: the product's structure (cancellations kept), sorted; scipy's values."""
    assert C.dtype == np.result_type(A.dtype, B.dtype)
    assert C.index_dtype == np.result_type(A.index_dtype, B.index_dtype)
    assert_structure(C, positive_pattern_product(pattern(A), pattern(B)))
    # No entry of C sums more products than its row does.
    per_row = sp.csr_array((np.ones(A.nnz), np.array(A.entries), np.array(A.row_map)),
                           shape=A.shape) @ np.diff(np.asarray(B.row_map))
    assert_close(C.toarray(), (ref(A) @ ref(B)).toarray(),
                 (magnitude(A) @ magnitude(B)).toarray(), int(per_row.max(initial=0)), C.dtype,
                 exact)


def two_phase(A, B, **kw):
    space = kw.pop("space", None)
    h = SpGEMMHandle(**kw)
    C = spgemm_symbolic(h, A, B, space=space)
    return h, spgemm_numeric(h, A, B, C, space=space)


@given(ops=operands(), algorithm=st.sampled_from(ALGORITHMS), tiny=st.booleans(),
       scipy_in=st.booleans())
def test_spgemm_matches_scipy(ops, algorithm, tiny, scipy_in):
    A, B, kind = ops
    args = (A.to_scipy(), B.to_scipy()) if scipy_in else (A, B)
    with planning(tiny):
        C = spgemm(*args, algorithm=algorithm)
    assert_product(C, A, B, exact=kind == "int")


@given(ops=operands(), algorithm=st.sampled_from(ALGORITHMS), tiny=st.booleans())
def test_symbolic_then_numeric_is_the_one_pass_product(ops, algorithm, tiny):
    A, B, kind = ops
    with planning(tiny):
        h = SpGEMMHandle(algorithm)
        C = spgemm_symbolic(h, A, B)
        assert not np.asarray(C.values).any() and h.nnz == C.nnz
        assert h.accumulator in ("dense", "hash")
        if algorithm != "auto":
            assert h.accumulator == algorithm
        assert spgemm_numeric(h, A, B, C) is C
        assert bits(C) == bits(spgemm(A, B, algorithm=h.accumulator))
    assert_product(C, A, B, exact=kind == "int")


@given(ops=operands(), data=st.data(), change=st.sampled_from(["A", "B", "both"]),
       algorithm=st.sampled_from(ALGORITHMS))
def test_numeric_again_with_new_values_gives_the_new_product(ops, data, change, algorithm):
    A, B, kind = ops
    h, C = two_phase(A, B, algorithm=algorithm)
    A2 = new_values(data.draw, A, kind) if change != "B" else A
    B2 = new_values(data.draw, B, kind) if change != "A" else B
    spgemm_numeric(h, A2, B2, C)
    assert bits(C) == bits(spgemm(A2, B2, algorithm=h.accumulator))
    assert_product(C, A2, B2, exact=kind == "int")
    # Same structure in other memory is the same structure.
    A3 = CrsMatrix(A.values, A.entries, A.row_map, A.ncols, copy=True)
    assert bits(spgemm_numeric(h, A3, B, C)) == bits(spgemm(A, B, algorithm=h.accumulator))


def test_numeric_sees_values_changed_in_place():
    A = CrsMatrix.from_coo([0, 0, 1], [0, 1, 1], [1.0, 2.0, 3.0], (2, 2))
    h, C = two_phase(A, A.to_scipy())
    np.asarray(A.values)[:] = [1.0, 1.0, 1.0]
    assert np.array_equal(spgemm_numeric(h, A, A, C).toarray(), [[1.0, 2.0], [0.0, 1.0]])


def test_read_only_operands_give_the_product_and_a_read_only_result_is_refused():
    # to_scipy() hands out read-only index arrays, as does a memory-mapped
    # file; the kernels read them as they read writable ones.
    A = sp.random(30, 20, density=0.2, format="csr", random_state=3)
    B = sp.random(20, 25, density=0.2, format="csr", random_state=4)
    frozen = [M.copy() for M in (A, B)]
    for M in frozen:
        for a in (M.indptr, M.indices, M.data):
            a.flags.writeable = False
    want = (A @ B).toarray()
    assert np.array_equal(spgemm(*frozen).toarray(), want)
    h, C = two_phase(*frozen)
    assert np.array_equal(C.toarray(), want)
    y = np.zeros(30)
    kkpy.sparse.spmv(1.0, frozen[0], np.asarray(frozen[1] @ np.ones(25)), 0.0, y)
    assert np.allclose(y, A @ (B @ np.ones(25)))
    S = C.to_scipy()
    S.data.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        spgemm_numeric(h, A, B, S)


def structural_changes(A):
    """Matrices with ``A``'s shape (or one more column) whose structure differs from ``A``'s."""
    rm, ent, val = np.array(A.row_map), np.array(A.entries), np.array(A.values)
    if A.nnz and A.ncols > 1:                       # one column moved, nnz unchanged
        e = ent.copy()
        e[-1] = (e[-1] + 1) % A.ncols
        yield CrsMatrix(val, e, rm, A.ncols)
    if A.nnz and A.nrows > 1:                       # one entry moved to another row
        r = rm.copy()
        i = int(np.argmax(np.diff(r) > 0))          # the first row with entries
        if i + 1 < A.nrows:
            r[i + 1] -= 1                           # its last entry goes to the next row
        else:
            r[i] += 1                               # its first entry goes to the row before
        yield CrsMatrix(val, ent, r, A.ncols)
    if A.nrows and A.ncols:                         # one more entry
        yield CrsMatrix(np.append(val, 1), np.append(ent, 0), np.append(rm[:-1], rm[-1:] + 1),
                        A.ncols)
    if A.nnz > 1 and ent[0] != ent[1] and rm[1] >= 2:  # two entries of a row swapped
        e = ent.copy()
        e[[0, 1]] = e[[1, 0]]
        yield CrsMatrix(val, e, rm, A.ncols)


@given(ops=operands(kind="int"), algorithm=st.sampled_from(ALGORITHMS))
def test_numeric_refuses_a_different_structure(ops, algorithm):
    A, B, _ = ops
    h, C = two_phase(A, B, algorithm=algorithm)
    for A2 in structural_changes(A):
        with pytest.raises(ValueError, match="structure of A"):
            spgemm_numeric(h, A2, B, C)
    for B2 in structural_changes(B):
        with pytest.raises(ValueError, match="structure of B"):
            spgemm_numeric(h, A, B2, C)
    wider = CrsMatrix(B.values, B.entries, B.row_map, B.ncols + 1)
    with pytest.raises(ValueError, match="structure of B"):
        spgemm_numeric(h, A, wider, C)
    with pytest.raises(ValueError, match="not the matrix"):
        spgemm_numeric(h, A, B, C.copy())
    if A.nnz and A.ncols > 1:                       # in-place edits are caught too
        ent = np.asarray(A.entries)
        old = ent[0]
        ent[0] = (old + 1) % A.ncols
        try:
            with pytest.raises(ValueError, match="structure of A"):
                spgemm_numeric(h, A, B, C)
        finally:
            ent[0] = old
    spgemm_numeric(h, A, B, C)                      # the handle is still good
    assert_product(C, A, B, exact=True)


def test_numeric_before_symbolic_and_bad_arguments_raise():
    A = CrsMatrix.from_coo([0], [1], [1.0], (2, 2))
    with pytest.raises(ValueError, match="spgemm_symbolic"):
        spgemm_numeric(SpGEMMHandle(), A, A, A)
    with pytest.raises(ValueError, match="columns must match"):
        spgemm(A, CrsMatrix.from_coo([], [], [], (3, 2)))
    with pytest.raises(ValueError, match="algorithm"):
        spgemm(A, A, algorithm="bitmap")
    with pytest.raises(ValueError, match="algorithm"):
        SpGEMMHandle("bitmap")


@given(ops=operands())
def test_dense_and_hash_accumulators_agree_bitwise(ops):
    A, B, _ = ops
    assert bits(spgemm(A, B, algorithm="dense")) == bits(spgemm(A, B, algorithm="hash"))
    assert bits(two_phase(A, B, algorithm="dense")[1]) == bits(two_phase(A, B,
                                                                         algorithm="hash")[1])


def test_auto_takes_hash_where_many_products_land_on_few_of_many_columns():
    # 1024 products a row onto at most 64 of 16384 columns (fill <= 1/16): a
    # dense accumulator of 192 KB would miss the cache at every product.
    from kkpy.sparse import _tuning

    rng = np.random.default_rng(0)
    n, m = 2000, 16384
    A = sp.csr_array((rng.random(n * 32), np.concatenate([rng.choice(m, 32, replace=False)
                                                          for _ in range(n)]),
                      np.arange(0, n * 32 + 1, 32)), shape=(n, m))
    B = sp.csr_array((rng.random(m * 32), np.concatenate([np.sort(rng.choice(64, 32,
                                                                             replace=False))
                                                          for _ in range(m)]),
                      np.arange(0, m * 32 + 1, 32)), shape=(m, m))
    assert m * 12 > _tuning.DENSE_HOT_BYTES
    h = SpGEMMHandle()
    C = spgemm_numeric(h, A, B, spgemm_symbolic(h, A, B))
    assert h.accumulator == "hash"
    assert bits(C) == bits(spgemm(A, B, algorithm="hash"))
    np.testing.assert_allclose(C.to_scipy().toarray(), (A @ B).toarray(), rtol=1e-13)


@st.composite
def narrow_operands(draw):
    """``(A, B, kind)`` for B's row bitmaps: B narrow, its rows full, distinct and unsorted."""
    kind = draw(st.sampled_from(["int", "float"]))
    n, k, m = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(8, 70))
    A = draw(crs(n, k, kind=kind, max_nnz=60))
    keep = draw(hnp.arrays(bool, (k, m)))
    rows, cols = np.nonzero(keep)
    order = np.lexsort((draw(hnp.arrays(np.float64, rows.size, elements=st.floats(0, 1))),
                        rows))                  # rows in order, columns shuffled within them
    vals = draw(hnp.arrays(np.float64, rows.size, elements=value_elements(kind)))
    B = crs_from_triples(rows[order], cols[order], vals, (k, m), A.dtype, A.index_dtype)
    return A, B, kind


@given(ops=narrow_operands(), data=st.data(), tiny=st.booleans())
def test_row_bitmaps_of_b_give_the_column_by_column_product(ops, data, tiny):
    # Narrow B with full rows: rows of C take their columns from bitmaps of B's rows
    # and add four products at a time; B's rows must list distinct columns for that.
    A, B, kind = ops
    flops = int((pattern(A) @ np.diff(np.asarray(B.row_map))).sum()) if A.nnz else 0
    assume(use_row_bitmaps(B.ncols, B.nrows, B.nnz, flops))
    from unittest import mock

    from kkpy.sparse import _tuning

    with planning(tiny):
        h, C = two_phase(A, B, algorithm="dense")
        # a one-shot product asks for more products a word: both ways here
        one = spgemm(A, B, algorithm="dense")
        with mock.patch.object(_tuning, "ROW_BITMAP_ONE_SHOT_FLOPS_PER_WORD",
                               _tuning.ROW_BITMAP_FLOPS_PER_WORD):
            one_bits = spgemm(A, B, algorithm="dense")
    assert h._state["distinct"]                     # the bitmap path did run
    assert bits(C) == bits(one) == bits(one_bits) == bits(spgemm(A, B, algorithm="hash"))
    assert_product(one, A, B, exact=kind == "int")
    B2 = new_values(data.draw, B, kind)             # numeric reuse on the fast path
    assert bits(spgemm_numeric(h, A, B2, C)) == bits(spgemm(A, B2, algorithm="hash"))


@pytest.mark.parametrize("algorithm", ["dense", "hash"])
@pytest.mark.parametrize("ncols", [64, 100_000])   # narrow B (row bitmaps when dense), wide B
def test_sampled_fill_is_exact_when_every_row_fills_alike(algorithm, ncols):
    # Every row of A adds 4 rows of B that list the same 8 columns: each row of C
    # has 8 of its 32 products' columns, so any sample of rows says 1/4.
    from unittest import mock

    from kkpy.sparse import _spgemm, _tuning

    n, r, d = 1000, 4, 8
    rng = np.random.default_rng(0)
    a_cols = np.concatenate([rng.choice(n, r, replace=False) for _ in range(n)])
    A = sp.csr_array((np.ones(n * r), a_cols, np.arange(0, n * r + 1, r)), shape=(n, n))
    b_cols = np.tile(rng.choice(ncols, d, replace=False), n)
    B = sp.csr_array((np.ones(n * d), b_cols, np.arange(0, n * d + 1, d)), shape=(n, ncols))
    kA, kB = kkpy.sparse.as_crs(A), kkpy.sparse.as_crs(B)
    flops, plan, dense, bits_of_b, short, _ = _spgemm._plan(kkpy.Serial(), kA, kB, algorithm,
                                                            np.float64)
    assert dense == (algorithm == "dense") and bool(bits_of_b.size) == (dense and ncols == 64)
    assert _spgemm._sampled_fill(plan, flops, dense, bits_of_b, short, kA, kB) == d / (r * d)
    # _plan hands the estimate to its caller (for run_staged) once staging is not pooled.
    with mock.patch.object(_tuning, "POOL_ENTRIES", 0):
        assert _spgemm._plan(kkpy.Serial(), kA, kB, algorithm, np.float64)[-1] == d / (r * d)


def test_row_bitmaps_are_not_used_when_b_repeats_a_column():
    A = CrsMatrix.from_coo([0, 0, 1], [0, 1, 1], [1.0, 2.0, 3.0], (2, 2))
    B = CrsMatrix([1.0, 1.0, 4.0, 5.0], [1, 1, 0, 1], [0, 2, 4], 2)   # row 0 lists column 1 twice
    assert use_row_bitmaps(B.ncols, B.nrows, B.nnz, 8)
    h, C = two_phase(A, B, algorithm="dense")
    assert not h._state["distinct"]
    want = ref(A) @ ref(B)
    assert np.array_equal(C.toarray(), want.toarray())
    assert np.array_equal(spgemm(A, B).toarray(), want.toarray())


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("tiny", [False, True])
def test_rows_of_many_products_into_few_columns(algorithm, tiny):
    # More products a row than the short-row path takes, into fewer columns than
    # that: the row still needs its accumulator's full workspace.
    from kkpy.sparse._tuning import SHORT_ROW_PRODUCTS
    n = SHORT_ROW_PRODUCTS + 8
    A = CrsMatrix(np.arange(1.0, n + 1), np.zeros(n, np.int64), [0, n], 1)
    B = CrsMatrix([1.0, -2.0, 3.0, 4.0], [2, 0, 2, 2], [0, 4], 3)
    want = (ref(A) @ ref(B)).toarray()
    with planning(tiny):
        h, C = two_phase(A, B, algorithm=algorithm)
        assert np.array_equal(C.toarray(), want)
        assert np.array_equal(spgemm(A, B, algorithm=algorithm).toarray(), want)


@needs_two_threads
@given(ops=operands(kind="float"), algorithm=st.sampled_from(ALGORITHMS), tiny=st.booleans())
def test_one_and_two_threads_give_the_same_bits(ops, algorithm, tiny):
    A, B, _ = ops
    with planning(tiny):                            # tiny: many chunks, shared among threads
        one = spgemm(A, B, algorithm=algorithm, space=kkpy.Threads(1))
        two = spgemm(A, B, algorithm=algorithm, space=kkpy.Threads(2))
        assert bits(one) == bits(two)
        assert bits(two_phase(A, B, algorithm=algorithm, space=kkpy.Threads(1))[1]) == \
            bits(two_phase(A, B, algorithm=algorithm, space=kkpy.Threads(2))[1]) == bits(one)


@needs_two_threads
def test_one_and_two_threads_give_the_same_bits_on_a_product_of_many_chunks():
    A = sp.random(400, 300, density=0.05, format="csr", random_state=1, dtype=np.float32)
    B = sp.random(300, 500, density=0.05, format="csr", random_state=2, dtype=np.float32)
    for algorithm in ("dense", "hash"):
        one = spgemm(A, B, algorithm=algorithm, space=kkpy.Threads(1))
        assert bits(one) == bits(spgemm(A, B, algorithm=algorithm, space=kkpy.Threads(2)))
    assert_product(one, kkpy.sparse.as_crs(A), kkpy.sparse.as_crs(B), exact=False)


# Each epilogue with an independent numpy version of it: name -> (kernel, reference, args).
def _epilogue_cases(draw, m, dtype):
    b = draw(hnp.arrays(dtype, m, elements=st.integers(-2, 2).map(float)))
    return {
        "none": (None, lambda z, j: z, ()),
        "relu": (epilogues.relu, lambda z, j: np.maximum(z, 0), ()),
        "scale": (epilogues.scale, lambda z, j: -0.5 * z, (dtype(-0.5),)),
        "bias": (epilogues.bias, lambda z, j: z + b[j], (b,)),
        "bias_relu_cap": (epilogues.bias_relu_cap,
                          lambda z, j: np.minimum(np.maximum(z + b[j], 0), 4), (b, dtype(4))),
        "threshold": (epilogues.threshold, lambda z, j: np.where(np.abs(z) >= 2, z, 0),
                      (dtype(2),)),
    }


@given(data=st.data(), dtype=st.sampled_from(VALUE_DTYPES), name=st.sampled_from(
    ["none", "relu", "scale", "bias", "bias_relu_cap", "threshold"]), drop=st.booleans(),
    algorithm=st.sampled_from(ALGORITHMS), tiny=st.booleans())
def test_fused_epilogue_and_drop_zeros_match_scipy(data, dtype, name, drop, algorithm, tiny):
    # Integer values keep every step exact, so which entries are dropped is exact too.
    # One index dtype: the epilogue does not see it, and each signature of a fused
    # kernel is one more compilation.
    A, B, _ = data.draw(operands(kind="int", dtype=dtype, index_dtype=np.int32))
    kern, f, args = _epilogue_cases(data.draw, B.ncols, dtype)[name]
    with planning(tiny):
        C = spgemm(A, B, epilogue=kern, epilogue_args=args, drop_zeros=drop, algorithm=algorithm)
    # The epilogue sees every entry of the product's structure, also those that cancel
    # to 0 (where scipy's product has no entry): build Z on that structure.
    Z = positive_pattern_product(pattern(A), pattern(B))
    Z.data = (ref(A) @ ref(B)).toarray()[Z.nonzero()]
    Z.data = f(Z.data, Z.indices).astype(np.float64)
    if drop:
        Z.eliminate_zeros()
    assert_structure(C, Z)
    assert C.dtype == dtype and np.array_equal(np.asarray(C.values), Z.data.astype(dtype))
    assert C.shape == (A.nrows, B.ncols)         # rows emptied by dropping stay, empty


@pytest.mark.parametrize("n, k, m", [(0, 3, 2), (3, 0, 2), (3, 2, 0), (0, 0, 0)])
def test_products_with_a_zero_dimension_are_empty(n, k, m):
    A = CrsMatrix.from_coo([], [], [], (n, k))
    B = CrsMatrix.from_coo([], [], [], (k, m))
    for C in (spgemm(A, B), two_phase(A, B)[1], A @ B):
        assert C.shape == (n, m) and C.nnz == 0 and np.asarray(C.row_map).tolist() == [0] * (n + 1)


@given(ops=operands(), data=st.data(), algorithm=st.sampled_from(ALGORITHMS),
       short=st.sampled_from([0, 3, 10**6]), tiny=st.booleans())
def test_short_rows_kept_sorted_give_the_bits_of_the_accumulators(ops, data, algorithm, short,
                                                                  tiny):
    """Rows of at most ``short`` products take the sorted-row path (0: none, 10**6: all).

    One pass, two phases and numeric reuse match scipy and give the bits
    of the dense and hash accumulators alone (``short=0``), for every
    value and index dtype the operands draw.
    """
    from unittest import mock

    from kkpy.sparse import _tuning

    A, B, kind = ops
    with planning(tiny):
        with mock.patch.object(_tuning, "SHORT_ROW_PRODUCTS", 0):
            alone = spgemm(A, B, algorithm=algorithm)
        with mock.patch.object(_tuning, "SHORT_ROW_PRODUCTS", short):
            C1 = spgemm(A, B, algorithm=algorithm)
            h, C2 = two_phase(A, B, algorithm=algorithm)
            A2 = new_values(data.draw, A, kind)
            C3 = spgemm_numeric(h, A2, B, C2)
            again = spgemm(A2, B, algorithm=algorithm)
        with mock.patch.object(_tuning, "SHORT_ROW_PRODUCTS", 0):
            assert bits(again) == bits(spgemm(A2, B, algorithm=algorithm))
    assert_product(C1, A, B, exact=kind == "int")
    assert_product(C3, A2, B, exact=kind == "int")
    assert bits(C3) == bits(again)
    assert bits(C1) == bits(alone)


def two_pass_product(A, B, records=False):
    """``A @ B`` of two scipy matrices on the two-pass path (asserted), as a canonical CrsMatrix.

    ``records``: whether the path reads B's rows as records (narrow, sorted
    B; asserted), else as rows (forced where B would make records).
    """
    from unittest import mock

    import kkpy
    from kkpy.sparse import _spgemm, _spgemm_twopass

    KA, KB = CrsMatrix.from_scipy(A), CrsMatrix.from_scipy(B)
    space = kkpy.Threads(2)
    flops = _spgemm._row_flops(space, KA, KB)
    assert _spgemm._two_pass_plan(space, KA, KB, flops, np.dtype(np.float64)) is not None
    if records:
        assert _spgemm_twopass._records(space, KB, int(flops.sum())) is not None
    with mock.patch.object(_spgemm_twopass, "use_row_bitmaps",
                           _spgemm_twopass.use_row_bitmaps if records else lambda *a: False):
        C = spgemm(KA, KB, space=space)
    assert_canonical(C)
    R = sp.csr_array(A @ B)
    R.sort_indices()
    # Summed in scipy's order, so equal to the bit; scipy drops numeric zeros, kkpy keeps them.
    P = C.to_scipy().copy()
    P.eliminate_zeros()
    assert np.array_equal(P.indptr, R.indptr) and np.array_equal(P.indices, R.indices)
    assert np.array_equal(P.data, R.data)
    return C


def test_low_flop_banded_products_take_the_two_pass_path_and_match_scipy_bitwise():
    # A stencil squared: few products per row, each row's columns in a narrow band.
    n = 40
    T = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(n, n))
    A = sp.csr_array(sp.kron(T, sp.eye_array(n)) + sp.kron(sp.eye_array(n), T))
    A.data = A.data * np.linspace(0.3, 1.7, A.nnz)  # values whose sums round
    two_pass_product(A, A)


def test_two_pass_rows_past_the_insertion_sort_match_scipy_bitwise():
    # Tall and narrow: few products a row, but row 0 reaches 100 of B's 200 columns,
    # past the insertion sort (SORT_INSERTION_MAX), so it takes the fill's other sort.
    from kkpy.sparse import _tuning

    rng = np.random.default_rng(3)
    A = sp.random_array((3000, 400), density=0.005, format="csr", random_state=rng)
    A = sp.csr_array(sp.vstack([sp.csr_array((np.ones(100), (np.zeros(100, int),
                                                             np.arange(0, 400, 4))),
                                             shape=(1, 400)), A]))
    B = sp.csr_array(sp.eye_array(400, 200) + sp.random_array((400, 200), density=0.01,
                                                              random_state=rng))
    C = two_pass_product(A, B)
    assert np.diff(np.asarray(C.row_map))[0] > _tuning.SORT_INSERTION_MAX


def test_two_pass_gives_the_same_bits_with_and_without_prefetching_b():
    # far_rows picks prefetching by A's row span; either choice must give the same C.
    import kkpy
    from kkpy.sparse import _spgemm, _spgemm_twopass

    rng = np.random.default_rng(11)
    A = CrsMatrix.from_scipy(sp.random_array((3000, 2000), density=0.003, format="csr",
                                             random_state=rng))
    B = CrsMatrix.from_scipy(sp.random_array((2000, 900), density=0.004, format="csr",
                                             random_state=rng))
    space = kkpy.Threads(2)
    flops = _spgemm._row_flops(space, A, B)
    near, far = (_spgemm_twopass.two_pass(space, A, B, flops, np.dtype(np.float64),
                                          np.dtype(np.int32), f) for f in (False, True))
    assert_canonical(near)
    for got in (near, far):
        assert np.array_equal(np.asarray(got.row_map), np.asarray(near.row_map))
        assert np.array_equal(np.asarray(got.entries), np.asarray(near.entries))
        assert np.array_equal(np.asarray(got.values), np.asarray(near.values))
    assert np.allclose(near.to_scipy().toarray(), (A.to_scipy() @ B.to_scipy()).toarray())


@pytest.mark.parametrize("ncols", [64, 130])
def test_two_pass_with_narrow_b_reads_its_rows_as_records_and_matches_scipy_bitwise(ncols):
    # Tall-skinny: B's rows become bitmap words and a start; one or three words a row.
    rng = np.random.default_rng(ncols)
    A = sp.random_array((2000, 3000), density=0.004, format="csr", random_state=rng)
    B = sp.random_array((3000, ncols), density=3 / ncols, format="csr", random_state=rng)
    B.sort_indices()
    two_pass_product(A, B, records=True)


def test_two_pass_with_narrow_b_of_unsorted_or_repeated_columns_reads_rows():
    # Records need each row's columns strictly increasing; otherwise B's rows are read.
    from kkpy.sparse import _spgemm_twopass

    rng = np.random.default_rng(5)
    A = sp.random_array((2000, 3000), density=0.002, format="csr", random_state=rng)
    R = sp.random_array((3000, 64), density=0.05, format="csr", random_state=rng)
    R.sort_indices()
    rows = [(R.indices[R.indptr[k]:R.indptr[k + 1]], R.data[R.indptr[k]:R.indptr[k + 1]])
            for k in range(3000)]
    rows[7] = (np.array([5, 3]), np.array([1.5, -2.0]))   # unsorted
    rows[8] = (np.array([9, 9]), np.array([0.25, 0.5]))   # a column twice
    indptr = np.concatenate([[0], np.cumsum([len(c) for c, _ in rows])])
    B = CrsMatrix(np.concatenate([v for _, v in rows]), np.concatenate([c for c, _ in rows]),
                  indptr, 64)
    space = kkpy.Threads(2)
    assert _spgemm_twopass._records(space, B, 10**9) is None
    C = spgemm(CrsMatrix.from_scipy(A), B, space=space)
    assert np.array_equal(C.to_scipy().toarray(), (A @ B.to_scipy()).toarray())
