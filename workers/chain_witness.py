"""The chain's head witnessed between day-end closes: recorded and appended to the witness
file (projections/chain_witness.py) when the log moved since the last anchor and either
`SERVICECORE_WITNESS_SECONDS` passed since that anchor (note `periodic`) or the log moved by
`SERVICECORE_WITNESS_EVENTS` notification ids (note `volume`). The events stored since the
last witnessed head are the ones a rewrite of the database could still go unnoticed in; this
bounds how long, and how many, they stay so. Runs where the projections run (in `serve`, or
`worker projections`).

Several processes may run it (API replicas, `worker projections`): the decision is taken in
the database, under the lock every anchor is recorded under (hash_chain.ANCHOR_LOCK), from
the last anchor recorded by anyone, so one anchor is taken when one is due, not one per
process. The check is two index lookups, made every few seconds.

An anchor this process recorded but could not append to the witness file (a full disk, a
path that is not writable) is kept and written before anything else; meanwhile the loop
fails, so /health shows it `restarting` with the file's error, instead of `running` while the
file falls behind the database. Kept in memory only, those would be lost with the process: so
a start, and each anchor the timer records, first writes every anchor recorded in the
database (by anyone: a day-end close, `audit anchor`, `POST /audit/chain/anchors`, this timer
in any process) for heads from the file's first line on that the file lacks, in the order
recorded (`recover`, chain_witness.lacking). A file with no line yet is left as it is
(history is not witnessed after the fact).

Before each check (and the recovery), the file's last anchor is looked up in the log: a log
that ends before it, or holds another link there, is a database restored from a backup taken
before it (or a log changed there). Then nothing is recorded nor appended (an anchor of the
restored log after the lost ones would mix two histories in one file, and its anchor id would
be one a lost anchor had on the witness topic): the loop fails with `LogBehindWitness`, logged
at ERROR with what it means, and /health shows it until the file is moved aside
(README: Restoring the database from a backup).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from projections import chain_witness
from projections.hash_chain import ANCHOR_LOCK, ANCHORS_TABLE, HASHES_TABLE, anchor
from servicecore.deadline import limit_transaction, watch

log = logging.getLogger(__name__)
NOTE = "periodic"  # time since the last anchor
VOLUME = "volume"  # events since the last anchor
BY = "servicecore"
CHECK_SECONDS = 5.0  # how often the timer asks whether an anchor is due

# The head of the chain, the last anchor (by id: the latest recorded) and what is due.
DUE = f"""
    SELECT h.head,
           CASE WHEN a.notification_id IS NULL
                  OR a.anchored_at <= now() - make_interval(secs => %(seconds)s) THEN 'time'
                WHEN %(events)s > 0 AND h.head - a.notification_id >= %(events)s THEN 'volume'
           END
    FROM (SELECT notification_id AS head FROM {HASHES_TABLE}
          ORDER BY notification_id DESC LIMIT 1) h
    LEFT JOIN LATERAL (SELECT notification_id, anchored_at FROM {ANCHORS_TABLE}
                       ORDER BY anchor_id DESC LIMIT 1) a ON true
    WHERE a.notification_id IS NULL OR h.head > a.notification_id"""


class PeriodicWitness:
    def __init__(self, pool: ConnectionPool, path: Path, seconds: float, events: int = 0,
                 check_seconds: float = CHECK_SECONDS, deadline_seconds: float = 0.0) -> None:
        """`seconds`: anchor when the last anchor is this old (0: time alone never does);
        `events`: when the log moved by this many notification ids since (0: never);
        `deadline_seconds`: a check still waiting on PostgreSQL after this long has its
        connection cut, and its transaction (holding the anchor lock) is ended by the server
        (servicecore/deadline.py; 0: no limit)."""
        self.pool, self.path = pool, path
        self.deadline_seconds = deadline_seconds
        self.seconds, self.events = seconds, events
        self.check_seconds = min(check_seconds, seconds) if seconds else check_seconds
        self.unwritten: list[dict[str, Any]] = []  # recorded here, not in the file yet

    def once(self) -> dict[str, Any] | None:
        """Anchor and witness the head if an anchor is due; what was recorded, if any.
        Raises (OSError) while the witness file cannot be written (`write_unwritten`)."""
        self.write_unwritten()
        with self.pool.connection() as conn, watch(conn, self.deadline_seconds,
                                                   "chain witness"), conn.transaction():
            limit_transaction(conn, self.deadline_seconds)
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (ANCHOR_LOCK,))
            chain_witness.refuse_if_behind(conn, self.path)
            row = conn.execute(DUE, {"seconds": self.seconds if self.seconds else 1e12,
                                     "events": self.events}).fetchone()
            if row is None or row[1] is None:
                return None
            recorded = anchor(conn, NOTE if row[1] == "time" else VOLUME, BY)
        if "anchor_id" in recorded:
            self.unwritten.append(recorded)
            self.recover()  # any anchor recorded before it the file lacks goes first
        self.write_unwritten()
        log.info("chain head %s witnessed in %s (%s)", recorded["anchor"], self.path,
                 recorded["note"])
        return recorded

    def write_unwritten(self) -> None:
        """Append the anchors this timer recorded but could not write to the witness file yet
        (in the database they are). Raises while the file cannot be written: the loop fails,
        its state and /health say why, and it is started again, writing them first."""
        while self.unwritten:
            chain_witness.append(self.path, self.unwritten[0], once=True)
            del self.unwritten[0]

    def recover(self) -> None:
        """Keep to write, in the order recorded, the anchors recorded in the database for
        heads from the file's first line on that the file lacks: recorded by a process that
        ended before it could write them, or whose write failed (a manual anchor, a day-end
        close). Nothing where the file has no line yet, or cannot be read."""
        try:
            with self.pool.connection() as conn, watch(conn, self.deadline_seconds,
                                                       "chain witness recovery"):
                found = chain_witness.lacking(conn, self.path)
        except (OSError, ValueError) as exc:  # `audit verify` names a line that is no anchor
            log.error("chain witness: %s cannot be read to find anchors not written to it "
                      "(%s)", self.path, exc)
            return
        kept = {r["anchor"] for r in self.unwritten}
        added = [r for r in found if r["anchor"] not in kept]
        if added:
            self.unwritten = sorted([*self.unwritten, *added], key=lambda r: r["anchor_id"])
            log.warning("chain witness: %d anchor(s) recorded in the database and lacking from "
                        "%s are written to it now: %s", len(added), self.path,
                        ", ".join(r["anchor"] for r in added))

    def run(self, stop: threading.Event, _conninfo: str) -> None:
        with self.pool.connection() as conn, watch(conn, self.deadline_seconds,
                                                   "chain witness"):
            chain_witness.refuse_if_behind(conn, self.path)  # before writing what it lacks
        self.recover()
        self.write_unwritten()
        while not stop.wait(self.check_seconds):
            self.once()
