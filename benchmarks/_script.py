"""What a stand-alone benchmark script imports first: the suite's checkout check.

``python benchmarks/bench_x.py`` puts ``benchmarks/`` first on the path, so
the package (and its check, in ``__init__``) is not imported; this module
imports it, so that a script run directly refuses another checkout's
``kkpy`` as asv does.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import benchmarks  # noqa: E402

benchmarks.check_kkpy_is_this_checkout()  # ImportError for another checkout's kkpy
