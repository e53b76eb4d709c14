"""Exact equality of sparse matrices, shared by the IO and data tests."""

import numpy as np
import scipy.sparse


def same(a, b):
    """Same shape, nonzero pattern and values, bit for bit (duplicates summed)."""
    a, b = (scipy.sparse.csr_array(x.to_scipy() if hasattr(x, "to_scipy") else x, copy=True)
            for x in (a, b))
    a.sum_duplicates()
    b.sum_duplicates()
    return (a.shape == b.shape and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data))
