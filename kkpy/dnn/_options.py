"""Command-line pieces shared by ``kkpy-dnn run`` and ``kkpy-dnn bench``.

Both commands take the same problem and space options and report usage
errors the same way.  They live here, below both, so that ``_cli`` (which
hands ``bench`` on to ``_bench``) and ``_bench`` (which builds its own
parser from them) need not import each other.
"""
from __future__ import annotations

import argparse

__all__ = ["OneLineParser", "count_arg", "nonnegative_arg", "add_problem_options",
           "add_space_options", "check_images", "ROW_BYTES"]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit 2), no usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def count_arg(text, minimum=1):
    """An argparse ``type``: ``text`` as an integer of at least ``minimum``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
    return value


def nonnegative_arg(text):
    """An argparse ``type``: ``text`` as an integer of at least 0 (seeds, optional counts)."""
    return count_arg(text, 0)


def add_problem_options(parser, images_help):
    """``--data``, ``--neurons``, ``--layers``, ``--images``: which problem (run and bench)."""
    parser.add_argument("--data", metavar="DIR",
                        help="directory in the official layout (default: the embedded problem)")
    parser.add_argument("--neurons", metavar="N", type=count_arg,
                        help="neurons per layer; needed with --data (default: 1024, the "
                             "embedded network)")
    parser.add_argument("--layers", metavar="L", type=count_arg,
                        help="number of layers; needed with --data (default: 120, the embedded "
                             "network)")
    parser.add_argument("--images", metavar="M", type=count_arg, help=images_help)


def add_space_options(parser, threads_help):
    """``--space`` and ``--threads``: where it runs (run and bench)."""
    parser.add_argument("--space", choices=("serial", "threads", "cuda"), default="threads",
                        help="execution space (default: threads)")
    parser.add_argument("--threads", metavar="T", type=count_arg, help=threads_help)


#: Bytes each input row costs at least, whatever its nonzeros: the row
#: counts, offsets and split work arrays (four int64 arrays of images + 1).
ROW_BYTES = 32


def check_images(images, option="--images"):
    """Raise UserError if ``images`` rows cannot fit in memory, before reading anything."""
    from ..sparse.extending import TooLargeError, fits
    from ._engine import UserError

    if images is not None:
        try:
            fits(ROW_BYTES * (images + 1), f"{option} {images}")
        except TooLargeError as err:
            raise UserError(str(err)) from None
