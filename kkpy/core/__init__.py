"""The programming model's implementation: spaces, Views, policies, patterns.

Its public names are re-exported by :mod:`kkpy`, which is the face to import
from; this package keeps its modules private for now.
"""
__all__: list[str] = []
