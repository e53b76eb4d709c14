"""What the SpGEMM and SpAdd handles share: remembering a symbolic phase and checking it."""
from __future__ import annotations

from .. import CudaSpace, DefaultHostExecutionSpace
from ._accumulate import check_algorithm
from ._fingerprint import buffer_id, check_same, fingerprint, same_indices


class PhaseHandle:
    """Base of the handles that carry a symbolic phase's results to its numeric phase."""

    def __init__(self, algorithm="auto"):
        self.algorithm = check_algorithm(type(self).__name__, algorithm)
        #: ``"dense"`` or ``"hash"``, as chosen by the symbolic phase.
        self.accumulator = None
        #: Number of entries of the result, known after the symbolic phase.
        self.nnz = None
        self._state = None

    def _remember(self, A, B, C, plan, dense, space, check=True, **facts):
        """Record the symbolic phase: operand fingerprints, the result's identity, the plan.

        ``facts`` about the operands' structure (which the fingerprints then
        guard) go to the numeric phase too.
        """
        self._record(A, B, C, "dense" if dense else "hash", space, check,
                     c=buffer_id(C), bounds=plan.bounds, dense=dense, **facts)

    def _remember_device(self, A, B, C, plan, check=True):
        """Record a symbolic phase on the Cuda space: its GPU plan and ``C`` itself.

        ``A`` and ``B`` are the operands' indices in host memory, fingerprinted
        there; ``C`` (GPU memory) is recognised as the very object returned.
        """
        self._record(A, B, C, "hash", DefaultHostExecutionSpace(), check, c=C, plan=plan)

    def _record(self, A, B, C, accumulator, space, check, **state):
        self.accumulator = accumulator
        self.nnz = C.nnz
        fa = fingerprint(A, space) if check else None
        fb = fa if not check or same_indices(A, B) else fingerprint(B, space)
        self._state = dict(state, a=fa, b=fb)

    def _recall(self, what, A, B, C, space):
        """The symbolic phase's state, after checking that nothing structural changed.

        On the Cuda space ``A`` and ``B`` are the operands' indices in host memory.
        """
        state = self._state
        if state is None:
            symbolic = what.replace("numeric", "symbolic")
            raise ValueError(f"{what}: run {symbolic} with this handle first")
        device = space.memory_space == CudaSpace
        if device != ("plan" in state):
            ran = "the Cuda space" if "plan" in state else "the host"
            raise ValueError(f"{what}: this handle's symbolic phase ran on {ran}; run both "
                             "phases on the same space")
        if device:
            space = DefaultHostExecutionSpace()
        if state["a"] is not None:
            check_same(what, "A", state["a"], A, space)
            check_same(what, "B", state["b"], B, space,
                       state["a"] if same_indices(A, B) else None)
        if (C is not state["c"]) if device else (buffer_id(C) != state["c"]):
            raise ValueError(f"{what}: C is not the matrix this handle's symbolic phase returned")
        return state

    def __repr__(self):
        return (f"{type(self).__name__}(algorithm={self.algorithm!r}, "
                f"accumulator={self.accumulator!r}, nnz={self.nnz})")
