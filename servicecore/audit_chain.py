"""`servicecore audit verify | anchor`: recompute the hash chain and check the snapshots, and
keep the chain's head outside (the witness file, projections/chain_witness.py).

The work is projections/hash_chain.py's (the /audit/chain endpoints do the same); here is what
only the command line needs: a progress bar (its arguments: servicecore/audit_commands.py).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from projections.hash_chain import Anchor, Progress, Verification, anchor, verify
from projections.snapshot_check import SnapshotCheck, check_snapshots

__all__ = ["Anchor", "Progress", "SnapshotCheck", "Verification", "anchor", "progress_bar",
           "verify", "verify_snapshots"]


def verify_snapshots(conn: psycopg.Connection[Any]) -> SnapshotCheck:
    """Every snapshot against the replay of its stream, decoded as the application does."""
    from domain.application import ServiceCore

    decoder = ServiceCore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        return check_snapshots(conn, decoder.mapper)
    finally:
        decoder.close()


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

