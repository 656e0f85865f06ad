"""What every read model provides to the batch runner: tables, indexes and `apply`.

Tables are created with a suffix so that a rebuild can fill fresh copies while the live ones
keep serving, then swap them in one transaction. A view whose live tables are not those its
`tables` make now (a column added, a type changed, a table added) is `reshaped`, and one whose
rows an earlier `revision` of its handlers wrote is stale: a start that creates the tables
rebuilds either before serving (servicecore/container.py).
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Self, TypeVar
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import Transcoder
from psycopg.rows import dict_row

REBUILD_SUFFIX = "_rebuild"
# The tables `ReadModel.reshaped` makes to read what the DDL makes now (always rolled back).
SHAPE_SUFFIX = "_shape"
# A runner that moves a projection's position says so on this channel ("<name>:<position>",
# sent when its batch commits): readers waiting for `?wait_for=` wake up without polling.
POSITIONS_CHANNEL = "servicecore_positions"
T = TypeVar("T")
Statement = tuple[str, Sequence[Any]]
Rows = list[dict[str, Any]]
# A query function written once for both kinds of connection: it yields statements, each time
# a list of them that do not depend on each other, and is sent back their rows as dicts, one
# list per statement (sent in one round trip where the connection can pipeline); what it
# returns is the answer (see `read` and `read_async`).
Reading = Generator[list[Statement], list[Rows], T]


class StoredEvent(NamedTuple):
    """An event as the log keeps it: its class and the JSON of its state, for a view that
    reads a few fields of many events (`ReadModel.stored_events`). `state()` parses it without
    decoding (a transcoded value stays `{"_type_": ..., "_data_": ...}`), each time it is
    called: a view that folds event by event lets each state go as soon as it is folded. The
    JSON is that of the class's current version (an older one is upcast first). orjson would
    read an integer beyond 64 bits as a float: no event carries one (every integer a request
    body takes is bounded, tests/e2e/test_api_contract.py)."""

    cls: type
    originator_id: UUID
    originator_version: int
    json: bytes

    def state(self) -> dict[str, Any]:
        try:
            return orjson.loads(self.json)  # type: ignore[no-any-return]
        except orjson.JSONDecodeError:  # what orjson refuses (NaN, Infinity)
            return json.loads(self.json)  # type: ignore[no-any-return]


def stored_event(event: Any, transcoder: Transcoder) -> StoredEvent:
    """A domain event as a `StoredEvent`: its state encoded as the log's mapper encodes it."""
    state = {key: value for key, value in vars(event).items()
             if key not in ("originator_id", "originator_version")}
    return StoredEvent(type(event), event.originator_id, event.originator_version,
                       transcoder.encode(state))


@dataclass(frozen=True)
class Partition:
    """One of `count` hash partitions of the event streams: the streams whose id's last byte,
    modulo `count`, is `index` (a view's rebuild may fill its tables one partition per
    process: `ReadModel.partitioned_rebuild`)."""

    index: int
    count: int

    def holds(self, stream_id: UUID) -> bool:
        return (stream_id.int & 0xFF) % self.count == self.index

    def sql(self, column: str) -> str:
        """The same test on a uuid column, in SQL."""
        return f"mod(get_byte(uuid_send({column}), 15), {int(self.count)}) = {int(self.index)}"


@dataclass(frozen=True)
class Index:
    table: str
    name: str
    definition: str  # e.g. "(store_id, status)" or "USING gin (technicians)"
    extension: str | None = None  # made only where the database has it (e.g. pg_trgm)


@dataclass(frozen=True)
class PersonalColumns:
    """The columns of a read-model table that hold a customer's personal data opened with
    their key, and the column naming that customer. Between a customer's erasure (the key
    deleted) and the view applying it, a live row still shows what was opened with the key and
    a rebuild can no longer open it: `audit views` compares these columns of that customer's
    rows blanked on both sides (`blanked`: column -> the SQL of the blanked value, `{c}` the
    column), every other column as it is."""

    customer: str
    blanked: Mapping[str, str]


def table_shapes(conn: psycopg.Connection[Any], tables: Sequence[str]) -> dict[str, list[str]]:
    """The shape of each of `tables` that exists (found as the connection's queries find it):
    its columns in order with their types and NOT NULL, then its constraints (primary key,
    unique, check); a table that does not exist is left out."""
    found = conn.execute(
        """SELECT c.relname,
                  ARRAY(SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                               || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                        FROM pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                        ORDER BY a.attnum)
                  || ARRAY(SELECT k.contype::text || ' ' || pg_get_constraintdef(k.oid)
                           FROM pg_constraint k WHERE k.conrelid = c.oid ORDER BY 1)
           FROM pg_class c
           WHERE c.oid = ANY(ARRAY(SELECT to_regclass(t) FROM unnest(%s::text[]) AS t))""",
        (list(tables),)).fetchall()
    return {str(name): list(shape) for name, shape in found}


def installed_extensions(conn: psycopg.Connection[Any]) -> frozenset[str]:
    return frozenset(str(r[0]) for r in conn.execute("SELECT extname FROM pg_extension"))


def lz4_available(conn: psycopg.Connection[Any]) -> bool:
    """Was the server built with lz4 (a value of `default_toast_compression`, PostgreSQL 14+)?"""
    row = conn.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                       "WHERE name = 'default_toast_compression'").fetchone()
    return bool(row and row[0])


class ReadModel(ABC):
    """A projection of the event log into tables it alone writes."""

    name: str
    tables: dict[str, str]  # table name -> column definitions
    # Bump when what the handlers write changes (an event newly folded, a value computed
    # otherwise) though the tables do not: the first start of that version rebuilds the view.
    revision: int = 1
    indexes: Sequence[Index] = ()
    # The event classes `apply` looks at; the runner decodes only those (None: every event).
    handles: tuple[type, ...] | None = None
    # A rebuild fills the fresh tables first and creates `indexes` afterwards (in one pass
    # each, not row by row): for views whose `apply` reads by primary key only.
    index_after_rebuild: bool = False
    # The runner sends `apply`'s statements in pipeline mode (no round trip per statement;
    # a read still waits for its answer): for views that use no COPY.
    pipelined: bool = False
    # `apply` gets `StoredEvent`s instead of domain events: no event objects are built.
    stored_events: bool = False
    # Columns (table -> names) compressed with lz4 instead of pglz where the server has it
    # (about 30 % less database CPU to write a 2 kB jsonb doc, less to read it); set when a
    # table is made, never on a table that exists (that would lock it).
    lz4_columns: Mapping[str, tuple[str, ...]] = {}
    # A rebuild may fill the tables in hash partitions of the stream id, each in a process of
    # its own (workers/rebuild_partitions.py): for views whose every row is folded from the
    # events of one stream, except events of the `broadcast` classes (another stream's, such
    # as a customer's erasure), which every partition applies, to its own rows only
    # (`partition`, set on the copy `in_partition` makes).
    partitioned_rebuild: bool = False
    broadcast: tuple[type, ...] = ()
    partition: Partition | None = None
    # Per table, the columns of a customer's personal data (see `PersonalColumns`); a view
    # that has them handles `Customer.Erased`, which scrubs them.
    personal_columns: Mapping[str, PersonalColumns] = {}
    # Columns (table, definition) added to `tables` since they were first made: `create` adds
    # them to tables made before them (the definition's default must be right for the rows
    # there, or the view's `revision` goes up with them).
    added_columns: Sequence[tuple[str, str]] = ()

    def in_partition(self, partition: Partition) -> Self:
        """This view writing the rows of one partition's streams only."""
        view = copy.copy(self)
        view.partition = partition
        return view

    def ddl(self, suffix: str = "", extensions: frozenset[str] = frozenset(), *,
            indexes: bool = True) -> list[str]:
        statements = [
            f"CREATE TABLE IF NOT EXISTS {table}{suffix} ({columns})"
            for table, columns in self.tables.items()
        ]
        return statements + (self.index_ddl(suffix, extensions) if indexes else [])

    def index_ddl(self, suffix: str = "", extensions: frozenset[str] = frozenset()) -> list[str]:
        """The indexes' DDL; an index that needs an extension only where it is installed."""
        return [
            f"CREATE INDEX IF NOT EXISTS {ix.name}{suffix} ON {ix.table}{suffix} {ix.definition}"
            for ix in self.indexes if ix.extension is None or ix.extension in extensions
        ]

    def drop(self, suffix: str) -> list[str]:
        return [f"DROP TABLE IF EXISTS {table}{suffix}" for table in self.tables]

    def swap(self, suffix: str) -> list[str]:
        """Replace the live tables by the `suffix` ones (run inside one transaction)."""
        statements = self.drop("")
        statements += [f"ALTER TABLE {t}{suffix} RENAME TO {t}" for t in self.tables]
        statements += [f"ALTER INDEX IF EXISTS {ix.name}{suffix} RENAME TO {ix.name}"
                       for ix in self.indexes]
        return statements

    def create(self, conn: psycopg.Connection[Any], suffix: str = "", *,
               indexes: bool = True) -> None:
        new = [table for table in self.lz4_columns
               if conn.execute("SELECT to_regclass(%s)", (table + suffix,)).fetchone() == (None,)]
        for statement in self.ddl(suffix, indexes=False):
            conn.execute(statement)
        self._add_columns(conn, suffix)
        for statement in self.index_ddl(suffix, installed_extensions(conn)) if indexes else ():
            conn.execute(statement)
        if new and lz4_available(conn):  # a table just made: no one else holds or reads it
            for table in new:
                for column in self.lz4_columns[table]:
                    conn.execute(f"ALTER TABLE {table}{suffix} ALTER COLUMN {column} "
                                 "SET COMPRESSION lz4")

    def _add_columns(self, conn: psycopg.Connection[Any], suffix: str) -> None:
        """The `added_columns` a table made before them lacks (before the indexes, which may
        name them); only a table that lacks the column is altered (an ALTER TABLE would wait
        for, and then hold up, every reader of the table even where the column is there)."""
        if not self.added_columns:
            return
        found = set(conn.execute(
            """SELECT table_name, column_name FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = ANY(%s)""",
            ([table + suffix for table, _ in self.added_columns],)).fetchall())
        for table, column in self.added_columns:
            if (table + suffix, column.split()[0]) not in found:
                conn.execute(f"ALTER TABLE {table}{suffix} ADD COLUMN IF NOT EXISTS {column}")

    def definition(self) -> str:
        """What the tables are made of, as text (`create_views` records it: a start that finds
        it unchanged compares nothing)."""
        return ";\n".join(self.ddl(indexes=False))

    def missing_tables(self, conn: psycopg.Connection[Any]) -> list[str]:
        """The tables that do not exist beside ones that do (as after a version that added a
        table): `create` would make them empty beside filled ones. Empty when all or none
        exist."""
        live = table_shapes(conn, list(self.tables))
        return [table for table in self.tables if table not in live] if live else []

    def reshaped(self, conn: psycopg.Connection[Any]) -> list[str]:
        """The live tables that are not what `tables` make now (missing among ones that exist,
        or another shape: columns, their types and NOT NULL, constraints): the view needs a
        rebuild. Empty when they match, or when none exists (a fresh database)."""
        live = table_shapes(conn, list(self.tables))
        if not live:
            return []
        with conn.transaction(force_rollback=True):
            for statement in self.ddl(SHAPE_SUFFIX, indexes=False):
                conn.execute(statement)
            wanted = table_shapes(conn, [table + SHAPE_SUFFIX for table in self.tables])
        return [table for table in self.tables if live.get(table) != wanted[table + SHAPE_SUFFIX]]

    @abstractmethod
    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        """Apply a batch of (notification id, domain event or `StoredEvent`) inside the
        caller's transaction."""


def like_literal(text: str) -> str:
    """`text` for a LIKE pattern, matched as written: its `%`, `_` and `\\` are not wildcards
    (PostgreSQL's LIKE escapes with a backslash by default)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def rows(conn: psycopg.Connection[Any], sql: str, params: Any) -> list[dict[str, Any]]:
    """A query's rows as dicts (what every read model's query functions answer with)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def read(conn: psycopg.Connection[Any], reading: Reading[T]) -> T:
    """Run a `Reading` on a (pooled, autocommit) connection."""
    try:
        statements = next(reading)
        while True:
            statements = reading.send([rows(conn, sql, params) for sql, params in statements])
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def read_async(conn: psycopg.AsyncConnection[Any], reading: Reading[T]) -> T:
    """Run a `Reading` on an asyncio connection: no thread is held while the server answers,
    and the statements of one step go out together (pipeline mode: one round trip)."""
    try:
        statements = next(reading)
        while True:
            cursors = [conn.cursor(row_factory=dict_row) for _ in statements]
            try:
                if len(statements) == 1:
                    await cursors[0].execute(*statements[0])
                else:
                    async with conn.pipeline():
                        for cur, (sql, params) in zip(cursors, statements, strict=True):
                            await cur.execute(sql, params)
                found = [await cur.fetchall() for cur in cursors]
            finally:
                for cur in cursors:
                    await cur.close()
            statements = reading.send(found)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def store_scope(stores: Sequence[str], column: str = "store_id") -> tuple[str, list[Any]]:
    """The WHERE clause limiting a read to the caller's stores ("*": all of them)."""
    if "*" in stores:
        return "TRUE", []
    return f"{column} = ANY(%s)", [list(stores)]


def page(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any], *, order_by: str,
         limit: int | None, offset: int) -> dict[str, Any]:
    """One page of a query's rows, and how many rows the query has in all: the shape every
    list endpoint answers with (`{total, limit, offset, items}`). No limit: every row (for a
    command that acts on what the read model proposes)."""
    total = rows(conn, f"SELECT count(*) AS n FROM ({sql}) AS listed", params)[0]["n"]
    items = rows(conn, f"{sql} ORDER BY {order_by} LIMIT %s OFFSET %s", [*params, limit, offset])
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def page_of(items: Sequence[Any], *, limit: int, offset: int) -> dict[str, Any]:
    """The same page shape over a list already in memory (a stream's history, a report)."""
    return {"total": len(items), "limit": limit, "offset": offset,
            "items": list(items[offset:offset + limit])}
