"""Progress reporting: a live bar with rate and ETA on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Count finished items; redraw a bar (TTY) or log a line every ``log_every_s`` seconds.

    Parameters
    ----------
    total : int
        Items of the run, done or not.
    label : str
        What the items are, in the messages (``frames``, ``spectra``).
    stream : TextIO, optional
        Where to write (default: standard error); a terminal gets the redrawn bar.
    quiet : bool
        Count without writing anything.
    log_every_s : float
        Off a terminal, the least time between two lines, s (the last line always comes).
    done : int
        Items already done before this run (a resume); the rate counts only new ones.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> p = Progress(10, stream=out, log_every_s=3600.0, done=4)
    >>> p.update(3, failed=1)  # the first line at once, then one per log_every_s and the last
    >>> p.update(3)
    >>> p.done, p.new, p.failed
    (10, 6, 1)
    >>> print(out.getvalue().strip())  # doctest: +ELLIPSIS
    7/10 frames (70 %), ... frames/s, ETA ..., 1 failed
    10/10 frames (100 %), ... frames/s, ETA 00:00, 1 failed
    """

    def __init__(self, total: int, label: str = "frames", stream: TextIO | None = None,
                 quiet: bool = False, log_every_s: float = 10.0, done: int = 0) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every_s = log_every_s
        self.start = time.perf_counter()
        self.done = done
        self.new = 0
        self.failed = 0
        self._last = 0.0
        if self.tty and not quiet:
            self._draw(final=False)  # show the bar before the first chunk is done

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.new / elapsed if elapsed > 0 else 0.0

    def update(self, n: int, failed: int = 0) -> None:
        self.done += n
        self.new += n
        self.failed += failed
        if self.quiet:
            return
        now = time.perf_counter()
        final = self.done >= self.total
        if self.tty or final or now - self._last >= self.log_every_s:
            self._last = now
            self._draw(final)

    def _draw(self, final: bool) -> None:
        rate = self.rate
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = _fmt_duration(left) if left == left else "--:--"
        fail = f", {self.failed} failed" if self.failed else ""
        if self.tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {self.label} "
                              f"{rate:6.1f} {self.label}/s ETA {eta}{fail} ")
            if final:
                self.stream.write("\n")
        else:
            pct = 100.0 * self.done / max(self.total, 1)
            self.stream.write(f"{self.done}/{self.total} {self.label} ({pct:.0f} %), "
                              f"{rate:.1f} {self.label}/s, ETA {eta}{fail}\n")
        self.stream.flush()
