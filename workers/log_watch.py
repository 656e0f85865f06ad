"""One listener for all the projection runners of a process: who has work, from one look.

Each runner used to LISTEN on a connection of its own and, woken by every new event, look at
the topics after its position (a statement each) to learn whether the event was one of its
own. With six views that is six wake-ups and six statements per event, most of them to learn
"not mine". `LogWatch` listens once, reads the new events' notification ids and topics once
per wake-up, and tells each runner (`ProjectionRunner.signal`) whether an event its view
handles arrived, or only others; a runner with nothing of its own sleeps until its hold ends.

The watch only wakes: every runner (or the group that runs them, workers/projection_group.py)
still reads its events from its own position under its row lock, so a missed or late signal
delays a batch (at most a runner's `SAFETY_SECONDS` poll), never skips or repeats one. On every (re)connect it wakes all runners, which then look
at the log themselves.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from domain.application import ServiceCore
from servicecore.deadline import watch
from workers.event_batches import EventReader

if TYPE_CHECKING:
    from workers.projection_runner import ProjectionRunner

log = logging.getLogger(__name__)
CHANNEL = "servicecore_events"
LOOK_LIMIT = 1000  # topics read per statement


class LogWatch:
    def __init__(self, app: ServiceCore, deadline_seconds: float = 0.0) -> None:
        recorder = app.recorder
        # a look still unanswered after this long has its connection cut (the watch starts
        # again; servicecore/deadline.py); 0: no limit
        self.deadline_seconds = deadline_seconds
        self.sql: psycopg.sql.Composed | None = None
        self.head_sql: psycopg.sql.Composed | None = None
        if isinstance(recorder, PostgresApplicationRecorder):
            table = SQL("{}.{}").format(Identifier(recorder.datastore.schema),
                                        Identifier(recorder.events_table_name))
            self.sql = SQL("SELECT notification_id, topic FROM {} WHERE notification_id > %s "
                           "ORDER BY notification_id LIMIT %s").format(table)
            self.head_sql = SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(table)
        self.reader = EventReader(app)
        self.runners: list[ProjectionRunner] = []
        self.seen = 0  # the highest notification id told to the runners
        self.listening = threading.Event()

    def subscribe(self, runner: ProjectionRunner) -> None:
        self.runners.append(runner)
        runner.watch = self

    def run(self, stop: threading.Event, conninfo: str) -> None:
        """Until `stop` is set. A failure raises (the supervisor starts it again); meanwhile
        the runners poll on their own every `SAFETY_SECONDS`."""
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                with watch(conn, self.deadline_seconds, "projection log watch"):
                    conn.execute(f"LISTEN {CHANNEL}")
                    if self.head_sql is not None:
                        row = conn.execute(self.head_sql).fetchone()
                        self.seen = int(row[0]) if row else 0
                self.listening.set()
                log.info("projection log watch listening for %d projections", len(self.runners))
                self._tell_all()  # whatever came while no one listened: each runner looks
                while not stop.is_set():
                    for _ in conn.notifies(timeout=0):
                        pass  # what is queued: the look below sees those events
                    with watch(conn, self.deadline_seconds, "projection log watch"):
                        self.look(conn)
                    for _ in conn.notifies(timeout=0.5, stop_after=1):
                        pass
        finally:
            self.listening.clear()

    def look(self, conn: psycopg.Connection[Any]) -> None:
        """Read the topics after `seen` and tell each runner what arrived."""
        if self.sql is None:
            self._tell_all()
            return
        while True:
            rows = conn.execute(self.sql, (self.seen, LOOK_LIMIT), prepare=True).fetchall()
            if not rows:
                return
            self.seen = int(rows[-1][0])
            topics = {str(topic) for _, topic in rows}
            for runner in self.runners:
                handles = runner.view.handles
                own = any(self.reader.wanted(topic, handles) for topic in topics)
                runner.signal(own, len(rows))
            if len(rows) < LOOK_LIMIT:
                return

    def _tell_all(self) -> None:
        for runner in self.runners:
            runner.signal(True, 0)
