"""`servicecore audit verify | anchor`: recompute the hash chain, and keep its head outside.

The work is projections/hash_chain.py's (the /audit/chain endpoints do the same); here is what
only the command line needs: a progress bar.
"""

from __future__ import annotations

import time
from typing import Any

from projections.hash_chain import Anchor, Progress, Verification, anchor, verify

__all__ = ["Anchor", "Progress", "Verification", "anchor", "progress_bar", "verify"]


def progress_bar(stream: Any) -> Progress:
    """A one-line progress bar with the rate, written to `stream` (stderr)."""
    started = time.perf_counter()

    def show(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        share = done / total if total else 1.0
        bar = "#" * int(30 * share)
        rate = done / elapsed if elapsed else 0.0
        stream.write(f"\r[{bar:<30}] {done}/{total} events  {rate:,.0f} events/s")
        stream.flush()

    return show
