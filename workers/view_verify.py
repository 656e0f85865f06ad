"""`audit views`: a read model rebuilt from the event log beside the live one and compared with
it row by row, for the rows the hash chain does not cover (an edited read-model row changes what
the API answers, and nothing else would notice).

The scratch tables (`VERIFY_SUFFIX`) are filled as a rebuild fills its fresh ones, up to the
live view's position, by batches that commit. The last events and the comparison run in one
REPEATABLE READ transaction that takes its snapshot after locking the live tables (ACCESS
SHARE: a rebuild's swap waits, the live runner does not): the live rows and the position they
stand at are read at one moment, the scratch copy is brought to exactly that position inside
the same transaction, so a view that keeps moving is compared where it stood. The live tables
and their position are only read; the scratch tables are dropped afterwards.

A customer erased after the live position, whose key is already gone, still has the personal
fields the live view opened with that key; the rebuild reads them as erased. Those columns
(`ReadModel.personal_columns`) of that customer's rows are compared blanked on both sides (they
can no longer be checked, and applying the erasure scrubs them); every other column and every
row's presence are compared as ever.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from analytics.poison import PoisonEvent
from domain.application import ServiceCore
from domain.customer import Customer
from projections.base import PersonalColumns, ReadModel
from workers.projection_rebuild import REBUILD_BATCH_SIZE
from workers.projection_runner import ProjectionRunner
from workers.supervisor import database_away

VERIFY_SUFFIX = "_verify"
KEYS_SHOWN = 5  # keys listed per table and kind of difference
KINDS = ("differing", "missing", "extra")  # missing: only in the rebuild; extra: only live


@dataclass
class TableDiff:
    """How one live table differs from its rebuild: counts by kind, the first keys of each."""

    counts: dict[str, int] = field(default_factory=dict)
    keys: dict[str, list[Any]] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)  # those that differ in a differing row

    def as_dict(self) -> dict[str, Any]:
        return {**{kind: self.counts.get(kind, 0) for kind in KINDS},
                "keys": {kind: keys for kind, keys in self.keys.items() if keys},
                "columns": self.columns}


@dataclass
class ViewCheck:
    """One view compared with its rebuild at the live position."""

    view: str
    position: int
    events: int
    seconds: float
    rows: int  # live rows compared
    tables: dict[str, TableDiff]  # the tables that differ only
    erasures_pending: int = 0  # customers whose personal columns were compared blanked
    stopped_at: dict[str, Any] | None = None  # the event it cannot apply (PoisonEvent.stop)
    # the log's head, where the live position stands past it: the view would pass over the
    # events stored up to its position (the rows compare equal until they are)
    past_the_log: int | None = None

    @property
    def ok(self) -> bool:
        return not self.tables and self.stopped_at is None and self.past_the_log is None

    def as_dict(self) -> dict[str, Any]:
        return {"view": self.view, "ok": self.ok, "position": self.position,
                "events": self.events, "rows": self.rows, "seconds": round(self.seconds, 3),
                "erasures_pending": self.erasures_pending, "stopped_at": self.stopped_at,
                "past_the_log": self.past_the_log,
                "tables": {name: diff.as_dict() for name, diff in self.tables.items()}}


def verify_view(app: ServiceCore, pool: ConnectionPool, view: ReadModel, *,
                batch_size: int = REBUILD_BATCH_SIZE, shown: int = KEYS_SHOWN) -> ViewCheck:
    """Rebuild `view` into scratch tables up to its live position and compare them."""
    started = time.perf_counter()
    # one verification of a view at a time; the lock on a connection outside the pool, whose
    # connections the rebuild and the view's key lookups use
    conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
    with psycopg.connect(conninfo, autocommit=True) as lock_conn:
        key = "verify:" + view.name
        got = lock_conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
        if not (got and got[0]):
            raise VerificationBusy(f"view {view.name} is being verified by another process")
        try:
            position, events, rows, tables, pending, stop = _verify(app, pool, view,
                                                                    batch_size, shown)
        except PoisonEvent as poison:  # the rebuild cannot apply an event the live view did
            position, events, rows, tables, pending, stop = (
                poison.position - 1, 0, 0, {}, 0, poison.stop())
        head = app.recorder.max_notification_id() or 0  # read after: it only grows
    return ViewCheck(view.name, position, events, time.perf_counter() - started, rows, tables,
                     pending, stop, head if position > head else None)


class VerificationBusy(RuntimeError):
    """Another process verifies the same view (they would share its scratch tables)."""


def _verify(app: ServiceCore, pool: ConnectionPool, view: ReadModel, batch_size: int,
            shown: int) -> tuple[int, int, int, dict[str, TableDiff], int,
                                 dict[str, Any] | None]:
    """The scratch tables made, filled, compared and dropped: the position, the events
    applied, the live rows compared, the tables that differ, the erasures pending and the
    event after the position that the view cannot apply (where a live view stopped)."""
    scratch_name = view.name + VERIFY_SUFFIX
    try:
        with pool.connection() as conn, conn.transaction():
            for statement in view.drop(VERIFY_SUFFIX):
                conn.execute(statement)
            view.create(conn, VERIFY_SUFFIX)
            conn.execute("DELETE FROM projection_positions WHERE name = %s", (scratch_name,))
        scratch = ProjectionRunner(app, pool, view, batch_size=batch_size, suffix=VERIFY_SUFFIX,
                                   until=_position(pool, view.name))
        events = 0
        while count := scratch.run_batch():  # the bulk, in batches that commit
            events += count
        with pool.connection() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction(force_rollback=True):
                    position, rows, tables, more, pending = _compare_at_live_position(
                        app, pool, conn, view, scratch, shown)
                    stop = _next_event_fails(app, pool, conn, view, position)
            finally:
                conn.isolation_level = None
    finally:
        with pool.connection() as conn, conn.transaction():
            for statement in view.drop(VERIFY_SUFFIX):
                conn.execute(statement)
            conn.execute("DELETE FROM projection_positions WHERE name = %s", (scratch_name,))
    return position, events + more, rows, tables, pending, stop


def _next_event_fails(app: ServiceCore, pool: ConnectionPool, conn: psycopg.Connection[Any],
                      view: ReadModel, position: int) -> dict[str, Any] | None:
    """(In the comparison's transaction, rolled back after.) The view's first event after
    `position` applied to the scratch tables: what stops it there, if it cannot be applied
    (a live runner stopped at a poison event stands just before it), else None."""
    probe = ProjectionRunner(app, pool, view, batch_size=1, suffix=VERIFY_SUFFIX)
    rows = probe.reader.read(conn, position + 1, 1)
    if not rows:
        return None
    try:
        with conn.transaction():  # a savepoint: the comparison's transaction stays usable
            probe.apply_batch(conn)
    except Exception as error:  # the view cannot apply it: where it stops
        if database_away(error):
            raise
        return PoisonEvent(view.name, rows[0].id, rows[0].topic, error).stop()
    return None


def _compare_at_live_position(app: ServiceCore, pool: ConnectionPool,
                              conn: psycopg.Connection[Any], view: ReadModel,
                              scratch: ProjectionRunner, shown: int
                              ) -> tuple[int, int, dict[str, TableDiff], int, int]:
    """(In a REPEATABLE READ transaction not yet begun.) The live position, the live rows
    compared, the tables that differ, the events applied here to reach the position and the
    customers whose personal columns were compared blanked."""
    conn.execute(f"LOCK TABLE {', '.join(view.tables)} IN ACCESS SHARE MODE")
    found = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                         (view.name,)).fetchone()  # the snapshot is taken here
    position = int(found[0]) if found else 0
    scratch.until = position
    events = 0
    while count := scratch.apply_batch(conn):
        events += count
    reached = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                           (scratch.position_name,)).fetchone()
    if reached is None or int(reached[0]) > position:
        raise RuntimeError(f"the rebuild of {view.name} went past the live position "
                           f"{position}")  # the live view moved back: nothing to compare
    # read after the scratch rows were opened, outside the snapshot: a key the rebuild
    # found gone was deleted after its erasure was stored, so that erasure is seen here
    pending = _erased_without_key(app, pool, position) if view.personal_columns else []
    rows, tables = 0, {}
    for table in view.tables:
        count, diff = _compare_table(conn, table, table + VERIFY_SUFFIX, shown,
                                     view.personal_columns.get(table), pending)
        rows += count
        if diff.counts:
            tables[table] = diff
    return position, rows, tables, events, len(pending)


def _erased_without_key(app: ServiceCore, pool: ConnectionPool, position: int) -> list[Any]:
    """The customers erased after `position` (stored, not yet applied to the view) whose key
    is gone: the rebuild reads their personal fields as erased, the live view does not yet."""
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder)
    query = SQL("SELECT DISTINCT originator_id FROM {}.{} WHERE notification_id > %s "
                "AND topic = %s").format(Identifier(recorder.datastore.schema),
                                          Identifier(recorder.events_table_name))
    with pool.connection() as conn:
        erased = [row[0] for row in conn.execute(query, (position, get_topic(Customer.Erased)))]
    if not erased:
        return []
    kept = app.personal_data.keys.get_keys(erased)
    return sorted(customer for customer in erased if customer not in kept)


def _columns(conn: psycopg.Connection[Any], table: str) -> tuple[list[str], list[str]]:
    """A table's columns in order, and those of its primary key (every column without one:
    every read-model table has one, so rows that occur twice are not told apart)."""
    columns = [str(r[0]) for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum", (table,))]
    key = [str(r[0]) for r in conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)", (table,))]
    return columns, key or columns


def _compare_table(conn: psycopg.Connection[Any], live: str, scratch: str, shown: int,
                   personal: PersonalColumns | None = None,
                   pending: list[Any] | None = None) -> tuple[int, TableDiff]:
    """Rows of `live` and `scratch` matched by primary key and compared as text (the columns
    in the scratch table's order, the session's settings the same for both), the `personal`
    columns of the `pending` customers' rows blanked on both sides: how many live rows, and
    the differences."""
    columns, key = _columns(conn, scratch)
    keyed = [f'"{k}"' for k in key]
    on = " AND ".join(f"l.{k} = s.{k}" for k in keyed)
    key_json = ", ".join(f"coalesce(l.{k}, s.{k})" for k in keyed)
    live_values = _values("l", columns, personal if pending else None)
    scratch_values = _values("s", columns, personal if pending else None)
    live_row, scratch_row = _row(live_values), _row(scratch_values)
    # Per column, whether it differs in the row (what an edited row changed, by name).
    changed = "".join(f", ({lv})::text IS DISTINCT FROM ({sv})::text AS c{i}"
                      for i, (lv, sv) in enumerate(zip(live_values, scratch_values, strict=True)))
    changed_any = "".join(f", bool_or(c{i}) FILTER (WHERE kind = 'differing')"
                          for i in range(len(columns)))
    diff_sql = f"""
        SELECT CASE WHEN l.{keyed[0]} IS NULL THEN 'missing'
                    WHEN s.{keyed[0]} IS NULL THEN 'extra'
                    ELSE 'differing' END AS kind,
               jsonb_build_array({key_json}) AS key{changed}
        FROM {live} l FULL JOIN {scratch} s ON {on}
        WHERE {live_row} IS DISTINCT FROM {scratch_row}"""
    found = conn.execute(
        f"""SELECT kind, count(*), (array_agg(key ORDER BY key::text)
                                    FILTER (WHERE n <= %(shown)s)){changed_any}
            FROM (SELECT *, row_number() OVER (PARTITION BY kind ORDER BY key::text)
                         AS n
                  FROM ({diff_sql}) AS d) AS numbered
            GROUP BY kind""", {"shown": shown, "pending": pending or []}).fetchall()
    total = conn.execute(f"SELECT count(*) FROM {live}").fetchone()
    diff = TableDiff({str(row[0]): int(row[1]) for row in found},
                     {str(row[0]): [k[0] if len(k) == 1 else k for k in row[2] or []]
                      for row in found},
                     sorted({column for row in found
                             for column, differs in zip(columns, row[3:], strict=True)
                             if differs}))
    return int(total[0]) if total else 0, diff


def _row(values: list[str]) -> str:
    """A row of `_values` as text."""
    return "ROW(" + ", ".join(values) + ")::text"


def _values(alias: str, columns: list[str], personal: PersonalColumns | None) -> list[str]:
    """The columns of `alias` as compared; with `personal`, its personal columns blanked where
    the row's customer is one of `%(pending)s`."""
    values = []
    for column in columns:
        value = f'{alias}."{column}"'
        if personal is not None and column in personal.blanked:
            blank = personal.blanked[column].replace("{c}", value)
            value = (f'CASE WHEN {alias}."{personal.customer}" = ANY(%(pending)s::uuid[]) '
                     f"THEN {blank} ELSE {value} END")
        values.append(value)
    return values


def _position(pool: ConnectionPool, name: str) -> int:
    with pool.connection() as conn:
        found = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                             (name,)).fetchone()
    return int(found[0]) if found else 0
