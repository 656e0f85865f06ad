"""Events whose fields DuckDB reads as columns for the Python fold.

The line events of a work order are the most numerous the Python handlers fold (a line added,
authorized, supplied, issued; a job completed). Their handlers read a few scalar fields, so
instead of decoding each whole state (`orjson`, an `Event`, its values made one by one) the
fields are read by DuckDB from the batch's stored states (the set-based events' Arrow table,
`batch_events`), fetched as Arrow columns, and made values column by column: one statement per
kind and batch. Each kind lists what its handler reads; an attribute it does not list is not
there (AttributeError), so a handler that starts reading more fails its tests until it is
listed here. A decimal is read wrapped (`{"_type_": "decimal_str", "_data_": …}`) or bare.

Like the set-based events, these are decoded in Python instead when a state of the batch needs
the mapper (`analytics.events.EventSource`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

AT = "audit._data_.at"


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _text(value: str | None) -> str | None:
    return value


# how a field's text becomes its value, and which paths are read for it (a decimal: wrapped,
# else bare)
KINDS: dict[str, tuple[Callable[[str | None], Any], bool]] = {
    "text": (_text, False), "int": (_int, False), "decimal": (_decimal, True),
    "instant": (_instant, False)}


class Audit:
    """The audit fields a columnar event's handler reads."""

    __slots__ = ("at",)

    def __init__(self, at: datetime | None) -> None:
        self.at = at


class ColumnEvent:
    """One event read as columns: position, stream, name and the fields its handler reads."""

    aggregate = "WorkOrder"

    def __init__(self, notification_id: int, originator_id: str, qualname: str,
                 values: dict[str, Any]) -> None:
        self.notification_id = notification_id
        self.originator_id = originator_id
        self.qualname = qualname
        self.__dict__.update(values)


# Field = (attribute path as the handler reads it, kind); "line.gross" is `e.line["gross"]`,
# "audit.at" is `e.audit.at`
Field = tuple[str, str]
LINE = [("line.line_id", "text"), ("line.job_no", "int"), ("line.kind", "text"),
        ("line.pay_type", "text"), ("line.status", "text"), ("line.op_code", "text"),
        ("line.part_number", "text"), ("line.supply", "text"), ("line.gross", "decimal"),
        ("line.hours", "decimal"), ("line.unit_price", "decimal"), ("line.vat", "decimal"),
        ("line.vat_rate", "decimal"), ("line.qty", "decimal")]
FIELDS: dict[str, list[Field]] = {
    "WorkOrder.LineAdded": [("audit.at", "instant"), *LINE],
    "WorkOrder.LineAuthorized": [("audit.at", "instant"), ("line_id", "text"),
                                 ("decision", "text")],
    "WorkOrder.JobCompleted": [("audit.at", "instant"), ("job_no", "int")],
    "WorkOrder.PartSupply": [("line_id", "text"), ("supply", "text")],
    "WorkOrder.PartsIssued": [("line_id", "text"), ("qty", "decimal"), ("cost", "decimal")],
    "WorkOrder.PartsReturned": [("line_id", "text"), ("qty", "decimal"), ("cost", "decimal")],
}
COLUMNAR = tuple(sorted(FIELDS))


# every field of every kind once, in one statement's columns: (name, kind)
ALL: list[Field] = list(dict.fromkeys(f for fields in FIELDS.values() for f in fields))


def _statement() -> str:
    """One statement for the batch's columnar events of every kind (each statement of a
    batch costs a few milliseconds whatever its rows), in log order."""
    paths, columns = [], []
    for name, kind in ALL:
        path = AT if name == "audit.at" else name
        if KINDS[kind][1]:  # a decimal: wrapped, else bare
            paths += [f"$.{path}._data_", f"$.{path}"]
            columns.append(f"coalesce(f[{len(paths) - 1}], f[{len(paths)}])")
        else:
            paths.append(f"$.{path}")
            columns.append(f"f[{len(paths)}]")
    listed = ", ".join(f"'{p}'" for p in paths)
    kinds = ", ".join(f"'{q}'" for q in COLUMNAR)
    return (f"SELECT notification_id, originator_id, qualname, {', '.join(columns)} "
            f"FROM (SELECT notification_id, originator_id, qualname, "
            f"json_extract_string(state, [{listed}]) AS f "
            f"FROM batch_events WHERE qualname IN ({kinds}))")


STATEMENT = _statement()


def _groups(fields: Sequence[Field]) -> list[tuple[str, tuple[str, ...] | None, list[int]]]:
    """A kind's attributes: the name, its keys (None: a scalar) and the columns (of ALL)."""
    groups: list[tuple[str, tuple[str, ...] | None, list[int]]] = []
    for field in fields:
        outer, _, inner = field[0].partition(".")
        column = ALL.index(field)
        if groups and inner and groups[-1][0] == outer and groups[-1][1] is not None:
            attribute, keys, columns = groups[-1]
            groups[-1] = (attribute, (*(keys or ()), inner), [*columns, column])
        else:
            groups.append((outer, (inner,) if inner else None, [column]))
    return groups


GROUPS = {q: _groups(f) for q, f in FIELDS.items()}


def read(conn: duckdb.DuckDBPyConnection) -> list[ColumnEvent]:
    """The batch's columnar events (the stored states registered as `batch_events`), in log
    order."""
    table = conn.sql(STATEMENT).to_arrow_table()
    ids, streams, qualnames = (table.column(i).to_pylist() for i in range(3))
    values: list[list[Any]] = []
    for (_, kind), column in zip(ALL, table.columns[3:], strict=True):
        convert = KINDS[kind][0]
        texts = column.to_pylist()
        values.append(texts if convert is _text else [None if t is None else convert(t)
                                                      for t in texts])
    rows = list(zip(*values, strict=True)) if values else []
    events = []
    for n, stream, qualname, row in zip(ids, streams, qualnames, rows, strict=True):
        attributes: dict[str, Any] = {}
        for attribute, keys, columns in GROUPS[qualname]:
            attributes[attribute] = (row[columns[0]] if keys is None
                                     else {k: row[c] for k, c in zip(keys, columns)})
        if "audit" in attributes:
            attributes["audit"] = Audit(attributes["audit"]["at"])
        events.append(ColumnEvent(n, stream, qualname, attributes))
    return events
