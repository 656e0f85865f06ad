"""The event log's reads: a stream's events, a cold load's snapshot and events in one
statement, a few events picked out by the database, several streams at once; each on a
connection of the shared pool, in binary, with two tries (`_read`).

`EventReads` is the read half of servicecore/event_store.py's `EventRecorder`, which keeps
the appends (one statement per save, never applied twice).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from functools import wraps
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

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
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from servicecore.deadline import DeadlinePassed, pooled_limit, watch
from servicecore.pool import EventStorePool

R = TypeVar("R")

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

# The version a replay up to a moment reaches (projections/as_of_start.py): the one before the
# stream's first event whose audit stamp is after the moment, as the replay stops there (a
# stream's stamps need not rise with its versions: a command retried on fresh state keeps the
# time of its request), else the last version. `unreadable` counts stamps this cannot compare
# as the replay would (missing, or without a UTC offset as +08:00).
VERSION_AT = """
WITH stamped AS MATERIALIZED (
    SELECT originator_version,
           convert_from(state, 'UTF8')::jsonb -> 'audit' -> '_data_' ->> 'at' AS at
    FROM {events} WHERE originator_id = %(id)s)
SELECT count(*) FILTER (WHERE NOT coalesce(at LIKE '%%+__:__' OR at LIKE '%%-__:__', false))
           AS unreadable,
       min(originator_version) FILTER (
           WHERE CASE WHEN at LIKE '%%+__:__' OR at LIKE '%%-__:__'
                 THEN at::timestamptz > %(at)s ELSE false END) AS first_after,
       max(originator_version) AS last
FROM stamped
"""

# The snapshots of a stream whose stated `stamped_until` (domain/stamps.py) is at or before a
# moment, latest first (projections/as_of_start.py). Only a hint read from the row's bytes
# behind its seal (MARK, a 32-byte tag, the JSON state): the caller opens each row with its
# seal and checks the stamp itself; a row without the mark or without the field is left out.
# The rows come latest first from the key (OFFSET 0 keeps the subquery as it is), so the
# JSON of only as many rows as it takes to find `limit` is parsed, not of every snapshot.
SELECT_STAMPED = """
SELECT originator_version, topic, state FROM (
    SELECT originator_version, topic, state FROM {snapshots}
    WHERE originator_id = %(id)s AND originator_version <= %(lte)s
    ORDER BY originator_version DESC OFFSET 0) latest_first
WHERE CASE WHEN substring(state FOR 6) = '\\x007365616c31'::bytea THEN
      coalesce((convert_from(substring(state FROM 39), 'UTF8')::jsonb
                #>> '{{state,stamped_until,_data_}}') ~ '[+-][0-9][0-9]:[0-9][0-9]$', false)
      AND (convert_from(substring(state FROM 39), 'UTF8')::jsonb
           #>> '{{state,stamped_until,_data_}}')::timestamptz <= %(at)s
      ELSE false END
LIMIT %(limit)s
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
    around them (~12 us more per statement); psycopg's errors come out as it raises them. In a
    thread (a request) under `pooled_waits` the connection is watched as `DeadlinePool`'s are,
    and a cut one drains the pool (servicecore/pool.py)."""

    __slots__ = ("conn", "pool", "watching")

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def __enter__(self) -> psycopg.Connection[Any]:
        try:
            self.conn = self.pool.getconn()
        except psycopg.Error as error:
            raise _translated(error) from error
        limit = pooled_limit()
        self.watching = None if limit is None else watch(self.conn, *limit)
        if self.watching is not None:
            self.watching.__enter__()
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.watching is not None:
            try:
                self.watching.__exit__(kind, error, traceback)
            except DeadlinePassed as cut:  # the connection is closed: the pool discards it
                self.pool.putconn(self.conn)
                self.pool.drain()
                raise _translated(cut) from cut
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
    def read(self: EventReads, *args: Any, **kwargs: Any) -> R:
        try:
            return inner(self, *args, **kwargs)
        except (InterfaceError, OperationalError) as error:
            if isinstance(error.__cause__, PoolTimeout):
                raise
            self._drop_broken_connections()
            time.sleep(0.2)
            return inner(self, *args, **kwargs)

    return read


class EventReads:
    """The reads of the event log's recorder (mixed into `EventRecorder`, which sets the
    statements' caches in its `__init__` and drops broken connections)."""

    datastore: PostgresDatastore
    _events: str
    _selects: dict[tuple[bool, bool, bool, bool], str]
    _state_selects: dict[str, str]

    def _drop_broken_connections(self) -> None:
        raise NotImplementedError

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
    def select_version_at(self, originator_id: UUID, at: datetime) -> int | None:
        """The version a replay of the stream up to `at` reaches (VERSION_AT; 0: its first
        event is after `at`, or no stream); None when a stored event's stamp cannot be compared
        here (the caller replays the events and compares each itself)."""
        with self._connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            try:
                cursor.execute(VERSION_AT.format(events=self._events),
                               {"id": originator_id, "at": at})
            except (psycopg.DataError, DataError):  # a state that is not JSON text
                return None
            row = cursor.fetchone()
        assert row is not None
        unreadable, first_after, last = row
        if unreadable:
            return None
        return int(first_after) - 1 if first_after is not None else int(last or 0)

    @_read
    def select_snapshots_stamped(self, originator_id: UUID, snapshots: AggregateRecorder,
                                 at: datetime, lte: int, limit: int
                                 ) -> Sequence[StoredEvent] | None:
        """The stream's snapshots in `snapshots` (a table of this database) up to version
        `lte` whose stated `stamped_until` is at or before `at`, latest first (SELECT_STAMPED);
        None when a row cannot be read so (a forged state that is not JSON text)."""
        table = getattr(snapshots, "events_table_name", None)
        assert isinstance(table, str), "a PostgreSQL recorder of this database"
        statement = SELECT_STAMPED.format(snapshots=self._qualified(table))
        with self._connection() as conn, \
                conn.cursor(row_factory=tuple_row) as cursor:
            try:
                cursor.execute(statement, {"id": originator_id, "at": at, "lte": lte,
                                           "limit": limit}, binary=True)
            except (psycopg.DataError, DataError):
                return None
            return [StoredEvent(originator_id=originator_id, originator_version=row[0],
                                topic=row[1], state=row[2]) for row in cursor]

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
