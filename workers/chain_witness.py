"""The chain's head witnessed on a timer: between day-end closes, an anchor every
`SERVICECORE_WITNESS_SECONDS` when the log moved since the last one, recorded and appended to
the witness file (projections/chain_witness.py). The events stored since the last witnessed
head are the ones a rewrite of the database could still go unnoticed in; this bounds how long
they stay so. Runs where the projections run (in `serve`, or `worker projections`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from projections import chain_witness
from projections.hash_chain import ANCHORS_TABLE, HASHES_TABLE

log = logging.getLogger(__name__)
NOTE = "periodic"
BY = "servicecore"


class PeriodicWitness:
    def __init__(self, pool: ConnectionPool, path: Path, seconds: float) -> None:
        self.pool, self.path, self.seconds = pool, path, seconds

    def once(self) -> dict[str, Any] | None:
        """Anchor and witness the head if no anchor holds it yet; what was recorded, if any."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT (SELECT max(notification_id) FROM {HASHES_TABLE}), "
                f"(SELECT max(notification_id) FROM {ANCHORS_TABLE})").fetchone()
            if row is None or row[0] is None or row[0] == row[1]:
                return None
            recorded = chain_witness.witness(conn, self.path, NOTE, by=BY)
        log.info("chain head %s witnessed in %s", recorded["anchor"], self.path)
        return recorded

    def run(self, stop: threading.Event, _conninfo: str) -> None:
        while not stop.wait(self.seconds):
            self.once()
