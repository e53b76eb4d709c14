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
    line : int
        1-based line number of the offending line.
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
    """

    def __init__(self, path, line, message):
        self.path = os.fspath(path)
        self.line = int(line)
        self.message = message
        super().__init__(f"{self.path}:{self.line}: {message}")

    def __reduce__(self):
        # The default pickling replays ``args`` (one formatted string) into
        # ``__init__``; MPI ranks pickle exceptions, so rebuild from parts.
        return type(self), (self.path, self.line, self.message)
