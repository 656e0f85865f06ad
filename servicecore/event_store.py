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
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import wraps
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID, uuid4

import psycopg
from eventsourcing.persistence import (
    AggregateRecorder,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from servicecore.pool import EventStorePool
from servicecore.schema import APPEND_LOCK, COMMANDS_TABLE, OWNER_SEARCH_PATH

log = logging.getLogger(__name__)
R = TypeVar("R")

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


# A stream's events, as eventsourcing's select_events asks for them (the optional bounds and
# order are filled in per call shape): the four columns a StoredEvent needs, in binary.
SELECT_EVENTS = "SELECT originator_id, originator_version, topic, state FROM {events} " \
    "WHERE originator_id = %s"

# A stream's events of some types whose stored state holds one of some byte strings (a lot's
# id as the state spells it): the few events a question needs, not the whole stream decoded.
SELECT_HOLDING = SELECT_EVENTS + " AND originator_version <= %s AND topic = ANY(%s) " \
    "AND EXISTS (SELECT 1 FROM unnest(%s::bytea[]) AS n(needle) " \
    "WHERE position(n.needle IN state) > 0) ORDER BY originator_version"

# Several streams' events up to a version of each, in one statement, stream by stream.
SELECT_UP_TO = "SELECT e.originator_id, e.originator_version, e.topic, e.state " \
    "FROM {events} e JOIN unnest(%s::uuid[], %s::bigint[]) AS w(id, version) " \
    "ON e.originator_id = w.id AND e.originator_version <= w.version " \
    "ORDER BY e.originator_id, e.originator_version"

# Where events sit in the log (the primary key finds each).
NOTIFICATION_ID_OF = "SELECT max(e.notification_id) FROM {events} e JOIN " \
    "unnest(%s::uuid[], %s::bigint[]) AS w(id, version) " \
    "ON e.originator_id = w.id AND e.originator_version = w.version"

# A cold load: the latest snapshot and the events after it, in one statement. Only a snapshot
# of a version the stream has: one past its last event (a forged row; the application's role
# may insert snapshots) would otherwise move the stream's version on, and the next save would
# store its event after a gap. `audit verify` names such a row (projections/snapshot_check.py).
SELECT_STATE = """
WITH snapshot AS MATERIALIZED (
    SELECT s.originator_version, s.topic, s.state FROM {snapshots} s
    WHERE s.originator_id = %(id)s AND EXISTS (
        SELECT 1 FROM {events} e
        WHERE e.originator_id = s.originator_id AND e.originator_version = s.originator_version)
    ORDER BY s.originator_version DESC LIMIT 1
)
SELECT true AS is_snapshot, originator_version, topic, state FROM snapshot
UNION ALL
SELECT false, originator_version, topic, state FROM {events}
WHERE originator_id = %(id)s
  AND originator_version > coalesce((SELECT originator_version FROM snapshot), -1)
ORDER BY is_snapshot DESC, originator_version
"""


# psycopg's errors as eventsourcing's PostgresDatastore.get_connection raises them, in its order
_ERRORS: tuple[tuple[type[psycopg.Error], type[PersistenceError]], ...] = (
    (psycopg.InterfaceError, InterfaceError), (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError), (psycopg.IntegrityError, IntegrityError),
    (psycopg.InternalError, InternalError), (psycopg.ProgrammingError, ProgrammingError),
    (psycopg.NotSupportedError, NotSupportedError), (psycopg.DatabaseError, DatabaseError),
    (psycopg.Error, PersistenceError),
)


class _Borrowed:
    """A connection of the shared pool for one autocommit statement: psycopg_pool's getconn
    and putconn directly. The library's get_connection nests three generator context managers
    around them (~12 us more per statement); psycopg's errors come out as it raises them."""

    __slots__ = ("conn", "pool")

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def __enter__(self) -> psycopg.Connection[Any]:
        try:
            self.conn = self.pool.getconn()
        except psycopg.Error as error:
            raise _translated(error) from error
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.pool.putconn(self.conn)
        if isinstance(error, psycopg.Error):
            raise _translated(error) from error


def _translated(error: psycopg.Error) -> PersistenceError:
    kind = next(ours for theirs, ours in _ERRORS if isinstance(error, theirs))
    return kind(str(error))


def _read(method: Callable[..., R]) -> Callable[..., R]:
    """A read of the library's recorder with two tries, not ten: after a restart the second try
    gets a live connection (the pool's dead ones are dropped first); a database that is away
    answers 503 in seconds, not after ten pool timeouts; a pool with none free, after one."""
    inner: Callable[..., R] = getattr(method, "__wrapped__", method)

    @wraps(inner)
    def read(self: EventRecorder, *args: Any, **kwargs: Any) -> R:
        try:
            return inner(self, *args, **kwargs)
        except (InterfaceError, OperationalError) as error:
            if isinstance(error.__cause__, PoolTimeout):
                raise
            self._drop_broken_connections()
            time.sleep(0.2)
            return inner(self, *args, **kwargs)

    return read


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


class EventRecorder(PostgresApplicationRecorder):
    """Appends with a command id; resolves an ambiguous failure before trying again.

    Group commit: saves that arrive while another save's statement is in flight wait for it,
    then the first of them sends all that queued up as ONE statement (one transaction, one
    flush to disk). A version conflict in such a batch sends its saves again one by one, so
    every save gets its own answer exactly as if it had been sent alone.
    """

    resolve_seconds = 30.0  # how long to wait for the database to decide an unknown outcome
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

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        pool = self.datastore.pool
        if isinstance(pool, EventStorePool):
            return _Borrowed(pool.shared)
        return self.datastore.get_connection()  # the library's own pool (opened on first use)

    def _qualified(self, table: str) -> str:
        return sql.Identifier(self.datastore.schema, table).as_string()

    def _select_statement(self, shape: tuple[bool, bool, bool, bool]) -> str:
        statement = self._selects.get(shape)
        if statement is None:
            gt, lte, desc, limit = shape
            statement = SELECT_EVENTS.format(events=self._events) \
                + (" AND originator_version > %s" if gt else "") \
                + (" AND originator_version <= %s" if lte else "") \
                + " ORDER BY originator_version" + (" DESC" if desc else " ASC") \
                + (" LIMIT %s" if limit else "")
            self._selects[shape] = statement
        return statement

    @_read
    def select_events(self, originator_id: UUID | str, *, gt: int | None = None,
                      lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> Sequence[StoredEvent]:
        """eventsourcing's select_events, without composing the statement on every call
        and with rows in binary as tuples (no hex-encoded states, no dict per row)."""
        statement = self._select_statement((gt is not None, lte is not None, desc,
                                            limit is not None))
        params = [originator_id, *(x for x in (gt, lte, limit) if x is not None)]
        with self._connection() as conn, \
                conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, params, prepare=True, binary=True)
            return [StoredEvent(originator_id=row[0], originator_version=row[1],
                                topic=row[2], state=row[3]) for row in cursor]

    @_read
    def select_events_holding(self, originator_id: UUID, *, topics: Sequence[str],
                              needles: Sequence[bytes], lte: int) -> Sequence[StoredEvent]:
        """The stream's events up to `lte` of these topics whose stored state holds one of
        `needles`, in order: the database filters, so a long stream is neither sent nor
        decoded (domain/stock_found.py)."""
        with self._connection() as conn, \
                conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(SELECT_HOLDING.format(events=self._events),
                           [originator_id, lte, list(topics), list(needles)], binary=True)
            return [StoredEvent(originator_id=row[0], originator_version=row[1],
                                topic=row[2], state=row[3]) for row in cursor]

    @_read
    def select_streams(self, up_to: dict[UUID, int]) -> Sequence[StoredEvent]:
        """The events of these streams up to each one's version, in one statement."""
        with self._connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(SELECT_UP_TO.format(events=self._events),
                           [list(up_to), list(up_to.values())], binary=True)
            return [StoredEvent(originator_id=row[0], originator_version=row[1],
                                topic=row[2], state=row[3]) for row in cursor]

    @_read
    def notification_id_of(self, events: Sequence[tuple[UUID, int]]) -> int | None:
        """The highest notification id of these events (stream, version); None: none stored."""
        with self._connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(NOTIFICATION_ID_OF.format(events=self._events),
                           ([stream for stream, _ in events],
                            [version for _, version in events]))
            row = cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @_read
    def select_state(self, originator_id: UUID, snapshots: AggregateRecorder,
                     ) -> tuple[StoredEvent | None, list[StoredEvent]]:
        """The latest snapshot in `snapshots` (a table of this database) and the stream's
        events after it, in one statement (domain/aggregate_loads.py: a cold load)."""
        table = getattr(snapshots, "events_table_name", None)
        assert isinstance(table, str), "a PostgreSQL recorder of this database"
        statement = self._state_selects.get(table)
        if statement is None:
            statement = SELECT_STATE.format(snapshots=self._qualified(table),
                                            events=self._events)
            self._state_selects[table] = statement
        with self._connection() as conn, \
                conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, {"id": originator_id}, prepare=True, binary=True)
            rows = [(is_snapshot, StoredEvent(originator_id=originator_id,
                                              originator_version=version, topic=topic,
                                              state=state))
                    for is_snapshot, version, topic, state in cursor]
        if rows and rows[0][0]:
            return rows[0][1], [event for _, event in rows[1:]]
        return None, [event for _, event in rows]

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
        while True:
            with self._turn:
                while self._sending and not save.finished:
                    self._turn.wait()
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
            except IntegrityError:
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
        return {command_id: list(ids) for command_id, ids in rows}

    def resolve(self, command_ids: list[UUID], backend_pid: int,
                sent_at: float) -> dict[UUID, list[int]] | None:
        """After a lost connection: the saves' notification ids if they committed, else None.

        The backend that ran the statement may still be alive (a dropped network, not a
        restart): it is terminated and awaited first, so its transaction has ended for good.
        Waiting for the append lock then makes sure no commit of it is still on its way.
        """
        deadline = time.monotonic() + self.resolve_seconds
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        # the URL's own options (a connect_timeout among them) give way to the check's
        conninfo = {**kwargs, "row_factory": dict_row, "autocommit": True, "connect_timeout": 2}
        while True:
            try:
                with psycopg.connect(**conninfo) as conn:
                    self._end_backend(conn, backend_pid, sent_at, deadline)
                    with conn.transaction():
                        conn.execute(f"SELECT pg_advisory_xact_lock({APPEND_LOCK})")
                        rows = conn.execute(
                            f"SELECT command_id, notification_ids FROM {COMMANDS_TABLE} "
                            "WHERE command_id = ANY(%s)", (command_ids,)).fetchall()
                    if not rows:
                        return None
                    assert len(rows) == len(command_ids), "one statement stores all or none"
                    return {r["command_id"]: list(r["notification_ids"]) for r in rows}
            except (OperationalError, psycopg.OperationalError) as error:
                if time.monotonic() >= deadline:
                    raise CommitUnknown(
                        f"save {command_ids[0]}: the database did not come back within "
                        f"{self.resolve_seconds:.0f} s to tell whether it committed",
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
