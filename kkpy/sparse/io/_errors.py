"""The one exception type every reader raises for malformed input."""

import os

__all__ = ["ParseError"]


class ParseError(ValueError):
    """Malformed sparse-matrix file.

    The message is a single line ``FILE:LINE: what is wrong`` so that a
    command-line tool can print it as is, the way compilers report errors.

    Parameters
    ----------
    path : str or os.PathLike
        The file being read, as the caller named it.
    line : int or None
        1-based line number of the offending line; None when the fault
        is the file as a whole (``FILE: what is wrong``).
    message : str
        What is wrong, without the location.

    Examples
    --------
    >>> err = ParseError("sparse-images-1024.tsv", 17,
    ...                  "expected 3 tab-separated fields, got 2")
    >>> str(err)
    'sparse-images-1024.tsv:17: expected 3 tab-separated fields, got 2'
    >>> isinstance(err, ValueError), err.line
    (True, 17)
    >>> str(ParseError("/dev/zero", None, "not a regular file"))
    '/dev/zero: not a regular file'
    """

    def __init__(self, path, line, message):
        self.path = os.fspath(path)
        self.line = None if line is None else int(line)
        self.message = message
        where = self.path if line is None else f"{self.path}:{self.line}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):
        # The default pickling replays ``args`` (one formatted string) into
        # ``__init__``; MPI ranks pickle exceptions, so rebuild from parts.
        return type(self), (self.path, self.line, self.message)
