"""The stock movements' entries in the finance view, derived from the stock events.

Each stock event that moves value holds its figures (quantities, lot costs, the movement's own
cost), so its entry is made here with `domain.ledger.stock_movement` rather than carried in
the event: a rebuild books the whole stock history, events stored before the entries existed
included. Parts inventory (1405) holds each stock item's lot value rounded to the fen, so the
view keeps every item's exact lot value (`stock_book`) and books the change of its rounded
value; summed per store it is the stock valuation's `fifo_value`.

Stock events are the log's most numerous: a batch's are folded in memory (the items' values
loaded with one statement, written back and journalled with one `executemany` each).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain.ledger import ZERO, entry, signed, stock_movement
from domain.money import round_money
from domain.stock import StockItem

STOCK_EVENTS = (StockItem.Received, StockItem.Issued, StockItem.ReturnedFromJob,
                StockItem.Scrapped, StockItem.VariancePosted, StockItem.TransferredOut,
                StockItem.TransferredIn, StockItem.ReturnedToSupplier)
TABLE = "stock_book"
COLUMNS = "id uuid PRIMARY KEY, store_id text NOT NULL, value numeric NOT NULL"


def _value(lines: Sequence[dict[str, Any]]) -> Decimal:
    return sum((ln["qty"] * ln["unit_cost"] for ln in lines), ZERO)


def movement(event: Any) -> tuple[str, Decimal, Decimal | None, str]:
    """(kind, exact change of the item's lot value, the movement's own amount in the same
    direction or None where it is the booked change itself, memo)."""
    match event:
        case StockItem.Received():
            value = event.qty * event.unit_cost
            return ("receipt", value, round_money(value),
                    f"receipt of lot {event.lot_id} from {event.supplier} ({event.supplier_doc})")
        case StockItem.ReturnedToSupplier():
            return ("return_to_supplier", -event.qty * event.unit_cost, -event.cost,
                    f"return of lot {event.lot_id} to {event.supplier} ({event.reference})")
        case StockItem.Issued():
            return ("issue", -_value(event.picks), -event.cost, f"issue to {event.key}")
        case StockItem.ReturnedFromJob():
            return ("return_from_job", _value(event.picks), event.cost,
                    f"return from {event.key}")
        case StockItem.Scrapped():
            return ("scrap", -_value(event.picks), None, f"scrap {event.request_id}")
        case StockItem.VariancePosted():
            return ("stocktake", _value(event.adjustments), None,
                    f"stocktake {event.count_id} difference")
        case StockItem.TransferredOut():
            return ("transfer_out", -_value(event.picks), -event.cost,
                    f"transfer {event.transfer_id} out to {event.to_store}")
        case StockItem.TransferredIn():
            return ("transfer_in", _value(event.lots), event.cost,
                    f"transfer {event.transfer_id} in from {event.from_store}")
    raise TypeError(type(event))


class StockBooks:
    """One batch's stock entries: the items' exact values, and the journal rows to write."""

    def __init__(self, conn: psycopg.Connection[Any], suffix: str,
                 events: Sequence[tuple[int, Any]]) -> None:
        self.conn = conn
        self.suffix = suffix
        ids = list({e.originator_id for _, e in events if isinstance(e, STOCK_EVENTS)})
        found = conn.execute(f"SELECT id, store_id, value FROM {TABLE}{suffix} WHERE id = ANY(%s)",
                             (ids,)).fetchall() if ids else []
        self.values: dict[UUID, tuple[str, Decimal]] = {r[0]: (r[1], r[2]) for r in found}
        self.changed: set[UUID] = set()
        self.rows: list[tuple[Any, ...]] = []

    def book(self, notification_id: int, event: Any, day: date) -> None:
        kind, change, own, memo = movement(event)
        store_id = event.audit.store_id
        before = self.values.get(event.originator_id, (store_id, ZERO))[1]
        after = before + change
        self.values[event.originator_id] = (store_id, after)
        self.changed.add(event.originator_id)
        booked = round_money(after) - round_money(before)
        entries = [(store_id, e) for e in stock_movement(
            kind, booked, booked if own is None else own, memo)]
        if isinstance(event, StockItem.TransferredIn) and event.cost:
            # the sender's transit clears into what the receiver now owes it
            entries.append((event.from_store, entry(memo, [signed("1221", event.cost),
                                                           signed("1406", -event.cost)])))
        for entry_no, (store, made) in enumerate(entries):
            for line_no, p in enumerate(made["postings"]):
                self.rows.append((notification_id, entry_no, line_no, store, day,
                                  day.strftime("%Y-%m"), p["account"], p["debit"],
                                  p["credit"], made["memo"], None))

    def write(self) -> None:
        with self.conn.cursor() as cur:
            if self.rows:
                cur.executemany(f"INSERT INTO journal{self.suffix} VALUES (%s, %s, %s, %s, %s, "
                                "%s, %s, %s, %s, %s, %s)", self.rows)
            if self.changed:
                cur.executemany(
                    f"""INSERT INTO {TABLE}{self.suffix} VALUES (%s, %s, %s)
                        ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value""",
                    [(i, *self.values[i]) for i in self.changed])
