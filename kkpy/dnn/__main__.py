"""``python -m kkpy.dnn``: the same as the ``kkpy-dnn`` command."""
import sys

from ._cli import main

sys.exit(main())
