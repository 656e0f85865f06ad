"""The PostgreSQL recorder of the one event log: one statement per save, never applied twice.

A save is ONE statement in autocommit mode (one round trip: insert and commit together, no
pipeline mode): it inserts the events and records the save's command id with their
notification ids in `servicecore_commands`. The table's triggers (servicecore/schema.py)
serialize appends, link the events into the hash chain and NOTIFY tailing readers, all in the
same transaction.

When the connection fails while the statement is in flight (the server restarted, an operator
terminated the backend, the network dropped, a connection that stopped answering was cut by
the deadline: servicecore/deadline.py) the outcome is unknown: the commit may have happened.
(An ERROR the server answers on a connection that lives on is no such case: the statement's
transaction was rolled back, and the save fails at once, `SaveRefused`.)
The recorder then never retries blindly: it waits for the database, makes sure the old backend
is gone (its transaction is then committed or rolled back for good), and looks the command id
up. Found: the save succeeded and its notification ids are answered. Not found:
nothing was stored; the command ids are voided (a registry row without notification ids, so
the old statement can never be stored later) and the same saves are sent again under new ids. A version conflict (a unique
violation) is always a definite answer from the server and is raised as IntegrityError.

The check waits for the database `resolve_seconds` at most, and in an API request no longer
than what is left of the request's deadline (servicecore/deadline.py `time_left`), though
always long enough for one look (`check_seconds`): a request whose save's connection was cut
at its deadline is answered at once, 503 naming the command id, instead of after another
`resolve_seconds`. A save waiting for its turn behind another's statement waits no longer
than its request either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import dict_row, tuple_row

from servicecore.deadline import time_left, watch
from servicecore.event_reads import EventReads, _read
from servicecore.schema import APPEND_LOCK, COMMANDS_TABLE, OWNER_SEARCH_PATH, VOID_COMMANDS

log = logging.getLogger(__name__)

# The states travel in binary (no hex encoding of every byte on either side).
APPEND = f"""
WITH appended AS (
    INSERT INTO {{table}} (originator_id, originator_version, topic, state)
    SELECT * FROM unnest(%(ids)s::uuid[], %(versions)s::bigint[], %(topics)s::text[],
                         %(states)b::bytea[])
    RETURNING notification_id
)
INSERT INTO {COMMANDS_TABLE} (command_id, notification_ids)
SELECT %(command)s, array_agg(notification_id ORDER BY notification_id) FROM appended
RETURNING command_id, notification_ids
"""

# The commonest save, one event: plain parameters, no arrays to build and take apart.
APPEND_ONE = f"""
WITH appended AS (
    INSERT INTO {{table}} (originator_id, originator_version, topic, state)
    VALUES (%(id)s, %(version)s, %(topic)s, %(state)b)
    RETURNING notification_id
)
INSERT INTO {COMMANDS_TABLE} (command_id, notification_ids)
SELECT %(command)s, array_agg(notification_id) FROM appended
RETURNING command_id, notification_ids
"""

# Several saves in one statement (group commit): each save's command row lists its own ids.
APPEND_MANY = f"""
WITH appended AS (
    INSERT INTO {{table}} (originator_id, originator_version, topic, state)
    SELECT * FROM unnest(%(ids)s::uuid[], %(versions)s::bigint[], %(topics)s::text[],
                         %(states)b::bytea[])
    RETURNING notification_id, originator_id, originator_version
)
INSERT INTO {COMMANDS_TABLE} (command_id, notification_ids)
SELECT saves.command, array_agg(appended.notification_id ORDER BY appended.notification_id)
FROM appended JOIN unnest(%(ids)s::uuid[], %(versions)s::bigint[], %(commands)s::uuid[])
     AS saves(id, version, command)
     ON appended.originator_id = saves.id AND appended.originator_version = saves.version
GROUP BY saves.command
RETURNING command_id, notification_ids
"""


class SaveRefused(OperationalError):
    """The server answered the save's statement with an ERROR (a statement or lock timeout, a
    serialization failure, a deadlock, …): the connection lived on and the statement's
    transaction was rolled back, so nothing of it was stored. Decided: neither looked up nor
    sent again (a commit that went through is never reported as an ERROR: PostgreSQL turns an
    error after the commit into a PANIC, which ends the connection). Its cause is the server's
    error, whose SQLSTATE says whether a retry may succeed (api/errors.py)."""

    nothing_stored = True  # what api/errors.py tells the client (it does not import this)


class CommitUnknown(OperationalError):
    """The database stayed unreachable: whether the save committed could not be decided.

    `command_id` names the save in `servicecore_commands`: once the database is back, the
    row is there if and only if the save was stored (`GET /commands/{command_id}`)."""

    def __init__(self, message: str, command_id: UUID | None = None) -> None:
        super().__init__(message)
        self.command_id = command_id


@dataclass(eq=False)
class _Save:
    command_id: UUID
    events: Sequence[StoredEvent]
    result: list[int] | None = None
    error: BaseException | None = None
    finished: bool = False

    def answer(self) -> list[int]:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class EventRecorder(EventReads, PostgresApplicationRecorder):
    """Appends with a command id; resolves an ambiguous failure before trying again.

    Group commit: saves that arrive while another save's statement is in flight wait for it,
    then the first of them sends all that queued up as ONE statement (one transaction, one
    flush to disk). A version conflict in such a batch sends its saves again one by one, so
    every save gets its own answer exactly as if it had been sent alone.
    """

    resolve_seconds = 30.0  # how long to wait for the database to decide an unknown outcome
    check_seconds = 2.0  # the least a request's commit check gets: one look (connect, look up)
    connect_seconds = 3.0  # how long a save retries when it cannot get a connection at all
    attempts = 5  # sends of one save whose earlier sends provably stored nothing
    group_commit = True
    max_batch = 64  # saves per statement

    select_notifications = _read(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _read(PostgresApplicationRecorder.max_notification_id)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.append_statement = APPEND.replace("{table}", self.events_table_name)
        self.append_one_statement = APPEND_ONE.replace("{table}", self.events_table_name)
        self.append_many_statement = APPEND_MANY.replace("{table}", self.events_table_name)
        self._events = self._qualified(self.events_table_name)
        self._selects: dict[tuple[bool, bool, bool, bool], str] = {}
        self._state_selects: dict[str, str] = {}
        self._turn = threading.Condition()
        self._queue: list[_Save] = []
        self._sending = False

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        save = _Save(kwargs.get("command_id") or uuid4(), stored_events)
        if not self.group_commit:
            self._send_batch([save])
            return save.answer()
        with self._turn:
            self._queue.append(save)
        until = self._wait_until()
        while True:
            with self._turn:
                while self._sending and not save.finished:
                    timed_out = not self._turn.wait(None if until is None
                                                    else until - time.monotonic())
                    if timed_out and self._sending and not save.finished:
                        self._give_up_turn(save)
                if save.finished:
                    return save.answer()
                self._sending = True
                batch = self._queue[:self.max_batch]
                del self._queue[:len(batch)]
            try:
                self._send_batch(batch)
            finally:
                with self._turn:
                    self._sending = False
                    self._turn.notify_all()

    def _wait_until(self) -> float | None:
        """When a save of this request stops waiting (time.monotonic()): its deadline, yet
        one look (`check_seconds`) from now at least; None outside a request."""
        left = time_left()
        if left is None:
            return None
        return time.monotonic() + max(left, self.check_seconds)

    def _give_up_turn(self, save: _Save) -> None:
        """(Holding `_turn`.) The request's time is up while its save waits behind another
        statement: still queued, it is never sent; already sent in another's statement, it
        is undecided, and its command row will tell."""
        if save in self._queue:
            self._queue.remove(save)
            raise OperationalError(f"save {save.command_id}: not sent, the database did not "
                                   "take the saves before it within the request's deadline")
        raise CommitUnknown(f"save {save.command_id}: sent with others, still undecided at "
                            "the request's deadline", save.command_id)

    def _send_batch(self, batch: list[_Save]) -> None:
        """Store the saves together; each gets its own result or error."""
        try:
            stored = self._store(batch)
            for save in batch:
                save.result = stored[save.command_id]
        except IntegrityError as conflict:
            if len(batch) == 1:
                batch[0].error = conflict
            else:
                for save in batch:  # whose conflict was it? each alone says
                    self._send_batch([save])
        except CommitUnknown as unknown:  # each save is told its own command id
            for save in batch:
                save.error = CommitUnknown(str(unknown), save.command_id)
                save.error.__cause__ = unknown.__cause__
        except Exception as error:  # noqa: BLE001 - handed to every waiting save
            for save in batch:
                save.error = error
        finally:
            for save in batch:
                save.finished = save.result is not None or save.error is not None

    def _statement(self, batch: list[_Save]) -> tuple[str, dict[str, Any]]:
        """The statement that stores the batch, and its parameters: one event as one row,
        one save's events as arrays, several saves with each event's command id beside it."""
        first = batch[0]
        if len(batch) == 1 and len(first.events) == 1:
            event = first.events[0]
            return self.append_one_statement, {
                "id": event.originator_id, "version": event.originator_version,
                "topic": event.topic, "state": event.state, "command": first.command_id}
        events = [(save.command_id, e) for save in batch for e in save.events]
        params = {
            "ids": [e.originator_id for _, e in events],
            "versions": [e.originator_version for _, e in events],
            "topics": [e.topic for _, e in events],
            "states": [e.state for _, e in events],
            "command": first.command_id,
        }
        if len(batch) == 1:
            return self.append_statement, params
        return self.append_many_statement, {**params,
                                            "commands": [command for command, _ in events]}

    def _store(self, batch: list[_Save]) -> dict[UUID, list[int]]:
        """One statement for the batch; after a lost connection, look up before sending again
        (the statement is atomic: the first save's command row tells for all of them)."""
        statement, params = self._statement(batch)
        first = batch[0].command_id
        connect_until = time.monotonic() + self.connect_seconds
        for attempt in range(1, self.attempts + 1):
            backend_pid, sent_at = None, time.monotonic()
            try:
                with self._connection() as conn:
                    backend_pid = conn.info.backend_pid
                    sent_at = time.monotonic()
                    return self._append(conn, params, statement=statement)
            except (IntegrityError, SaveRefused):
                raise
            except (OperationalError, psycopg.OperationalError) as error:
                self._drop_broken_connections()
                if backend_pid is None:  # never reached the server: nothing was stored
                    if time.monotonic() >= connect_until:
                        raise
                    log.warning("save %s: no connection (%s); attempt %d", first, error,
                                attempt)
                    time.sleep(0.2)
                    continue
                log.warning("save %s (+%d more): connection lost while in flight (%s); checking "
                            "whether it committed", first, len(batch) - 1, error)
                stored = self.resolve([save.command_id for save in batch], backend_pid, sent_at)
                if stored is not None:
                    log.info("save %s had committed", first)
                    return stored
                log.info("save %s had not committed; sending it again", first)
                for save in batch:  # its command ids are void now: the same saves, new ids
                    save.command_id = uuid4()
                statement, params = self._statement(batch)
                first = batch[0].command_id
        raise OperationalError(f"save {first}: the database refused it {self.attempts} times")

    def _drop_broken_connections(self) -> None:
        """After a restart every pooled connection is dead: check them all now, once."""
        try:
            self.datastore.pool.check()
        except Exception:
            log.debug("pool check failed", exc_info=True)

    def _append(self, conn: psycopg.Connection[Any], params: dict[str, Any], *,
                statement: str) -> dict[UUID, list[int]]:
        """One statement, one transaction (the pooled connection is in autocommit mode)."""
        try:
            with conn.cursor(row_factory=tuple_row) as cursor:
                cursor.execute(statement, params)
                rows = cursor.fetchall()
        except psycopg.errors.UniqueViolation as conflict:
            raise IntegrityError(str(conflict)) from conflict
        except psycopg.Error as error:
            if error.diag.severity_nonlocalized == "ERROR" and not conn.broken:
                raise SaveRefused(f"the database refused the save: {error}") from error
            raise  # FATAL or no answer at all: whether it committed is not known
        return {command_id: list(ids) for command_id, ids in rows}

    def resolve(self, command_ids: list[UUID], backend_pid: int,
                sent_at: float) -> dict[UUID, list[int]] | None:
        """After a lost connection: the saves' notification ids if they committed, else None.

        The backend that ran the statement may still be alive (a dropped network, not a
        restart): it is terminated and awaited first, so its transaction has ended for good.
        Waiting for the append lock then makes sure no commit of it is still on its way.
        Not stored, the command ids are voided under the same lock (servicecore/schema.py
        VOID_COMMANDS), as `GET /commands/{id}` does: should the old statement still reach
        a backend (one the check could not see), it fails on the key. The resend takes new ids.
        """
        seconds = self.resolve_seconds
        until = self._wait_until()
        if until is not None:
            seconds = min(seconds, until - time.monotonic())
        deadline = time.monotonic() + seconds
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        # the URL's own options (a connect_timeout among them) give way to the check's
        conninfo = {**kwargs, "row_factory": dict_row, "autocommit": True, "connect_timeout": 2}
        while True:
            try:
                with psycopg.connect(**conninfo) as conn, \
                        watch(conn, max(deadline - time.monotonic(), self.check_seconds),
                              "deciding whether a save committed"):
                    self._end_backend(conn, backend_pid, sent_at, deadline)
                    with conn.transaction():
                        conn.execute(f"SELECT pg_advisory_xact_lock({APPEND_LOCK})")
                        rows = conn.execute(
                            f"SELECT command_id, notification_ids FROM {COMMANDS_TABLE} "
                            "WHERE command_id = ANY(%s)", (command_ids,)).fetchall()
                        stored = {r["command_id"]: list(r["notification_ids"])
                                  for r in rows if r["notification_ids"]}
                        if not stored:
                            conn.execute(VOID_COMMANDS, (command_ids,))
                    if not stored:
                        return None
                    assert len(stored) == len(command_ids), "one statement stores all or none"
                    return stored
            except (OperationalError, psycopg.OperationalError) as error:
                if time.monotonic() >= deadline:
                    raise CommitUnknown(
                        f"save {command_ids[0]}: the database did not come back within "
                        f"{seconds:.1f} s to tell whether it committed",
                        command_ids[0]) from error
                time.sleep(0.2)

    @staticmethod
    def _end_backend(conn: psycopg.Connection[Any], pid: int, sent_at: float,
                     deadline: float) -> None:
        """Terminate the old backend if it still runs, and wait until it is gone. Only a
        backend of this database and user that started before the save was sent is the old
        one (a pid reused since then is left alone)."""
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


class OwnerRecorder(EventRecorder):
    """The recorder `migrate` creates eventsourcing's tables with, as the event store's owner:
    its connections' search path is pinned (servicecore/schema.py OWNER_SEARCH_PATH) before the
    first opens. eventsourcing names its schema in every statement, but psycopg's query for
    the composite type it registers compares `t.oid = to_regtype(…)`, and an `=(oid, regtype)`
    operator in public would be preferred to pg_catalog's `=(oid, oid)` (one of an older
    layout's application role ran on every row of pg_type, as the owner)."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        path = OWNER_SEARCH_PATH.replace(" ", "")
        datastore.pool.kwargs["options"] = f"-c search_path={path}"
        super().__init__(datastore, **kwargs)
