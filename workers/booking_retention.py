"""The online booking retention on a timer: every `SERVICECORE_ONLINE_BOOKING_SWEEP_SECONDS`
the lapses of requests left unanswered past their deadline (`OnlineBooking.Expired`) and the
shredding of requests never confirmed once their retention period has passed
(`OnlineBooking.Shredded`) are recorded, as `servicecore online-bookings retention` records
them (servicecore/booking_retention.py, `retention`: the round's `step`). Runs where the
projections run (in `serve`, or `worker projections`), as loop `online-booking-retention`.

One process at a time: a round runs under an advisory lock taken on a connection of its own
(`LOCK_SQL`, workers/advisory_locks.py), let go when the round ends (the connection closed:
a process that dies mid-round lets it go too); a process that finds it held leaves the round
to the one that holds it. A round is idempotent (each request is decided on its own stream),
so two processes' rounds one after the other record nothing twice.

A round that fails is logged and fails the loop: the supervisor starts it again, /health
shows it `restarting` with the error, and it is tried again at the next round, a whole
interval later (never in a tight loop against a database that refuses it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from servicecore.deadline import pooled_waits, watch
from servicecore.logs import system_run
from workers.advisory_locks import LOCK_SQL
from workers.supervisor import describe

log = logging.getLogger(__name__)
NAME = "online-booking-retention"
LOCK_KEY = "servicecore-online-booking-retention"

Step = Callable[[datetime], dict[str, Any]]  # a round at a moment: its report


class BookingRetentionTimer:
    def __init__(self, conninfo: str, step: Step, interval_seconds: float,
                 deadline_seconds: float = 0.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """`step(at)`: the retention run at `at` (its report: `expired`, `shredded`, ids);
        `deadline_seconds`: a round's connections still waiting on PostgreSQL after this long
        are cut (servicecore/deadline.py; 0: no limit)."""
        self.conninfo, self.step = conninfo, step
        self.interval_seconds = interval_seconds
        self.deadline_seconds = deadline_seconds
        self.clock = clock

    def once(self, at: datetime | None = None) -> dict[str, Any] | None:
        """One round at `at` (default: now), under the lock: its report; None when another
        process holds the lock (that one runs it)."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            with watch(conn, self.deadline_seconds, "online booking retention lock"):
                got = conn.execute(LOCK_SQL, (LOCK_KEY,)).fetchone()
            if not (got and got[0]):
                log.info("online booking retention: another process runs this round")
                return None
            with system_run(NAME):  # the round's lines carry its events' correlation id
                try:
                    with pooled_waits(self.deadline_seconds, "online booking retention"):
                        report = self.step(at or self.clock())
                except Exception as exc:  # the loop fails (the supervisor logs its traceback)
                    log.error("online booking retention failed (%s); the next round in %g s",
                              describe(exc), self.interval_seconds)
                    raise
                _said(report)
        return report

    def run(self, stop: threading.Event, _conninfo: str) -> None:
        """A round every interval (the first one interval after the start)."""
        while not stop.wait(self.interval_seconds):
            self.once()


def _said(report: dict[str, Any]) -> None:
    expired, shredded = report.get("expired", []), report.get("shredded", [])
    if expired or shredded:
        log.info("online booking retention: %d request(s) expired %s, %d shredded %s",
                 len(expired), expired, len(shredded), shredded)
    else:
        log.debug("online booking retention: nothing to record")
