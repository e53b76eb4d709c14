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

# 16 MiB blocks.  Each block costs two parallel regions (cutting lines,
# scanning them), and on a machine busy with other processes every region
# waits for the scheduler to run a worker that was asleep: fewer, larger
# blocks wait less.  dev-2c, 2 threads, 2026-12-08, 4 / 16 MiB alternating
# in one process: read_mtx_coo of bench_io's 34 MB file, five medians of 15,
# quiet 27.5-34.4 / 27.1-30.0 ms (scipy.io.mmread 46.8-49.9), beside one
# busy loop 65.0-66.2 / 52.6-54.8 (scipy 59.9-60.7); read_tsv_coo of its
# challenge, random and gzip'd files, medians of 9, quiet 25 / 24, 30 / 30,
# 73-75 / 70-72 ms, busy 52-54 / 44-62, 68-69 / 56-58, 105 / 91-92.  64 MiB
# took 84 ms quiet (each read zeroes and faults in its buffer afresh).  On
# 2026-12-07 16 MiB had measured 49.0 ms against 39.9 (medians of 10, the
# machine shared, not alternating).
CHUNK_BYTES = 1 << 24

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
