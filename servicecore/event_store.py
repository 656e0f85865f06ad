"""The PostgreSQL recorder of the one event log: one statement per save, never applied twice.

A save is ONE statement in autocommit mode (one round trip: insert and commit together, no
pipeline mode): it inserts the events and records the save's command id with their
notification ids in `servicecore_commands`. The table's triggers (servicecore/schema.py)
serialize appends, link the events into the hash chain and NOTIFY tailing readers, all in the
same transaction.

When the connection fails while the statement is in flight (the server restarted, an operator
terminated the backend, the network dropped) the outcome is unknown: the commit may have
happened. The recorder then never retries blindly: it waits for the database, makes sure the
old backend is gone (its transaction is then committed or rolled back for good), and looks the
command id up. Found: the save succeeded and its notification ids are answered. Not found:
nothing was stored and the same statement is sent again. A version conflict (a unique
violation) is always a definite answer from the server and is raised as IntegrityError.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

import psycopg
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import dict_row

from servicecore.schema import APPEND_LOCK, COMMANDS_TABLE

log = logging.getLogger(__name__)

APPEND = f"""
WITH appended AS (
    INSERT INTO {{table}} (originator_id, originator_version, topic, state)
    SELECT * FROM unnest(%(ids)s::uuid[], %(versions)s::bigint[], %(topics)s::text[],
                         %(states)s::bytea[])
    RETURNING notification_id
)
INSERT INTO {COMMANDS_TABLE} (command_id, notification_ids)
SELECT %(command)s, array_agg(notification_id ORDER BY notification_id) FROM appended
RETURNING notification_ids
"""


class CommitUnknown(OperationalError):
    """The database stayed unreachable: whether the save committed could not be decided."""


class EventRecorder(PostgresApplicationRecorder):
    """Appends with a command id; resolves an ambiguous failure before trying again."""

    resolve_seconds = 30.0  # how long to wait for the database to decide an unknown outcome
    connect_seconds = 3.0  # how long a save retries when it cannot get a connection at all
    attempts = 5  # sends of one save whose earlier sends provably stored nothing

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.append_statement = APPEND.replace("{table}", self.events_table_name)

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        command_id: UUID = kwargs.get("command_id") or uuid4()
        params = {
            "ids": [e.originator_id for e in stored_events],
            "versions": [e.originator_version for e in stored_events],
            "topics": [e.topic for e in stored_events],
            "states": [e.state for e in stored_events],
            "command": command_id,
        }
        connect_until = time.monotonic() + self.connect_seconds
        for attempt in range(1, self.attempts + 1):
            backend_pid, sent_at = None, time.monotonic()
            try:
                with self.datastore.get_connection() as conn:
                    backend_pid = conn.info.backend_pid
                    sent_at = time.monotonic()
                    return self._append(conn, params)
            except IntegrityError:
                raise
            except (OperationalError, psycopg.OperationalError) as error:
                self._drop_broken_connections()
                if backend_pid is None:  # never reached the server: nothing was stored
                    if time.monotonic() >= connect_until:
                        raise
                    log.warning("save %s: no connection (%s); attempt %d", command_id, error,
                                attempt)
                    time.sleep(0.2)
                    continue
                log.warning("save %s: connection lost while in flight (%s); checking whether "
                            "it committed", command_id, error)
                stored = self.resolve(command_id, backend_pid, sent_at)
                if stored is not None:
                    log.info("save %s had committed: %d events", command_id, len(stored))
                    return stored
                log.info("save %s had not committed; sending it again", command_id)
        raise OperationalError(f"save {command_id}: the database refused it {self.attempts} "
                               "times")

    def _drop_broken_connections(self) -> None:
        """After a restart every pooled connection is dead: check them all now, once."""
        try:
            self.datastore.pool.check()
        except Exception:
            log.debug("pool check failed", exc_info=True)

    def _append(self, conn: psycopg.Connection[Any], params: dict[str, Any]) -> list[int]:
        """One statement, one transaction (the pooled connection is in autocommit mode)."""
        try:
            row = conn.execute(self.append_statement, params).fetchone()
        except psycopg.errors.UniqueViolation as conflict:
            raise IntegrityError(str(conflict)) from conflict
        assert row is not None
        return list(row["notification_ids"])

    def resolve(self, command_id: UUID, backend_pid: int, sent_at: float) -> list[int] | None:
        """After a lost connection: the save's notification ids if it committed, else None.

        The backend that ran the statement may still be alive (a dropped network, not a
        restart): it is terminated and awaited first, so its transaction has ended for good.
        Waiting for the append lock then makes sure no commit of it is still on its way.
        """
        deadline = time.monotonic() + self.resolve_seconds
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        conninfo = {**kwargs, "row_factory": dict_row, "autocommit": True}
        while True:
            try:
                with psycopg.connect(**conninfo, connect_timeout=2) as conn:
                    self._end_backend(conn, backend_pid, sent_at, deadline)
                    with conn.transaction():
                        conn.execute(f"SELECT pg_advisory_xact_lock({APPEND_LOCK})")
                        row = conn.execute(
                            f"SELECT notification_ids FROM {COMMANDS_TABLE} "
                            "WHERE command_id = %s", (command_id,)).fetchone()
                    return list(row["notification_ids"]) if row else None
            except (OperationalError, psycopg.OperationalError) as error:
                if time.monotonic() >= deadline:
                    raise CommitUnknown(
                        f"save {command_id}: the database did not come back within "
                        f"{self.resolve_seconds:.0f} s to tell whether it committed") from error
                time.sleep(0.2)

    @staticmethod
    def _end_backend(conn: psycopg.Connection[Any], pid: int, sent_at: float,
                     deadline: float) -> None:
        """Terminate the old backend if it still runs, and wait until it is gone.

        Only a backend of this database and user that started before the save was sent is
        the old one (a pid reused since then is left alone).
        """
        alive = ("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND datname = current_database()"
                 " AND usename = current_user"
                 " AND backend_start <= now() - make_interval(secs => %s)")
        if conn.execute(alive, (pid, time.monotonic() - sent_at)).fetchone() is None:
            return
        log.warning("terminating backend %d left from a lost connection", pid)
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        while conn.execute(alive, (pid, time.monotonic() - sent_at)).fetchone() is not None:
            if time.monotonic() >= deadline:
                raise CommitUnknown(f"backend {pid} of a lost connection did not end")
            time.sleep(0.05)
