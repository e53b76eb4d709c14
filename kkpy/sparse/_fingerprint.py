"""Structure fingerprints: what a handle remembers to refuse a changed structure."""
from __future__ import annotations

import numpy as np

from .. import RangePolicy, parallel_reduce
from ._staged import glue_space
from .impl._fingerprint_kernels import element_hash


def fingerprint(A, space):
    """``(shape, nnz, hash(row_map), hash(entries))`` of a CrsMatrix, computed in parallel.

    Costs one pass over the index arrays, far less than the numeric phase
    that it guards.
    """
    rm = np.asarray(A.row_map)
    ent = np.asarray(A.entries)
    h_rm = parallel_reduce("kkpy.sparse.fingerprint",
                           RangePolicy(glue_space(space, rm.shape[0]), 0, rm.shape[0]),
                           element_hash, rm)
    h_ent = parallel_reduce("kkpy.sparse.fingerprint",
                            RangePolicy(glue_space(space, ent.shape[0]), 0, ent.shape[0]),
                            element_hash, ent)
    return (A.shape, A.nnz, int(h_rm), int(h_ent))


def check_same(what, name, expected, A, space, got=None):
    """Raise ValueError if ``A``'s structure is not the one fingerprinted as ``expected``.

    ``got``: ``A``'s fingerprint if already known (e.g. ``A`` is another operand too).
    """
    got = fingerprint(A, space) if got is None else got
    if got != expected:
        detail = (f"shape {expected[0]} -> {got[0]}" if got[0] != expected[0] else
                  f"nnz {expected[1]} -> {got[1]}" if got[1] != expected[1] else
                  "row_map or entries differ")
        raise ValueError(f"{what}: the structure of {name} differs from the one the handle's "
                         f"symbolic phase saw ({detail}); run the symbolic phase again")


def _ident(a):
    """Identity of an array's memory: where it starts, its shape, strides and dtype."""
    a = np.asarray(a)
    return a.__array_interface__["data"][0], a.shape, a.strides, a.dtype


def buffer_id(A):
    """Identity of ``A``'s index arrays (their memory), to recognise a result matrix."""
    return _ident(A.row_map), _ident(A.entries), A.ncols


def same_indices(A, B):
    """Whether ``A`` and ``B`` have the same shape and share their index arrays (``W @ W``).

    Then they have the same fingerprint: one pass over the arrays serves both.
    """
    return (tuple(A.shape) == tuple(B.shape) and _ident(A.row_map) == _ident(B.row_map)
            and _ident(A.entries) == _ident(B.entries))
