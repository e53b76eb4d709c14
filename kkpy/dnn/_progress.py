"""A one-line progress bar on stderr, drawn only for a person at a terminal."""
from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Count steps toward ``total`` on one redrawn line.

    Parameters
    ----------
    total : int
        Number of steps.
    label : str
        Shown before the bar.
    stream : file, optional
        Defaults to ``sys.stderr``.
    enabled : bool, optional
        Draw or not; by default only when ``stream`` is a terminal, so logs
        and pipes never fill with carriage returns.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = Progress(4, "layers", stream=out, enabled=True)
    >>> for _ in range(4):
    ...     bar.step()
    >>> bar.close()
    >>> out.getvalue().splitlines()[-1].strip().endswith("4/4")
    True
    >>> Progress(4, stream=io.StringIO()).enabled  # not a terminal
    False
    """

    WIDTH = 30
    #: Seconds between redraws; a 1920-layer run would otherwise spend time drawing.
    INTERVAL = 0.1

    def __init__(self, total, label="", stream=None, enabled=None):
        self.total = max(int(total), 0)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.done = 0
        self._last = 0.0
        self._drawn = False

    def step(self, n=1):
        """Advance by ``n`` steps, redrawing at most every ``INTERVAL`` seconds."""
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last >= self.INTERVAL or self.done >= self.total:
            self._last = now
            self._draw()

    def _draw(self):
        filled = self.WIDTH * self.done // self.total if self.total else self.WIDTH
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
        self.stream.flush()
        self._drawn = True

    def close(self):
        """Finish the line so that later output starts on a fresh one."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
