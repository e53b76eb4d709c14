"""spgemm_chain against a scipy loop ``Y = drop_zeros(epilogue(Y @ W))`` over random small chains.

``dense_fraction`` 0 keeps the live rows in dense blocks throughout, 5 keeps
them sparse throughout, others let the chain switch as densities change; a
tiny ``max_bytes`` cuts the input into batches of ``block_rows`` rows.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from csr_equal import same
from crs_strategies import VALUE_DTYPES, assert_canonical, crs, magnitude, ref
from kkpy.sparse import CrsMatrix, epilogues, prepare_chain, spgemm_chain

CAP = 6
# Always dense, the default (auto), always sparse; and 1/2, where rows of these small
# widths cross the thresholds, so the chain goes from dense to sparse and back.
PATHS = st.sampled_from([0.0, 1 / 32, 5.0, 0.5])


def bias_relu_cap(z, b):
    """numpy version of ``epilogues.bias_relu_cap`` (for one entry per element of ``z``)."""
    return np.minimum(np.maximum(z + b, 0), CAP)


@st.composite
def chains(draw, kind="int", max_layers=4):
    """``(A, mats, biases, dtype)``: signed values, any widths, empty rows, repeated entries."""
    dtype = draw(st.sampled_from(VALUE_DTYPES))
    widths = draw(st.lists(st.integers(1, 8), min_size=2, max_size=max_layers + 1))
    A = draw(crs(draw(st.integers(0, 40)), widths[0], kind=kind, max_nnz=60))
    mats = [draw(crs(n, m, kind=kind)) for n, m in zip(widths, widths[1:])]
    bias = st.integers(-2, 2) if kind == "int" else st.integers(-2, 0)
    biases = [draw(hnp.arrays(dtype, m, elements=bias.map(float))) for m in widths[1:]]
    return A, mats, biases, dtype


def reference(A, mats, biases):
    """The scipy loop in float64, with each product's nnz and nonempty rows.

    The epilogue goes to the nonzeros of each product only (scipy's product
    leaves out exact zeros), as ``spgemm_chain`` documents; a positive bias
    would make something of the others.
    """
    Y, stats = ref(A), []
    for W, b in zip(mats, biases):
        Z = sp.csr_array(Y @ ref(W))
        Z.sort_indices()
        Z.data = bias_relu_cap(Z.data, b[Z.indices].astype(np.float64))
        Z.eliminate_zeros()
        Y = Z
        stats.append((int(np.count_nonzero(np.diff(Y.indptr))), Y.nnz))
    return Y, stats


def run(A, mats, biases, dtype, per_layer=True, **kw):
    """``spgemm_chain`` with bias_relu_cap; returns the result and the callback's statistics.

    Without ``per_layer`` one bias vector serves every layer: ``biases``
    must then be prefixes of the longest of them.
    """
    cap = dtype(CAP)
    args = [(b, cap) for b in biases] if per_layer else (max(biases, key=len), cap)
    stats = {}
    Y = spgemm_chain(A, mats, epilogues.bias_relu_cap, args, dtype=dtype,
                     callback=lambda k, s: stats.__setitem__(k, (s["active_rows"], s["nnz"])),
                     **kw)
    return Y, [stats[k] for k in sorted(stats)]


@given(chain=chains(), dense_fraction=PATHS, batches=st.booleans(),
       block_rows=st.sampled_from([1, 4, 32]), scipy_in=st.booleans())
def test_chain_matches_the_scipy_loop_exactly(chain, dense_fraction, batches, block_rows,
                                              scipy_in):
    # Small integer values and the cap keep every step exact in float32, so the
    # result, dropped zeros included, must be scipy's bit for bit on every path.
    A, mats, biases, dtype = chain
    args = (A.to_scipy(), [W.to_scipy() for W in mats]) if scipy_in else (A, mats)
    Y, stats = run(*args, biases, dtype, dense_fraction=dense_fraction, block_rows=block_rows,
                   **({"max_bytes": 1} if batches else {}))
    want, want_stats = reference(A, mats, biases)
    assert Y.shape == want.shape and Y.dtype == dtype
    assert_canonical(Y)
    assert same(Y.to_scipy(), want.astype(dtype))
    assert stats == want_stats


@given(chain=chains(), dense_fraction=PATHS, per_layer=st.booleans())
def test_a_prepared_chain_gives_the_same_result_call_after_call(chain, dense_fraction, per_layer):
    A, mats, biases, dtype = chain
    if not per_layer:
        longest = np.concatenate(biases)
        biases = [longest[:len(b)] for b in biases]
    want = reference(A, mats, biases)[0].astype(dtype)
    prepared = prepare_chain(mats, dtype)
    assert len(prepared) == len(mats)
    for M in (prepared, prepared, mats):            # twice through the kept buffers, then fresh
        Y, _ = run(A, M, biases, dtype, per_layer, dense_fraction=dense_fraction)
        assert same(Y.to_scipy(), want)
    prepared.release()
    assert same(run(A, prepared, biases, dtype, per_layer)[0].to_scipy(), want)


@given(chain=chains(kind="float"), dense_fraction=PATHS, batches=st.booleans())
def test_chain_with_arbitrary_values_is_within_rounding_of_the_scipy_loop(chain, dense_fraction,
                                                                           batches):
    # With biases <= 0 a layer is continuous and 1-Lipschitz, so errors grow only
    # through the products: E' = E @ |W| + (k + 3) (eps (|Y| @ |W|) + tiny) + eps |Y'|
    # (k >= the products summed into one entry, repeated entries of W included; the
    # bias added; the result stored), from E = the rounding of A's repeated entries.
    # Doubled for the second-order terms this first-order bound leaves out.
    A, mats, biases, dtype = chain
    Y, _ = run(A, mats, biases, dtype, dense_fraction=dense_fraction,
               **({"max_bytes": 1} if batches else {}))
    eps, tiny = np.finfo(dtype).eps, np.finfo(np.float32).smallest_normal
    want, err = ref(A), (A.nnz + 1) * eps * magnitude(A).toarray()
    for W, b in zip(mats, biases):
        absW = magnitude(W).toarray()
        err = err @ absW + (W.nnz + 3) * (eps * (np.abs(want.toarray()) @ absW) + tiny)
        want, _ = reference(CrsMatrix.from_scipy(want), [W], [b])
        err += eps * np.abs(want.toarray())
    assert_canonical(Y)
    assert np.all(np.abs(Y.toarray() - want.toarray()) <= 2 * err)


@pytest.mark.parametrize("block_rows", [1, 3, 32])
def test_chain_that_switches_from_sparse_to_dense_and_back(block_rows):
    # Row densities 1/8, 1, 1/8, 1 against dense_fraction 1/2 (back to sparse below 1/4).
    rng = np.random.default_rng(7)
    A = CrsMatrix.from_coo(np.arange(6), rng.integers(0, 8, 6), rng.integers(1, 3, 6), (6, 8))
    full = CrsMatrix.from_scipy(sp.csr_array(rng.integers(-1, 3, (8, 8)).astype(float)))
    single = CrsMatrix.from_coo([0, 3, 5], [2, 2, 6], [1.0, 2.0, -1.0], (8, 8))
    mats = [full, single, full, single]
    biases = [np.full(8, b, np.float32) for b in (0, 1, -1, 0)]
    want, want_stats = reference(A, mats, biases)
    Y, stats = run(A, mats, biases, np.float32, dense_fraction=0.5, block_rows=block_rows)
    assert same(Y.to_scipy(), want.astype(np.float32)) and stats == want_stats


def test_chain_of_mismatched_shapes_raises():
    A = CrsMatrix.from_coo([0], [0], [1.0], (1, 2))
    W = CrsMatrix.from_coo([0], [0], [1.0], (2, 3))
    args = (np.zeros(3, np.float32), np.float32(CAP))
    with pytest.raises(ValueError, match="A has 2 columns"):
        spgemm_chain(A, [W.T], epilogues.bias_relu_cap, args)
    with pytest.raises(ValueError, match="matrix 1 has 2 rows"):
        spgemm_chain(A, [W, W], epilogues.bias_relu_cap, args)


@pytest.mark.parametrize("dense_fraction", [0.0, 1 / 32, 5.0])
def test_an_empty_chain_returns_the_input_sorted_and_merged(dense_fraction):
    A = CrsMatrix([0.5, 1.0, 2.0], [1, 0, 0], [0, 3], 2)     # [[3, 0.5]], column 0 twice
    Y = spgemm_chain(A, [], epilogues.bias_relu_cap, (np.zeros(2, np.float32), np.float32(CAP)),
                     dense_fraction=dense_fraction)
    assert_canonical(Y)
    assert Y.dtype == np.float32                                # the chain's dtype
    assert np.array_equal(Y.toarray(), A.toarray())


# -- ChainStream: the matrices read and prepared a few ahead of the products ----------

def _stream_case(seed=0, layers=6, n=24):
    rng = np.random.default_rng(seed)
    mats = []
    for _ in range(layers):  # signed weights
        m = sp.random_array((n, n), density=0.2, format="csr", random_state=rng)
        m.data = m.data * 2 - 0.3
        mats.append(sp.csr_array(m))
    A = sp.random_array((70, n), density=0.3, format="csr", random_state=rng)
    args = (np.full(n, -0.05, np.float32), np.float32(CAP))
    return A, mats, args


@pytest.mark.parametrize("window", [1, 2, 5])
@pytest.mark.parametrize("dense_fraction", [0.0, 5.0])
def test_a_stream_gives_the_bits_of_the_list(window, dense_fraction):
    from kkpy.sparse import ChainStream

    A, mats, args = _stream_case()
    want = spgemm_chain(A, mats, epilogues.bias_relu_cap, args, dense_fraction=dense_fraction)
    got = spgemm_chain(A, ChainStream(iter(mats), window=window), epilogues.bias_relu_cap,
                       args, dense_fraction=dense_fraction)
    assert same(got, want)


def test_a_reiterable_stream_serves_every_batch_and_a_one_shot_one_refuses():
    from kkpy.sparse import ChainStream

    A, mats, args = _stream_case(1)
    small = 2 * 24 * 4 * 16  # 16 rows a batch: five batches
    want = spgemm_chain(A, mats, epilogues.bias_relu_cap, args, max_bytes=small, block_rows=16)
    stream = ChainStream(mats)
    got = spgemm_chain(A, stream, epilogues.bias_relu_cap, args, max_bytes=small,
                       block_rows=16)
    assert same(got, want) and stream.passes == 5
    assert stream.nnz == sum(m.nnz for m in mats)
    with pytest.raises(ValueError, match="one-shot"):
        spgemm_chain(A, ChainStream(iter(mats)), epilogues.bias_relu_cap, args,
                     max_bytes=small, block_rows=16)


def test_the_stream_reads_at_most_window_ahead_of_the_product():
    from kkpy.sparse import ChainStream

    A, mats, args = _stream_case(2, layers=8)
    pulled, ahead = [], []

    def source():
        for m in mats:
            pulled.append(1)
            yield m

    def callback(k, stats):
        ahead.append(len(pulled) - (k + 1))

    spgemm_chain(A, ChainStream(source(), window=2), epilogues.bias_relu_cap, args,
                 callback=callback)
    # the one computing is done; the queue holds two; the worker holds one it cannot put
    assert len(ahead) == len(mats) and max(ahead) <= 3


def test_a_stream_reports_every_product_when_the_rows_die_early():
    from kkpy.sparse import ChainStream

    A, mats, _ = _stream_case(3)
    kill = (np.full(24, -1e6, np.float32), np.float32(CAP))
    seen = []
    stream = ChainStream(iter(mats), length=len(mats))
    Y = spgemm_chain(A, stream, epilogues.bias_relu_cap, kill,
                     callback=lambda k, s: seen.append((k, s["active_rows"])))
    assert Y.nnz == 0 and [k for k, _ in seen] == list(range(len(mats)))
    assert stream.nnz == sum(m.nnz for m in mats)  # the later matrices are still read


def test_a_failing_stream_raises_its_error_where_the_products_wait():
    from kkpy.sparse import ChainStream

    A, mats, args = _stream_case(4)

    def source():
        yield mats[0]
        yield mats[1]
        raise OSError("layer 3: cannot read")

    with pytest.raises(OSError, match="layer 3"):
        spgemm_chain(A, ChainStream(source()), epilogues.bias_relu_cap, args)
    wrong = mats[:2] + [sp.csr_array((25, 24))]
    with pytest.raises(ValueError, match="matrix 2 has 25 rows"):
        spgemm_chain(A, ChainStream(wrong), epilogues.bias_relu_cap, args)
    with pytest.raises(ValueError, match="first matrix has 25 rows"):
        spgemm_chain(A, ChainStream([sp.csr_array((25, 24))]), epilogues.bias_relu_cap, args)


def test_a_stream_of_no_matrices_returns_the_input_and_bad_arguments_raise():
    from kkpy.sparse import ChainStream

    A, _, args = _stream_case(5)
    want = spgemm_chain(A, [], epilogues.bias_relu_cap, args)
    assert same(spgemm_chain(A, ChainStream(iter([])), epilogues.bias_relu_cap, args), want)
    for bad in ({"window": 0}, {"window": 1.5}, {"length": -1}):
        with pytest.raises(ValueError, match="ChainStream"):
            ChainStream([], **bad)
    with pytest.raises(TypeError, match="length"):
        len(ChainStream([]))
    with pytest.raises(ValueError, match="prepares float32, not float64"):
        spgemm_chain(A, ChainStream([]), epilogues.bias_relu_cap, args, dtype=np.float64)


def test_a_stream_can_be_prepared_whole_for_many_calls():
    from kkpy.sparse import ChainStream

    A, mats, args = _stream_case(6)
    want = spgemm_chain(A, mats, epilogues.bias_relu_cap, args)
    chain = prepare_chain(ChainStream(iter(mats)))
    assert len(chain) == len(mats) and chain.nnz == sum(m.nnz for m in mats)
    for _ in range(2):
        assert same(spgemm_chain(A, chain, epilogues.bias_relu_cap, args), want)
    with pytest.raises(ValueError, match="prepares float32, not float64"):
        prepare_chain(ChainStream(mats), dtype=np.float64)
