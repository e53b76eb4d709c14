"""CPU-only kernels of :mod:`kkpy.sparse`: what the Serial and Threads spaces run.

They use what only a CPU has (LLVM prefetch and ``memmove`` intrinsics,
per-thread workspaces, blocks of rows per call): the SpGEMM accumulators
(:mod:`._accumulators`) and phases (:mod:`._spgemm_kernels`,
:mod:`._spgemm_twopass`), SpAdd, SpMV row blocks, transpose and the row
sort, the chain's dense blocks (:mod:`._chain_kernels`) and the staging
moves (:mod:`._staging`).  Kernels both backends run live in
:mod:`kkpy.sparse.impl`.  Nothing here is public.
"""
__all__: list[str] = []
