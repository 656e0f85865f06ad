"""Helpers shared by the test_parts_* integration tests (this module holds no tests itself).

Parts, stock, work orders with part lines, a second ServiceCore process on the same database,
waiting for the stock projection, and comparing the stock read model with the aggregates.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.application import Request
from domain.common import Caller
from domain.stock import StockItem
from domain.transfers_coming import TransfersComing, coming_stream
from domain.work_order import WorkOrder
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.integration.support import head, load, open_order

STOCK_EVENTS = "domain.stock:StockItem."


def req(store_id: str, role: str = "parts_clerk", user: str | None = None, *,
        stores: tuple[str, ...] | None = None) -> Request:
    """A domain request as the API would build it."""
    caller = Caller(user or f"{role}-1", role, stores or (store_id,), datetime.now(UTC),
                    str(uuid4()))
    return Request(caller)


def second_process(database_url: str, tmp: Path) -> Container:
    """Another ServiceCore on the same database (like a second API process), no projections."""
    return build(settings_for(database_url, tmp, create_tables=False))


def new_part(container: Container, store_id: str, *, min_stock: object = 0,
             reorder_qty: object = 0, price: str = "100.00", number: str | None = None,
             unit: str = "set") -> str:
    """A part number of its own in the (global) part master (in sets unless told: a part
    measured in litres moves in fractions)."""
    number = number or "P" + uuid.uuid4().hex[:12].upper()
    container.inventory.register_part(
        req(store_id, "manager"), part_number=number,
        details={"name": "brake pads", "unit": unit, "category": "brake",
                 "min_stock": min_stock, "reorder_qty": reorder_qty,
                 "preferred_supplier": "FAW-VW Parts"},
        list_price=price)
    return number


def receive(container: Container, store_id: str, part_number: str, qty: object,
            unit_cost: str = "10.00", doc: str | None = None) -> dict[str, Any]:
    result = container.inventory.receive(
        req(store_id), store_id, part_number, qty=qty, unit_cost=unit_cost,
        supplier="FAW-VW Parts", supplier_doc=doc or f"DN-{uuid4().hex[:8]}")
    return {**result.body, "notification_id": result.notification_id}


def work_order(container: Container, store_id: str, lines: list[tuple[str, object]], *,
               approve: bool = True) -> tuple[UUID, list[str]]:
    """A work order with one part line per (part number, qty), approved unless told not to."""
    wos = container.work_orders
    work_order_id = UUID(open_order(wos, store_id)["id"])
    line_ids = []
    for part_number, qty in lines:
        added = wos.add_part_line(req(store_id, "advisor"), work_order_id, 1,
                                  {"part_number": part_number, "qty": str(qty)})
        line_ids.append(added.body["line_id"])
        if approve:
            wos.authorize_line(req(store_id, "advisor"), work_order_id, added.body["line_id"],
                               decision="approved", channel="phone")
    return work_order_id, line_ids


def stock_id(store_id: str, part_number: str) -> UUID:
    return StockItem.create_id(store_id, part_number)


def item_of(container: Container, store_id: str, part_number: str) -> StockItem:
    return load(container.app, StockItem, stock_id(store_id, part_number))


def wo_of(container: Container, work_order_id: UUID) -> WorkOrder:
    return load(container.app, WorkOrder, work_order_id)


def version_of(container: Container, stream_id: UUID) -> int:
    """The stream's stored version, read from the events (0 when it has none)."""
    events = list(container.app.events.get(stream_id, desc=True, limit=1))
    return int(events[0].originator_version) if events else 0


def events_of(container: Container, stream_id: UUID) -> list[Any]:
    return list(container.app.events.get(stream_id))


def named(events: list[Any], name: str) -> list[Any]:
    return [e for e in events if type(e).__name__ == name]


def wait_for_projection(container: Container, name: str = "stock",
                        timeout: float = 30.0) -> int:
    """Poll until the projection's position reaches the log's head; returns that head."""
    target = head(container.app)
    deadline = time.monotonic() + timeout
    while True:
        with container.pool.connection() as conn:
            row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                               (name,)).fetchone()
        if row is not None and int(row[0]) >= target:
            return target
        assert time.monotonic() < deadline, f"projection {name} stuck at {row} < {target}"
        time.sleep(0.05)


def assert_view_matches(container: Container, item: StockItem) -> None:
    """The stock read model (stock row, lots, journal, reservations) equals the aggregate."""
    key = (item.store_id, item.part_number)
    with container.pool.connection() as conn:
        row = conn.execute(
            """SELECT on_hand, reserved, on_hand - reserved, round(value, 2), on_order, alert,
                      version FROM stock WHERE id = %s""", (item.id,)).fetchone()
        lots = dict(conn.execute(
            "SELECT lot_id, on_hand FROM lots WHERE store_id = %s AND part_number = %s",
            key).fetchall())
        journal = conn.execute(
            """SELECT coalesce(sum(qty), 0), coalesce(round(sum(value), 2), 0), count(*)
               FROM stock_movements WHERE store_id = %s AND part_number = %s""",
            key).fetchone()
        per_lot = dict(conn.execute(
            """SELECT lot_id, sum(qty) FROM stock_movements
               WHERE store_id = %s AND part_number = %s GROUP BY lot_id""", key).fetchall())
        reservations = dict(conn.execute(
            """SELECT key, qty FROM stock_reservations
               WHERE store_id = %s AND part_number = %s""", key).fetchall())
    assert row == (item.on_hand, item.reserved_total, item.available, item.fifo_value,
                   item.on_order_total, item.alert_raised, item.version), (row, item.figures())
    assert lots == {lot_id: lot["on_hand"] for lot_id, lot in item.lots.items()}
    assert all(qty >= 0 for qty in lots.values()), lots
    assert journal is not None
    assert journal[0] == item.on_hand and journal[1] == item.fifo_value, (journal, item.on_hand)
    assert {k: v for k, v in per_lot.items() if v != 0} == {
        k: v for k, v in lots.items() if v != 0}
    assert reservations == item.reserved  # a pending scrap's hold included


ZERO = Decimal(0)


def assert_coming_matches(container: Container, to_store: str, part_number: str,
                          accepted: list[dict[str, Any]]) -> None:
    """What is coming to the store (domain/transfers_coming.py) is the accepted transfers
    (`op` "transfer") of the part that no accepted receipt (`op` "receive_transfer") booked in."""
    received = {a["transfer_id"] for a in accepted
                if a["part"] == part_number and a["op"] == "receive_transfer"}
    open_transfers = {str(a["transfer_id"]): a["qty"] for a in accepted
                      if a["part"] == part_number and a["op"] == "transfer"
                      and a["transfer_id"] not in received}
    stream = coming_stream(to_store, part_number)
    app = container.app
    kept = load(app, TransfersComing, stream).coming if stream in app.repository else {}
    assert kept == open_transfers, part_number


@contextmanager
def interfering(monkeypatch: pytest.MonkeyPatch, write: Callable[[int], None],
                times: int = 1, method: str = "issue") -> Iterator[list[int]]:
    """Patch `StockItem.<method>`: on its first `times` calls, another process writes first
    (the save then conflicts and the command is decided again); the item's version at each
    call is recorded."""
    calls: list[int] = []
    original = getattr(StockItem, method)

    def patched(self: StockItem, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.version)
        if len(calls) <= times:
            write(len(calls))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StockItem, method, patched)
    try:
        yield calls
    finally:
        monkeypatch.setattr(StockItem, method, original)
