"""Rows a batch reads and changes, kept in memory and written back in one statement per table.

A view loads the rows its batch will touch in one query per table, folds every event of the
batch into those dicts, and writes the changed ones as one JSON array that PostgreSQL takes
apart (`jsonb_populate_recordset` over the table's own row type): one round trip per table
instead of one or more per event. The values are those a row reads back with (`plain`), so a
batch boundary never changes the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg.rows import dict_row

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
# Up to this many new rows go in as one INSERT (one round trip); more through COPY (two round
# trips, far cheaper per row): a live batch of one receipt writes one row per table.
FEW_ROWS = 20


def _default(value: Any) -> Any:
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value)}")


def to_json(value: Any) -> str:
    return orjson.dumps(value, default=_default, option=_OPTIONS).decode()


def plain(value: Any) -> Any:
    """`value` as a jsonb column gives it back (Decimals and UUIDs as strings, ...)."""
    return orjson.loads(orjson.dumps(value, default=_default, option=_OPTIONS))


def load(conn: psycopg.Connection[Any], table: str, column: str,
         keys: Iterable[Any]) -> list[dict[str, Any]]:
    """Every row of `table` whose `column` is one of `keys` (one query)."""
    wanted = list(set(keys))
    if not wanted:
        return []
    # prepare=False: a generic plan of `= ANY($1)` compares every row with every id
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT * FROM {table} WHERE {column} = ANY(%s)", (wanted,),
                           prepare=False).fetchall()


def upsert(conn: psycopg.Connection[Any], table: str, key: Sequence[str],
           columns: Sequence[str], rows: Iterable[Mapping[str, Any]], *,
           update: bool = True, expressions: Mapping[str, str] | None = None) -> None:
    """Insert `rows` (dicts with every one of `columns`) in one statement; a row whose `key`
    exists replaces the stored one (`update`) or is left out (no `key`: plain inserts).
    `expressions` computes a column from the row (`p.<column>`) on the way in."""
    payload = [{c: row[c] for c in columns} for row in rows]
    if not payload:
        return
    expressions = expressions or {}
    select = ", ".join(expressions.get(c, f"p.{c}") for c in columns)
    action = ("DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in columns
                                           if c not in key)) if update else "DO NOTHING"
    conflict = f"ON CONFLICT ({', '.join(key)}) {action}" if key else ""
    conn.execute(
        f"""INSERT INTO {table} ({', '.join(columns)})
            SELECT {select} FROM jsonb_populate_recordset(NULL::{table}, %s::text::jsonb) AS p
            {conflict}""",
        (to_json(payload),))


def insert_rows(conn: psycopg.Connection[Any], table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Plain inserts of `rows` (tuples in the order of `columns`): a few as one INSERT, more
    through COPY. The same values land either way."""
    if not rows:
        return
    names = ", ".join(columns)
    if len(rows) <= FEW_ROWS:
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        conn.execute(f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(rows))}",
                     [value for row in rows for value in row])
        return
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
