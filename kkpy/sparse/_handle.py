"""What the SpGEMM and SpAdd handles share: remembering a symbolic phase and checking it."""
from __future__ import annotations

from ._accumulate import check_algorithm
from ._fingerprint import buffer_id, check_same, fingerprint


class PhaseHandle:
    """Base of the handles that carry a symbolic phase's results to its numeric phase."""

    def __init__(self, algorithm="auto"):
        self.algorithm = check_algorithm(type(self).__name__, algorithm)
        #: ``"dense"`` or ``"hash"``, as chosen by the symbolic phase.
        self.accumulator = None
        #: Number of entries of the result, known after the symbolic phase.
        self.nnz = None
        self._state = None

    def _remember(self, A, B, C, plan, dense, space, check=True):
        """Record the symbolic phase: operand fingerprints, the result's identity, the plan."""
        self.accumulator = "dense" if dense else "hash"
        self.nnz = C.nnz
        self._state = {"a": fingerprint(A, space) if check else None,
                       "b": fingerprint(B, space) if check else None,
                       "c": buffer_id(C), "bounds": plan.bounds, "dense": dense}

    def _recall(self, what, A, B, C, space):
        """The symbolic phase's state, after checking that nothing structural changed."""
        state = self._state
        if state is None:
            symbolic = what.replace("numeric", "symbolic")
            raise ValueError(f"{what}: run {symbolic} with this handle first")
        for name, M in (("A", A), ("B", B)):
            if state[name.lower()] is not None:
                check_same(what, name, state[name.lower()], M, space)
        if buffer_id(C) != state["c"]:
            raise ValueError(f"{what}: C is not the matrix this handle's symbolic phase returned")
        return state

    def __repr__(self):
        return (f"{type(self).__name__}(algorithm={self.algorithm!r}, "
                f"accumulator={self.accumulator!r}, nnz={self.nnz})")
