"""The cyclic garbage collector paused while projection batches are folded.

A batch's rows, events and docs live until the batch ends, and the collector ran over them
again and again (in a rebuild of 100k events: 12 full collections, a third of the client's
CPU). They hold no cycles, so reference counting frees them without it.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# Paused for longer than this while batches of several threads overlap: collect once anyway.
LONGEST_PAUSE_SECONDS = 5.0

_on_at_import = gc.isenabled()
_lock = threading.Lock()
_pauses = 0
_on_before = False
_since = 0.0


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off while any thread is inside (pauses nest and overlap). When the last
    one ends it is on again if it was on when the first began or when this module was
    imported, so another part of the process that pauses it its own way (the analytics
    loader) cannot leave it off for good; while pauses overlap without end, it collects every
    `LONGEST_PAUSE_SECONDS`, so the rest of the process never goes without for long."""
    global _pauses, _on_before, _since
    with _lock:
        if _pauses == 0:
            _on_before = gc.isenabled()
            _since = time.monotonic()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0:
                if _on_before or _on_at_import:
                    gc.enable()
            elif time.monotonic() - _since > LONGEST_PAUSE_SECONDS:
                _since = time.monotonic()
                gc.collect()
