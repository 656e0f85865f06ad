"""One batch folded in memory (`Fold`) and the registry of its handlers by kind of event."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa

from analytics.schema import BY_NAME, TABLES

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _arrow_type(sql_type: str) -> pa.DataType:
    if sql_type.startswith("DECIMAL"):
        precision, scale = (int(x) for x in sql_type[8:-1].split(","))
        return pa.decimal128(precision, scale)
    return {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
            "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "DATE": pa.date32(),
            "BOOLEAN": pa.bool_()}[sql_type]


SCHEMAS = {t.name: pa.schema([(c, _arrow_type(ty)) for c, ty in t.columns]) for t in TABLES}
COLUMNS = {t.name: tuple(t.column_names) for t in TABLES}
EMPTY = {t.name: dict.fromkeys(t.column_names) for t in TABLES}  # a row of NULLs, copied by put
# what `Fold` reads of a row: instants as naive UTC (DuckDB makes a zone-aware datetime of a
# TIMESTAMPTZ at three times the cost; Arrow writes a naive one back as UTC)
SELECTED = {t.name: ", ".join(f"timezone('UTC', {c})" if ty == "TIMESTAMPTZ" else c
                              for c, ty in t.columns) for t in TABLES}


@dataclass
class Fold:
    """One batch: keyed rows (fetched once) and new rows of growing facts.

    `preload` fetches every row of a table whose first key column has one of the given values
    and remembers the values, so that a row it did not find is known to be absent without
    asking DuckDB again; rows are indexed by their first key column for `where`.
    """

    conn: duckdb.DuckDBPyConnection
    # by table (defaultdicts: `setdefault` would make an empty one on every call)
    rows: defaultdict[str, dict[tuple[Any, ...], dict[str, Any] | None]] = field(
        default_factory=lambda: defaultdict(dict))
    by_first: defaultdict[str, defaultdict[Any, set[tuple[Any, ...]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    loaded: defaultdict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))
    absent: defaultdict[str, set[tuple[Any, ...]]] = field(  # not in DuckDB
        default_factory=lambda: defaultdict(set))
    changed: defaultdict[str, set[tuple[Any, ...]]] = field(
        default_factory=lambda: defaultdict(set))
    appends: defaultdict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list))
    seqs: dict[int, int] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # refunded: method, bill
    # appointment id: the online booking request confirmed into it (its arrival finds the row)
    booked_from: dict[str, str] = field(default_factory=dict)
    current: int = 0  # the notification id of the event being applied
    zone: ZoneInfo = SHANGHAI

    def seq(self, notification_id: int) -> int:
        """0, 1, 2 … for the rows one event adds to a growing fact."""
        self.seqs[notification_id] = self.seqs.get(notification_id, -1) + 1
        return self.seqs[notification_id]

    def _remember(self, table: str, key: tuple[Any, ...], row: dict[str, Any] | None) -> None:
        self.rows[table][key] = row
        if row is not None:
            self.by_first[table][key[0]].add(key)

    def preload(self, table: str, values: Iterable[Any]) -> None:
        """Every row whose first key column is one of `values` (one query)."""
        spec = BY_NAME[table]
        loaded = self.loaded[table]
        wanted = sorted({v for v in values if v is not None} - loaded)
        if not wanted:
            return
        first = spec.key[0]
        found = self.conn.execute(
            f"SELECT {SELECTED[table]} FROM {table} WHERE {first} IN "
            f"(SELECT unnest(?::VARCHAR[]))", [wanted]).fetchall()
        cache = self.rows[table]
        names = COLUMNS[table]
        for values_row in found:
            row = dict(zip(names, values_row, strict=True))
            key = tuple(row[k] for k in spec.key)
            if key not in cache:  # a row this batch already holds is newer
                self._remember(table, key, row)
        loaded.update(wanted)

    def get(self, table: str, *key: Any) -> dict[str, Any] | None:
        cache = self.rows[table]
        if key not in cache:
            if key[0] in self.loaded.get(table, ()):
                self.absent[table].add(key)
                return None  # preloaded: not there
            spec = BY_NAME[table]
            where = " AND ".join(f"{k} = ?" for k in spec.key)
            # fetchall, not fetchone: an unfinished result keeps the connection busy
            found = self.conn.execute(
                f"SELECT {SELECTED[table]} FROM {table} WHERE {where}", list(key)).fetchall()
            self._remember(table, key, dict(zip(spec.column_names, found[0], strict=True))
                           if found else None)
            if not found:
                self.absent[table].add(key)
        return cache[key]

    def put(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        spec = BY_NAME[table]
        empty = EMPTY[table]
        full = empty.copy()  # the columns in order, NULL unless the row says otherwise
        full.update(row)
        if len(full) != len(empty):  # keys that are no column are left out
            full = {c: full[c] for c in COLUMNS[table]}
        key = tuple(full[k] for k in spec.key)
        cache = self.rows[table]
        if (cache[key] is None) if key in cache else key[0] in self.loaded.get(table, ()):
            self.absent[table].add(key)  # a new row: nothing to delete
        self._remember(table, key, full)
        self._changed(table, key, full)
        return full

    def _changed(self, table: str, key: tuple[Any, ...], row: dict[str, Any]) -> None:
        self.changed[table].add(key)
        row["last_notification_id"] = self.current

    def touch(self, table: str, *key: Any) -> dict[str, Any] | None:
        """The row, marked as changed (callers update it in place)."""
        row = self.get(table, *key)
        if row is not None:
            self._changed(table, key, row)
        return row

    def where(self, table: str, first: Any, **match: Any) -> list[dict[str, Any]]:
        """Cached rows of a keyed table whose first key column is `first` and that match the
        given values (after a preload of `first`)."""
        found = []
        cache = self.rows[table]
        for key in self.by_first.get(table, {}).get(first, ()):
            row = cache[key]
            if row is not None and all(row[k] == v for k, v in match.items()):
                self._changed(table, key, row)
                found.append(row)
        return found

    def append(self, table: str, row: dict[str, Any]) -> None:
        self.appends[table].append(row)

    def write(self) -> None:
        for table, keys in self.changed.items():
            spec, cache = BY_NAME[table], self.rows[table]
            rows = [row for k in keys if (row := cache.get(k)) is not None]
            if not rows:
                continue
            arrow = pa.Table.from_pylist(rows, schema=SCHEMAS[table])
            self.conn.register("batch_rows", arrow)
            if not keys <= self.absent[table]:  # rows of earlier batches change
                match = " AND ".join(f"t.{k} = b.{k}" for k in spec.key)
                self.conn.execute(f"DELETE FROM {table} t WHERE EXISTS "
                                  f"(SELECT 1 FROM batch_rows b WHERE {match})")
            self.conn.execute(f"INSERT INTO {table} SELECT * FROM batch_rows")
            self.conn.unregister("batch_rows")
        for table, added in self.appends.items():
            if added:
                self.conn.register("batch_rows",
                                   pa.Table.from_pylist(added, schema=SCHEMAS[table]))
                self.conn.execute(f"INSERT INTO {table} SELECT * FROM batch_rows")
                self.conn.unregister("batch_rows")


Handler = Callable[[Fold, Any, int], None]
HANDLERS: dict[str, Handler] = {}  # by the event's qualified name, e.g. WorkOrder.Opened
IGNORED: set[str] = set()  # known, and left out on purpose


def on(*classes: type) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for cls in classes:
            HANDLERS[cls.__qualname__] = handler
        return handler

    return register


def ignore(*classes: type) -> None:
    """Events the analytic tables deliberately leave out: like those of areas without a
    handler, their state is not even fetched (the position moves past them)."""
    IGNORED.update(cls.__qualname__ for cls in classes)


def on_name(*qualnames: str) -> Callable[[Handler], Handler]:
    """For event classes that another area may not have yet (matched by qualified name)."""

    def register(handler: Handler) -> Handler:
        for name in qualnames:
            HANDLERS[name] = handler
        return handler

    return register
