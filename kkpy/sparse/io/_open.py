"""Open an input file safely and read it in blocks, plain or gzip'd.

Only regular files are read: a FIFO, a device such as ``/dev/zero``, a
socket or a directory (also through a symlink) is refused up front, since
reading one can block forever or never end.  The file is opened
non-blocking so that even a FIFO without a writer cannot hang the open,
and the check is made on the open descriptor, so a file swapped after a
check cannot slip through.
"""

import os
import stat
import zlib

from ._errors import ParseError

__all__ = ["CHUNK_BYTES", "open_regular", "open_chunks"]

# 4 MiB blocks: large enough that per-block Python work is noise, small
# enough to stay in cache between the read, the line count and the scan.
# read_mtx_coo of bench_io's 34 MB file, 2 threads, medians of 10 on the
# shared 2-core machine (2026-12-07), 1 / 4 / 16 MiB: 44.1 / 39.9 / 49.0 ms
# wall, 5.3 / 3.7 / 16.2 ms of it in the kernel (16 MiB buffers were
# page-faulted afresh on every read).
CHUNK_BYTES = 1 << 22

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a directory"))


def open_regular(path, name=None):
    """Open ``path`` for binary reading (unbuffered) if it is a regular file.

    Raises
    ------
    ParseError
        Not a regular file (the message says what it is).
    OSError
        Cannot be opened: missing, no permission, a symlink loop.

    Examples
    --------
    >>> try:
    ...     open_regular("/dev/null")
    ... except ParseError as e:
    ...     print(e)
    /dev/null: not a regular file (a character device); only regular files are read
    """
    name = os.fspath(path) if name is None else name
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = next((w for test, w in _KINDS if test(mode)), "a special file")
            raise ParseError(name, None, f"not a regular file ({what}); only regular files are read")
        os.set_blocking(fd, True)
        return open(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


class open_chunks:
    """The bytes of a plain or ``.gz`` file, in blocks, as a context manager.

    A block is valid until the next one is read: a plain file's blocks
    share one buffer.

    Opening errors (missing file, permissions) propagate as ``OSError``;
    a file that is not regular is a :class:`~kkpy.sparse.io.ParseError`.
    An empty, corrupt or truncated gzip stream becomes one at the first line not yet complete: blocks are handed out as they are
    decompressed, so the consumer has seen every complete line before the
    error and keeps ``lines_done`` (complete lines consumed so far) up to
    date.
    """

    def __init__(self, path, name=None):
        self.name = os.fspath(path) if name is None else name
        self._gz = os.fspath(path).endswith(".gz")
        self._file = open_regular(path, self.name)
        self.lines_done = 0
        # One generator for the file: a reader may stop after a header
        # and iterate again for the rest, which must carry on, not restart.
        self._blocks = self._read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()

    def entry_bound(self, min_line=4):
        """Most lines of ``min_line`` bytes the file can still hold, or
        None when it is gzip'd (its text may be any size).

        A reader sizes its result by a count the file declares; this keeps
        a lying count from allocating more than the file could fill.
        """
        if self._gz:
            return None
        left = os.fstat(self._file.fileno()).st_size - self._file.tell()
        return max(0, left) // min_line + 1

    def _fail(self, what):
        raise ParseError(self.name, self.lines_done + 1, what)

    def __iter__(self):
        return self._blocks

    def _read(self):
        if not self._gz:
            # One buffer for every block: fresh blocks cost their
            # page faults each time (a tenth of read_mtx on a 34 MB file).
            # A block is only good until the next is asked for; consumers
            # copy what they keep (slices of a bytearray are copies).
            buf = bytearray(CHUNK_BYTES)
            while n := self._file.readinto(buf):
                yield buf if n == len(buf) else buf[:n]
            return
        d = zlib.decompressobj(wbits=31)  # gzip header and trailer, checked
        raw = self._file.read(1 << 22)
        if not raw:
            raise ParseError(self.name, None, "empty file, not gzip data")
        while True:
            try:
                out = d.decompress(raw, CHUNK_BYTES)
            except zlib.error as exc:
                self._fail(f"corrupt or truncated gzip data ({exc})")
            raw = d.unconsumed_tail
            if out:
                yield out
            if d.eof:  # a member ended; another may follow (as gzip -c a b)
                raw = d.unused_data + raw
                if not raw:
                    raw = self._file.read(1 << 22)
                    if not raw:
                        return
                if not raw.strip(b"\0"):  # zero padding after the last member
                    return
                d = zlib.decompressobj(wbits=31)
            elif not raw:
                raw = self._file.read(1 << 22)
                if not raw:
                    out = d.flush()
                    if out:
                        yield out
                    self._fail("corrupt or truncated gzip data (truncated: the file ends mid-stream)")
