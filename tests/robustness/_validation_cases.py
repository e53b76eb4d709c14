"""Bad sparse inputs that once crashed the process, one per public entry.

Run as a script it tries every case in turn and prints one line per case,
``name<TAB>outcome``, flushed at once: a case that kills the interpreter
leaves the lines before it, so the tests can tell which case crashed.
"""
import numpy as np
import scipy.sparse as sp

N = 6


def _good():
    return sp.random(N, N, density=0.5, format="csr", random_state=3, dtype=np.float64)


def out_of_range():
    """A scipy matrix with one column index far past its columns."""
    S = _good()
    S.indices[S.indices.shape[0] // 2] = 2_000_000_000
    return S


def negative_index():
    S = _good()
    S.indices[0] = -7
    return S


def decreasing_indptr():
    S = _good()
    S.indptr[2], S.indptr[3] = S.indptr[3] + 1, S.indptr[2]
    return S


def indptr_past_end():
    S = _good()
    S.indptr[-1] += 1_000_000
    return S


def _vec(n=N):
    return np.ones(n)


def _entries():
    from kkpy import dnn, sparse

    def spgemm_numeric(A):
        h = sparse.SpGEMMHandle()
        C = sparse.spgemm_symbolic(h, _good(), _good())
        return sparse.spgemm_numeric(h, A, _good(), C)

    def spadd_numeric(A):
        h = sparse.SpAddHandle()
        C = sparse.spadd_symbolic(h, _good(), _good())
        return sparse.spadd_numeric(h, 1.0, A, 1.0, _good(), C)

    def crs_sort_and_merge(A):
        # the constructor would refuse A: build a valid matrix, then break the arrays it shares
        G = _good()
        ptr, idx = G.indptr.copy(), G.indices.copy()
        M = sparse.CrsMatrix(G.data, idx, ptr, N)
        ptr[:], idx[:] = A.indptr, A.indices
        return M.sort_and_merge()

    b = np.zeros(N, np.float32)
    return {
        "spgemm": lambda A: sparse.spgemm(A, _good()),
        "spgemm_B": lambda A: sparse.spgemm(_good(), A),
        "spgemm_symbolic": lambda A: sparse.spgemm_symbolic(sparse.SpGEMMHandle(), A, _good()),
        "spgemm_numeric": spgemm_numeric,
        "spmv_N": lambda A: sparse.spmv(1.0, A, _vec(), 0.0, np.zeros(N)),
        "spmv_T": lambda A: sparse.spmv(1.0, A, _vec(), 0.0, np.zeros(N), mode="T"),
        "spmv_multivector": lambda A: sparse.spmv(1.0, A, np.ones((N, 2)), 0.0,
                                                  np.zeros((N, 2))),
        "spadd": lambda A: sparse.spadd(1.0, A, 1.0, _good()),
        "spadd_symbolic": lambda A: sparse.spadd_symbolic(sparse.SpAddHandle(), _good(), A),
        "spadd_numeric": spadd_numeric,
        "transpose": lambda A: sparse.transpose(A),
        "spgemm_chain_input": lambda A: sparse.spgemm_chain(
            A, [_good()], sparse.epilogues.bias_relu_cap, (b, np.float32(32))),
        "spgemm_chain_layer": lambda A: sparse.spgemm_chain(
            _good(), [A], sparse.epilogues.bias_relu_cap, (b, np.float32(32))),
        "prepare_chain": lambda A: sparse.prepare_chain([_good(), A]),
        "sort_and_merge": crs_sort_and_merge,
        "as_crs": lambda A: sparse.as_crs(A),
        "dnn_infer_input": lambda A: dnn.infer(A, [_good()], bias=-0.1),
        "dnn_infer_layer": lambda A: dnn.infer(_good(), [_good(), A], bias=-0.1),
        "dnn_categories": lambda A: dnn.categories(A),
    }


BAD = {"out_of_range": out_of_range, "negative_index": negative_index,
       "decreasing_indptr": decreasing_indptr, "indptr_past_end": indptr_past_end}


def cases():
    """Every ``entry/bad`` pair, in the order the script runs them."""
    return [f"{entry}/{bad}" for entry in _entry_names() for bad in BAD]


def _entry_names():
    return ["spgemm", "spgemm_B", "spgemm_symbolic", "spgemm_numeric", "spmv_N", "spmv_T",
            "spmv_multivector", "spadd", "spadd_symbolic", "spadd_numeric", "transpose",
            "spgemm_chain_input", "spgemm_chain_layer", "prepare_chain", "sort_and_merge",
            "as_crs", "dnn_infer_input", "dnn_infer_layer", "dnn_categories"]


def mutated_crs():
    """A CrsMatrix whose caller changes, after construction, the array it shares."""
    from kkpy import sparse

    S = _good()
    entries = S.indices.copy()
    A = sparse.CrsMatrix(S.data, entries, S.indptr, N)
    entries[1] = 1_000_000_000
    y = np.zeros(N)
    sparse.spmv(1.0, A, _vec(), 0.0, y)


def main():
    import sys

    entries = _entries()
    only = sys.argv[1:]
    todo = [c for c in cases() if not only or c in only] + \
        ([] if only and "mutated_crs" not in only else ["mutated_crs"])
    for case in todo:
        if case == "mutated_crs":
            fn = mutated_crs
        else:
            entry, bad = case.split("/")
            fn = (lambda e, b: lambda: entries[e](BAD[b]()))(entry, bad)
        try:
            fn()
            outcome = "no error"
        except Exception as e:  # noqa: BLE001  (the outcome is what the test checks)
            outcome = f"{type(e).__name__}: {e}"
        print(f"{case}\t{outcome}".replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
