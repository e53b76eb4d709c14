"""For applications built on kkpy.sparse: the pieces its own readers, writers
and memory checks are made of.

What :mod:`kkpy.core.extending` is to the core.  :mod:`kkpy.dnn` is written
against this module, :mod:`kkpy.sparse`, :mod:`kkpy.sparse.io` and the
core's faces only.

Files
    :func:`atomic_write` (write through a temporary sibling, renamed into
    place only when complete), :class:`open_chunks` (a plain or ``.gz``
    regular file in blocks, errors naming the line) and
    :func:`write_triples` (0-based COO arrays as 1-based text lines).
Memory
    :func:`fits` refuses, with :class:`TooLargeError`, a size the machine
    cannot hold before it is allocated; :func:`too_large_message` is the
    one line to show for any ``MemoryError``.
Hashing
    :func:`fingerprint` (a CrsMatrix's structure, in one parallel pass) and
    :func:`element_hash` (a kernel whose sum over ``i`` hashes an array).

Examples
--------
>>> import os, tempfile, numpy as np
>>> from kkpy.sparse import extending
>>> path = os.path.join(tempfile.mkdtemp(), "a.tsv")
>>> with extending.atomic_write(path) as f:
...     extending.write_triples(f, np.array([0, 1]), np.array([1, 0]), np.array([0.5, 2.0]))
>>> open(path).read().split()
['1', '2', '0.5', '2', '1', '2']
>>> try:
...     extending.fits(1 << 70, "a buffer")
... except extending.TooLargeError as e:
...     print(str(e).split(", ")[0])
a buffer: too large: asked for 1180591620717411303424 bytes
"""
from ._fingerprint import fingerprint
from ._validate import TooLargeError, fits, too_large_message
from .impl._fingerprint_kernels import element_hash
from .io._atomic import atomic_write
from .io._format import write_triples
from .io._open import open_chunks, open_regular

__all__ = ["atomic_write", "open_regular", "open_chunks", "write_triples", "fits", "TooLargeError",
           "too_large_message", "fingerprint", "element_hash"]
