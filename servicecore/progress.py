"""A plain-text progress line for long commands (rebuilds): done / total, rate, time left.

Written to stderr so that stdout keeps only the command's result. On a terminal the line is
redrawn in place; in a log (not a terminal) a full line is written every few seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 30


def duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    if whole >= 60:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole}s"


class Progress:
    """Call with (done, total) events; draws `label [####    ] done/total events  rate  ETA`."""

    def __init__(self, label: str, *, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, every: float | None = None,
                 live: bool | None = None) -> None:
        """`live=False` writes full lines even on a terminal (several bars at once)."""
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.live = self.stream.isatty() if live is None else live
        self.every = every if every is not None else (0.2 if self.live else 5.0)
        self.started = clock()
        self.shown: float | None = None
        self.last: tuple[int, int] | None = None
        self.open_line = False

    def line(self, done: int, total: int) -> str:
        total = max(total, done)
        elapsed = self.clock() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        filled = WIDTH * done // total if total else WIDTH
        if done >= total:
            left = f"in {duration(elapsed)}"
        elif rate > 0:
            left = f"ETA {duration((total - done) / rate)}"
        else:
            left = "ETA --"
        return (f"{self.label} [{'#' * filled:<{WIDTH}}] {done:,}/{total:,} events  "
                f"{rate:,.0f} events/s  {left}")

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        finished = done >= total
        if not finished and self.shown is not None and now - self.shown < self.every:
            return
        if (done, total) == self.last:
            return
        self.shown, self.last = now, (done, total)
        text = self.line(done, total)
        if self.live:
            self.stream.write(f"\r{text}\033[K" + ("\n" if finished else ""))
            self.open_line = not finished
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End a line left open (a rebuild that failed half way)."""
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False
