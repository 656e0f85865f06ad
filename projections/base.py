"""What every read model provides to the batch runner: tables, indexes and `apply`.

Tables are created with a suffix so that a rebuild can fill fresh copies while the live ones
keep serving, then swap them in one transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

REBUILD_SUFFIX = "_rebuild"


@dataclass(frozen=True)
class Index:
    table: str
    name: str
    definition: str  # e.g. "(store_id, status)" or "USING gin (technicians)"


class ReadModel(ABC):
    """A projection of the event log into tables it alone writes."""

    name: str
    tables: dict[str, str]  # table name -> column definitions
    indexes: Sequence[Index] = ()
    # The event classes `apply` looks at; the runner decodes only those (None: every event).
    handles: tuple[type, ...] | None = None
    # A rebuild fills the fresh tables first and creates `indexes` afterwards (in one pass
    # each, not row by row): for views whose `apply` reads by primary key only.
    index_after_rebuild: bool = False
    # The runner sends `apply`'s statements in pipeline mode (no round trip per statement;
    # a read still waits for its answer): for views that use no COPY.
    pipelined: bool = False

    def ddl(self, suffix: str = "", *, indexes: bool = True) -> list[str]:
        statements = [
            f"CREATE TABLE IF NOT EXISTS {table}{suffix} ({columns})"
            for table, columns in self.tables.items()
        ]
        return statements + (self.index_ddl(suffix) if indexes else [])

    def index_ddl(self, suffix: str = "") -> list[str]:
        return [
            f"CREATE INDEX IF NOT EXISTS {ix.name}{suffix} ON {ix.table}{suffix} {ix.definition}"
            for ix in self.indexes
        ]

    def drop(self, suffix: str) -> list[str]:
        return [f"DROP TABLE IF EXISTS {table}{suffix}" for table in self.tables]

    def swap(self, suffix: str) -> list[str]:
        """Replace the live tables by the `suffix` ones (run inside one transaction)."""
        statements = self.drop("")
        statements += [f"ALTER TABLE {t}{suffix} RENAME TO {t}" for t in self.tables]
        statements += [f"ALTER INDEX {ix.name}{suffix} RENAME TO {ix.name}" for ix in self.indexes]
        return statements

    def create(self, conn: psycopg.Connection[Any], suffix: str = "", *,
               indexes: bool = True) -> None:
        for statement in self.ddl(suffix, indexes=indexes):
            conn.execute(statement)

    @abstractmethod
    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        """Apply a batch of (notification id, domain event) inside the caller's transaction."""


def rows(conn: psycopg.Connection[Any], sql: str, params: Any) -> list[dict[str, Any]]:
    """A query's rows as dicts (what every read model's query functions answer with)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


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
