"""kkpy.sparse.io against scipy/numpy references, bad input, and fuzzing."""

import gzip
import io
import math
import os

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from csr_equal import same
from kkpy.sparse import CrsMatrix
from kkpy.sparse import io as kio
from kkpy.sparse.io import ParseError, read_mtx, read_tsv, read_tsv_coo, write_mtx, write_tsv
from kkpy.sparse.io import _format, _open, _parse, _shortest

# Hypothesis examples write files; a per-test tmp_path is reused across
# examples, which is fine because every example writes whole files.
tmp_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def put(path, text):
    data = text.encode() if isinstance(text, str) else text
    if str(path).endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@st.composite
def sparse_matrices(draw, dtype=np.float32, max_dim=12):
    m = draw(st.integers(1, max_dim))
    n = draw(st.integers(1, max_dim))
    nnz = draw(st.integers(0, m * n))
    flat = draw(st.lists(st.integers(0, m * n - 1), min_size=nnz, max_size=nnz, unique=True))
    elements = (st.floats(width=32, allow_nan=False, allow_infinity=False)
                if np.dtype(dtype).kind == "f" else st.integers(-2**40, 2**40))
    vals = draw(hnp.arrays(dtype, len(flat), elements=elements))
    flat = np.array(flat, dtype=np.int64)
    return scipy.sparse.csr_array((vals, (flat // n, flat % n)), shape=(m, n))


def as_int64(a):
    a = scipy.sparse.csr_array(a, copy=True)
    a.data = np.clip(np.round(a.data), -2.0**62, 2.0**62)
    return scipy.sparse.csr_array(a.astype(np.int64))


# ----------------------------------------------------------------- TSV ---

@tmp_ok
@given(a=sparse_matrices(), suffix=st.sampled_from([".tsv", ".tsv.gz"]))
def test_tsv_round_trip(tmp_path, a, suffix):
    p = tmp_path / f"a{suffix}"
    write_tsv(p, a)
    b = read_tsv(p, shape=a.shape)
    assert b.dtype == np.float32 and same(a, b)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_distinct_values_round_trip_exactly(tmp_path, dtype):
    """Random bit patterns, subnormals and extremes round-trip exactly."""
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**63, 6000, dtype=np.uint64)
    vals = (bits.astype(np.uint32) if dtype == np.float32 else bits).view(dtype)
    vals = vals[np.isfinite(vals)]
    vals = np.concatenate([vals, np.array([0.1, -0.0, 1e-45, 3e38, 5e-324], dtype)])
    vals = vals[np.isfinite(vals)]
    n = vals.size
    a = scipy.sparse.csr_array((vals, (np.arange(n), np.arange(n) % 7)), shape=(n, 7))
    write_tsv(tmp_path / "a.tsv", a)
    got = read_tsv(tmp_path / "a.tsv", shape=a.shape, dtype=dtype)
    assert same(got, a) and np.array_equal(np.signbit(got.values), np.signbit(a.data))
    write_mtx(tmp_path / "a.mtx", a)
    assert same(read_mtx(tmp_path / "a.mtx", dtype=dtype), a)


def written_values(vals):
    """The value column ``write_triples`` gives for float64 ``vals``."""
    vals = np.asarray(vals, np.float64)
    buf = io.BytesIO()
    _format.write_triples(buf, np.zeros(vals.size, np.int64), np.arange(vals.size), vals,
                          sep=" ")
    return [line.split()[2] for line in buf.getvalue().decode().splitlines()]


def repr_text(x):
    """Python's shortest round-trip text, as the writers print it (no '.0')."""
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


POWERS_OF_TWO = [2.0 ** e for e in range(-1074, 1024)]
EDGE_DOUBLES = (POWERS_OF_TWO + list(np.nextafter(POWERS_OF_TWO[1:], 0))
                + list(np.nextafter(POWERS_OF_TWO[:-1], np.inf))
                + [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                   -1.7976931348623157e308, 1e16, 9999999999999998.0, 1e-4, 9.999999999999999e-05,
                   1e23, 0.1, 0.3, 9007199254740993.0, float("inf"), float("-inf"), float("nan")])


def test_written_doubles_are_shortest_round_trip_at_every_exponent():
    """Every binary exponent (each has its own table row), the powers of two
    (whose lower neighbour is nearer, so fewer digits may do) and their
    neighbours print exactly as repr, hence shortest and reading back."""
    texts = written_values(EDGE_DOUBLES)
    assert texts == [repr_text(x) for x in EDGE_DOUBLES]
    assert all(float(t) == x or x != x for t, x in zip(texts, EDGE_DOUBLES))


def test_written_integers_at_every_width():
    """Indices and integer values across every digit count and its edges."""
    ints = np.array(sorted({0, 1, -1, 2**63 - 1, -2**63} | {s * (10**k + d) for k in range(1, 19)
                                                            for d in (-1, 0, 1) for s in (1, -1)}),
                    np.int64)
    buf = io.BytesIO()
    _format.write_triples(buf, np.abs(ints[1:-1]), np.arange(ints.size - 2), ints[1:-1], sep=" ")
    got = [line.split() for line in buf.getvalue().decode().splitlines()]
    assert got == [[str(abs(int(i)) + 1), str(j + 1), str(int(i))] for j, i in enumerate(ints[1:-1])]
    buf = io.BytesIO()
    _format.write_triples(buf, [0, 0], [0, 1], ints[[0, -1]], sep=" ")
    assert buf.getvalue().decode() == f"1 1 {-2**63}\n1 2 {2**63 - 1}\n"


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=50))
def test_written_doubles_match_repr(vals):
    texts = written_values(vals)
    assert texts == [repr_text(x) for x in vals]
    back = np.array([float(t) for t in texts])
    assert np.array_equal(back, vals) and np.array_equal(np.signbit(back), np.signbit(vals))


@given(st.integers(0, 2**64 - 1))
def test_shortest_digits_match_repr_on_any_bit_pattern(bits):
    x = float(np.uint64(bits).view(np.float64))
    if not np.isfinite(x) or x == 0:
        return
    d, e = _shortest.shortest(abs(x), _shortest.G_HI, _shortest.G_LO,
                              _shortest.K_TAB, _shortest.H_TAB)
    assert d % 10 != 0 and float(f"{d}e{e}") == abs(x)
    mantissa = repr(abs(x)).split("e")[0].replace(".", "").strip("0")
    assert str(d) == mantissa  # as few digits as repr, and the same ones


def test_tsv_matches_loadtxt_and_sums_duplicates(tmp_path):
    rng = np.random.default_rng(1)
    n = 5000
    r, c = rng.integers(1, 300, n), rng.integers(1, 200, n)
    v = rng.standard_normal(n)
    text = "".join(f"{i}\t{j}\t{float(x)!r}\n" for i, j, x in zip(r, c, v))
    p = put(tmp_path / "m.tsv.gz", text)
    ref = np.loadtxt(p)
    # Duplicates are summed in file order (np.add.at is sequential).
    dense = np.zeros((r.max(), c.max()))
    np.add.at(dense, (ref[:, 0].astype(int) - 1, ref[:, 1].astype(int) - 1), ref[:, 2])
    got = read_tsv(p, dtype=np.float64)
    assert got.to_scipy().has_canonical_format
    np.testing.assert_array_equal(got.toarray(), dense)
    rr, cc, vv, shape = read_tsv_coo(p, dtype=np.float64, index_dtype=np.int64)
    assert shape == (r.max(), c.max()) and rr.dtype == np.int64
    np.testing.assert_array_equal(vv, v)


@pytest.mark.parametrize("rows", [(0, 0), (0, 7), (3, 10), (10, 99), (40, 50)])
def test_tsv_row_range(tmp_path, rows):
    rng = np.random.default_rng(2)
    a = scipy.sparse.random_array((20, 9), density=0.4, rng=rng, dtype=np.float32).tocsr()
    p = tmp_path / "a.tsv"
    write_tsv(p, a)
    got = read_tsv(p, shape=a.shape, rows=rows)
    assert same(got, a[rows[0]:min(rows[1], 20)])


number_texts = st.one_of(
    st.floats(allow_nan=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.17e}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.25g}"),
    st.floats(width=32, allow_nan=False).map(lambda x: f"{x:.6e}"),
    st.integers(-10**25, 10**25).map(str),
    st.from_regex(r"\A[+-]?([0-9]{1,30}\.?[0-9]{0,30}|\.[0-9]{1,30})([eE][+-]?[0-9]{1,4})?\Z"),
    st.sampled_from(["inf", "-Infinity", "NaN", "+inf", "-0", "0.0e-999", "1e400", "4.9e-324"]),
)


@tmp_ok
@given(texts=st.lists(number_texts, min_size=1, max_size=40))
def test_values_parse_like_float(tmp_path, texts):
    """Every value is the correctly rounded double, as Python's float() gives."""
    p = put(tmp_path / "v.tsv", "".join(f"1\t{i + 1}\t{t}\n" for i, t in enumerate(texts)))
    _, _, v, _ = read_tsv_coo(p, dtype=np.float64)
    expect = np.array([float(t) for t in texts])
    np.testing.assert_array_equal(v, expect)
    assert np.array_equal(np.signbit(v), np.signbit(expect))


@tmp_ok
@given(entries=st.lists(st.tuples(st.integers(1, 10**18 - 1), st.integers(0, 6),
                                  st.integers(1, 99), st.integers(0, 20)),
                        min_size=1, max_size=30))
def test_indices_of_any_width_parse_exactly(tmp_path, entries):
    """Indices of 1 to 18 digits, with leading zeros, read eight bytes at a
    time or one by one near the end of the buffer, give their value."""
    text = "".join(f"{r:0{len(str(r)) + z}d} {c:0{min(w, 18)}d} {c}e-{w}\n"
                   for r, z, c, w in entries)
    p = put(tmp_path / "w.tsv", text)
    if any(len(str(r)) + z > 18 for r, z, _, _ in entries):
        with pytest.raises(ParseError, match=r"row index '\d+' is not a positive integer$"):
            read_tsv_coo(p, index_dtype=np.int64)
        return
    r, c, v, _ = read_tsv_coo(p, dtype=np.float64, index_dtype=np.int64)
    assert r.tolist() == [e[0] - 1 for e in entries]
    assert c.tolist() == [e[2] - 1 for e in entries]
    assert v.tolist() == [float(f"{e[2]}e-{e[3]}") for e in entries]


def near_midpoint_texts(x):
    """Decimals of 16 to 18 digits just below and above the midpoints
    between ``x`` and its neighbours (the lower one nearer at a power of
    two): where the reader's fast conversion must round exactly or hand
    over."""
    from fractions import Fraction
    texts = []
    for toward in (np.inf, 0.0):
        mid = (Fraction(x) + Fraction(float(np.nextafter(x, toward)))) / 2
        for digits in (16, 17, 18):
            e = math.floor(math.log10(mid)) - digits + 1
            scaled = mid / Fraction(10) ** e
            for m in sorted({math.floor(scaled) - 1, math.floor(scaled), math.ceil(scaled),
                             math.ceil(scaled) + 1}):
                texts.append(f"{m}e{e}")
    return texts


@tmp_ok
@given(st.one_of(st.floats(min_value=1e-280, max_value=1e280),
                 st.integers(-900, 900).map(lambda k: 2.0 ** k)))
def test_values_near_midpoints_round_correctly(tmp_path, x):
    texts = near_midpoint_texts(x)
    p = put(tmp_path / "mid.tsv", "".join(f"1\t{i + 1}\t{t}\n" for i, t in enumerate(texts)))
    _, _, v, _ = read_tsv_coo(p, dtype=np.float64)
    assert v.tolist() == [float(t) for t in texts]


def test_blocks_join_across_chunk_edges(tmp_path, monkeypatch):
    monkeypatch.setattr(_open, "CHUNK_BYTES", 7)  # splits lines and fields
    lines = [f"{i % 13 + 1}\t{i % 5 + 1}\t{i * 0.25}" for i in range(200)]
    for suffix in (".tsv", ".tsv.gz"):
        p = put(tmp_path / f"m{suffix}", "\n".join(lines))  # no final newline
        r, c, v, shape = read_tsv_coo(p, dtype=np.float64)
        assert shape == (13, 5) and v.tolist() == [i * 0.25 for i in range(200)]
        assert r.tolist() == [i % 13 for i in range(200)]
        bad = put(tmp_path / f"bad{suffix}", "\n".join(lines[:150] + ["1\t2\tx"] + lines[150:]))
        with pytest.raises(ParseError, match=r":151: value 'x' is not a number$"):
            read_tsv(bad)


def test_mtx_body_joins_across_chunk_edges(tmp_path, monkeypatch):
    """The header's reader hands the rest of its block over uncopied; lines still join."""
    a = scipy.sparse.random_array((30, 20), density=0.3, rng=np.random.default_rng(1),
                                  format="csr")
    scipy.io.mmwrite(tmp_path / "a.mtx", a)
    lines = (tmp_path / "a.mtx").read_text().splitlines()
    put(tmp_path / "bad.mtx", "\n".join(lines[:9] + ["1 x 2"] + lines[10:]) + "\n")
    for chunk in (5, 64, 1 << 24):
        monkeypatch.setattr(_open, "CHUNK_BYTES", chunk)
        assert same(read_mtx(tmp_path / "a.mtx"), a)
        with pytest.raises(ParseError, match=r":10: column index 'x' is not a positive"):
            read_mtx(tmp_path / "bad.mtx")


def test_blank_lines_crlf_and_spaces_are_accepted(tmp_path):
    p = put(tmp_path / "m.tsv", "\n1\t1\t1\r\n\n  2 \t 3  0.5 \n\t\n")
    assert same(read_tsv(p), scipy.sparse.csr_array([[1, 0, 0], [0, 0, 0.5]]))


def test_empty_file(tmp_path):
    r, c, v, shape = read_tsv_coo(put(tmp_path / "e.tsv", ""))
    assert shape == (0, 0) and r.size == c.size == v.size == 0
    assert read_tsv(tmp_path / "e.tsv", shape=(3, 4)).shape == (3, 4)


TSV_ERRORS = [
    ("1\t1\t1\n2\t2\n", "2: expected 3 tab-separated fields, got 2"),
    ("1\t1\t1\t1\n", "1: expected 3 tab-separated fields, got 4"),
    ("1\t1\t1\n\nx\t1\t1\n", "3: row index 'x' is not a positive integer"),
    ("1\t-1\t1\n", "1: column index '-1' is not a positive integer"),
    ("1\t1.5\t1\n", "1: column index '1.5' is not a positive integer"),
    ("0\t1\t1\n", "1: row index 0 out of range 1..4"),
    ("1\t1\t1\n1\t5\t1\n", "2: column index 5 out of range 1..4"),
    ("5\t1\t1\n", "1: row index 5 out of range 1..4"),
    ("1\t1\t1e\n", "1: value '1e' is not a number"),
    ("1\t1\t1,5\n", "1: value '1,5' is not a number"),
    ("1\t1\tinfo\n", "1: value 'info' is not a number"),
    ("1\t1\t--1\n", "1: value '--1' is not a number"),
    ("1\t1\t.\n", "1: value '.' is not a number"),
    ("99999999999999999999\t1\t1\n", "1: row index '99999999999999999999' is not a positive"),
]


@pytest.mark.parametrize("text, message", TSV_ERRORS)
def test_tsv_errors_name_file_and_line(tmp_path, text, message):
    p = put(tmp_path / "sparse-images-1024.tsv", text)
    with pytest.raises(ParseError) as info:
        read_tsv(p, shape=(4, 4))
    assert str(info.value) == f"{p}:{message}" or str(info.value).startswith(f"{p}:{message}")
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)
    assert info.value.line == int(message.split(":")[0])


def test_index_beyond_index_dtype(tmp_path):
    p = put(tmp_path / "m.tsv", "1\t1\t1\n3000000000\t1\t1\n")
    with pytest.raises(ParseError, match=r"m.tsv:2: row index 3000000000 does not fit"):
        read_tsv(p)
    assert read_tsv_coo(p, index_dtype=np.int64)[3] == (3000000000, 1)


def test_truncated_and_corrupt_gzip(tmp_path):
    data = gzip.compress("".join(f"{i}\t1\t1\n" for i in range(1, 20001)).encode())
    (tmp_path / "t.tsv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError, match=r"t.tsv.gz:\d+: corrupt or truncated gzip data"):
        read_tsv(tmp_path / "t.tsv.gz")
    (tmp_path / "c.tsv.gz").write_bytes(b"not gzip at all\n")
    with pytest.raises(ParseError, match=r"c.tsv.gz:1: corrupt or truncated gzip"):
        read_tsv(tmp_path / "c.tsv.gz")


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_tsv(tmp_path / "nope.tsv")
    with pytest.raises(FileNotFoundError):
        read_mtx(tmp_path / "nope.mtx.gz")


def test_parse_error_pickles():
    import pickle
    e = pickle.loads(pickle.dumps(ParseError("a.tsv", 3, "bad")))
    assert str(e) == "a.tsv:3: bad" and e.line == 3


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    p = tmp_path / "a.tsv"
    write_tsv(p, scipy.sparse.eye_array(3))
    before = p.read_bytes()

    def boom(f, *args, **kwargs):
        f.write(b"1\t1\t")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(kio._tsv, "write_triples", boom)
    with pytest.raises(RuntimeError):
        write_tsv(p, scipy.sparse.eye_array(4))
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["a.tsv"]


# ---------------------------------------------------------- MatrixMarket ---

@tmp_ok
@given(a=sparse_matrices(dtype=np.float64),
       symmetry=st.sampled_from(["general", "symmetric", "skew-symmetric"]),
       field=st.sampled_from(["real", "integer", "pattern"]),
       gz=st.booleans())
def test_mtx_reads_what_scipy_writes(tmp_path, a, symmetry, field, gz):
    if symmetry != "general":
        a = scipy.sparse.csr_array(a[: min(a.shape), : min(a.shape)])
        a = a + a.T if symmetry == "symmetric" else a - a.T
    if field == "integer":
        a = as_int64(a)
    if field == "pattern" and symmetry == "skew-symmetric":
        symmetry = "symmetric"
        a = a + a.T
    buf = io.BytesIO()
    scipy.io.mmwrite(buf, a, field=field, symmetry=symmetry)
    p = tmp_path / ("a.mtx.gz" if gz else "a.mtx")
    put(p, buf.getvalue())
    expect = scipy.io.mmread(io.BytesIO(buf.getvalue()))
    got = read_mtx(p)
    assert same(got, expect) and got.dtype == expect.dtype  # int64 for integer, as scipy


@tmp_ok
@given(a=sparse_matrices(dtype=np.float64), symmetric=st.booleans(),
       field=st.sampled_from([None, "integer", "pattern"]))
def test_mtx_write_is_read_by_scipy(tmp_path, a, symmetric, field):
    if symmetric:
        a = scipy.sparse.csr_array(a[: min(a.shape), : min(a.shape)])
        a = a + a.T
    if field == "integer":
        a = as_int64(a)
    p = tmp_path / "a.mtx"
    write_mtx(p, a, field=field, symmetry="symmetric" if symmetric else "general",
              comment="made by kkpy\nsecond line")
    expect = a if field != "pattern" else scipy.sparse.csr_array((a != 0).astype(float))
    if field == "pattern":
        expect = scipy.sparse.csr_array(
            (np.ones(a.nnz), a.indices, a.indptr), shape=a.shape)
    assert same(scipy.io.mmread(p), expect)
    assert same(read_mtx(p), expect)


def test_mtx_write_rejects_asymmetric():
    with pytest.raises(ValueError, match="not symmetric"):
        write_mtx("never-written.mtx", scipy.sparse.csr_array([[0, 1.0], [0, 0]]),
                  symmetry="symmetric")
    assert not os.path.exists("never-written.mtx")


MTX_ERRORS = [
    ("", "1: not a MatrixMarket file"),
    ("3 3 1\n1 1 1\n", "1: not a MatrixMarket file"),
    ("%%MatrixMarket matrix array real general\n2 2\n", "1: unsupported format 'array'"),
    ("%%MatrixMarket matrix coordinate complex general\n", "1: unsupported field 'complex'"),
    ("%%MatrixMarket matrix coordinate real hermitian\n", "1: unsupported symmetry 'hermitian'"),
    ("%%MatrixMarket matrix coordinate real\n", "1: banner needs 4 words"),
    ("%%MatrixMarket matrix coordinate real general\n%c\n", "3: missing size line"),
    ("%%MatrixMarket matrix coordinate real general\n%c\n3 3\n", "3: size line must be"),
    ("%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1\n", "4: size line declares 2"),
    ("%%MatrixMarket matrix coordinate real general\n3 3 1\n1 1 1\n2 2 2\n",
     "4: size line declares 1"),
    ("%%MatrixMarket matrix coordinate real general\n3 3 1\n1 4 1\n",
     "3: column index 4 out of range 1..3"),
    ("%%MatrixMarket matrix coordinate pattern general\n3 3 1\n1 1 1\n",
     "3: expected 2 blank-separated fields, got 3"),
    ("%%MatrixMarket matrix coordinate integer general\n3 3 1\n1 1 1.5\n",
     "3: value '1.5' is not a number"),
    ("%%MatrixMarket matrix coordinate real general\n9999999999 2 0\n",
     "2: shape 9999999999x2 does not fit index dtype int32"),
    # Symmetric files store one triangle: an entry above it would be mirrored
    # into a different matrix than the file's author meant.
    ("%%MatrixMarket matrix coordinate real symmetric\n3 3 2\n1 1 1\n1 3 2\n",
     "4: entry (1, 3) lies above the diagonal of a symmetric matrix"),
    ("%%MatrixMarket matrix coordinate real skew-symmetric\n3 3 2\n2 1 1\n2 2 2\n",
     "4: entry (2, 2) lies on the diagonal of a skew-symmetric matrix"),
]


@pytest.mark.parametrize("text, message", MTX_ERRORS)
def test_mtx_errors_name_file_and_line(tmp_path, text, message):
    p = put(tmp_path / "m.mtx", text)
    with pytest.raises(ParseError) as info:
        read_mtx(p)
    assert str(info.value).startswith(f"{p}:{message}"), str(info.value)
    assert "\n" not in str(info.value)


def truncated_mtx(where):
    """A 400-entry real file cut short (as by a full disk or a copy stopped
    early), and the error the reader must give for it."""
    head = "%%MatrixMarket matrix coordinate real general\n% from a run\n"
    lines = [f"{i // 8 + 1} {i % 8 + 1} {(i + 1) * 1.25e-7!r}" for i in range(400)]
    full = head + "50 8 400\n" + "\n".join(lines) + "\n"
    if where == "mid-banner":
        return full[:25], "1: banner needs 4 words after %%MatrixMarket, got 2"
    if where == "mid-size-line":
        return head + "50 8", "3: size line must be 'rows cols entries', got '50 8'"
    if where == "entries-missing":
        text = head + "50 8 400\n" + "\n".join(lines[:397]) + "\n"
        return text, "401: size line declares 400 entries, file has 397"
    if where == "mid-line":
        return full[:full.rindex(" ")], "403: expected 3 blank-separated fields, got 2"
    assert where == "mid-exponent"
    text = full[:full.rindex("e-") + 1]
    return text, f"403: value {text.split()[-1]!r} is not a number"


@pytest.mark.parametrize("chunk", [64, 1 << 24])
@pytest.mark.parametrize("where", ["mid-banner", "mid-size-line", "entries-missing",
                                   "mid-line", "mid-exponent"])
def test_truncated_mtx_is_one_clear_error(tmp_path, monkeypatch, where, chunk):
    """A short file is a ParseError naming the line, never a crash or a
    partial matrix, whether the cut falls in the first block or a later one."""
    monkeypatch.setattr(_open, "CHUNK_BYTES", chunk)
    text, message = truncated_mtx(where)
    p = put(tmp_path / "cut.mtx", text)
    for reader in (read_mtx, kio.read_mtx_coo):
        with pytest.raises(ParseError) as info:
            reader(p)
        assert str(info.value) == f"{p}:{message}"


# ------------------------------------------------------------------ fuzz ---

VALID_TSV = b"1\t1\t0.0625\n2\t3\t1\n3\t2\t-2.5e-3\n"
VALID_MTX = (b"%%MatrixMarket matrix coordinate real symmetric\n% c\n"
             b"3 3 3\n1 1 0.5\n2 1 1e3\n3 2 -7\n")


def mutate(data, edits):
    b = bytearray(data)
    for op, pos, byte in edits:
        pos = pos % (len(b) + 1)
        if op == 0:
            b.insert(pos, byte)
        elif op == 1 and b:
            del b[pos % len(b)]
        elif b:
            b[pos % len(b)] = byte
    return bytes(b)


interesting = st.sampled_from(b"0123456789\t\n\r .eE+-%x\x00\xff")
edit = st.tuples(st.integers(0, 2), st.integers(0, 10**6),
                 st.one_of(interesting, st.integers(0, 255)))
fuzz_bytes = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from([VALID_TSV, VALID_MTX]), st.lists(edit, min_size=1, max_size=6))
    .map(lambda t: mutate(*t)),
)


def gzip_variants(data, cut):
    z = gzip.compress(data)
    return [z, z[: cut % (len(z) + 1)], mutate(z, [(2, cut, cut % 256)])]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=fuzz_bytes, cut=st.integers(0, 10**4))
def test_fuzzed_input_raises_only_parse_error(tmp_path, data, cut):
    cases = [("f.tsv", data), ("f.mtx", data)]
    cases += [(f"g{i}.tsv.gz", z) for i, z in enumerate(gzip_variants(data, cut))]
    cases += [(f"g{i}.mtx.gz", z) for i, z in enumerate(gzip_variants(data, cut))]
    for name, content in cases:
        p = tmp_path / name
        p.write_bytes(content)
        reader = read_tsv if ".tsv" in name else read_mtx
        for kwargs in ({}, {"shape": (3, 3)}) if reader is read_tsv else ({},):
            try:
                m = reader(p, **kwargs)
            except ParseError as e:
                assert str(e).startswith(f"{p}:") and "\n" not in str(e)
            else:
                assert isinstance(m, CrsMatrix)
