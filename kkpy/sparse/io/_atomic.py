"""Write a file all at once or not at all."""

import contextlib
import errno
import gzip
import os
import secrets

__all__ = ["atomic_write"]

# zlib's default trade-off (what the gzip tool uses); Python's default of 9
# is several times slower for files a few percent smaller.
GZIP_LEVEL = 6


@contextlib.contextmanager
def atomic_write(path, compress=None):
    """Open ``path`` for binary writing through a temporary sibling.

    The data goes to a hidden temporary file in the same directory, which
    replaces ``path`` only when the block finishes without error, so
    readers (other MPI ranks, a crashed run's successor) never see a
    half-written file.  On error the temporary file is removed.

    Parameters
    ----------
    path : str or os.PathLike
        Final file name.
    compress : bool, optional
        Gzip the stream; by default when ``path`` ends with ``.gz``.

    Yields
    ------
    file
        A binary file object.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with atomic_write(os.path.join(d, "x.txt")) as f:
    ...     _ = f.write(b"hello\\n")
    >>> os.listdir(d)
    ['x.txt']
    """
    path = os.fspath(path)
    if compress is None:
        compress = path.endswith(".gz")
    if os.path.isdir(path):  # else os.replace would fail at the end, naming the temporary
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    head, tail = os.path.split(path)
    tmp = os.path.join(head, f".{tail}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the final permissions, as
    # for any other new file (mkstemp would leave it owner-only).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as raw:
            if compress:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                   compresslevel=GZIP_LEVEL, mtime=0) as f:
                    yield f
            else:
                yield raw
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
