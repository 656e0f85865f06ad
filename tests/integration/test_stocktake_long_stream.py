"""A stocktake naming a lot used up long ago, on a busy part: the database picks out the event
that took the lot in; the count does not decode the item's whole stream.

A part received and issued for years has hundreds of thousands of events; the count of a lot
the item no longer keeps needs one of them (its receipt or transfer in). Decoding the whole
stream took 2 s at 100,000 events, and a command on a busy item that runs into a version
conflict decides again, reading it again.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.common import Audit
from domain.stock import StockItem
from domain.stock_lots import EXHAUSTED_KEPT
from servicecore.container import Container
from tests.unit.support import request

PART = "06L115562"
LOTS = 300  # received and used up one by one: 600 events, the kept lots the last 20


def lot(store_id: str, n: int) -> str:
    return f"{PART}-{n:05d}@{store_id}"


def busy_history(container: Container, store_id: str) -> StockItem:
    """Lot 1 in from another store (650.00), then `LOTS` lots received and used up, then one
    open lot: the stream as years of receipts and issues leave it."""
    app = container.app
    audit = Audit("clerk-1", "parts_clerk", store_id, datetime.now(UTC), "corr-busy")
    item = StockItem(store_id=store_id, part_number=PART, unit="pc", min_stock=Decimal(0),
                     audit=audit)
    item.transfer_in(audit, "TR-1", "S02", [
        {"lot_id": f"{PART}-00007@S02", "qty": Decimal(1), "unit_cost": Decimal("650.00"),
         "supplier": "Mann", "supplier_doc": "DN-S2", "received_at": "2026-04-01T02:00:00+00:00",
         "cert_ref": "CCC-S2"}])
    item.issue(audit, "wo-0:L1", 1)
    for n in range(LOTS):
        item.receive(audit, qty=1, unit_cost=f"{40 + n % 7}.00", supplier="Mann",
                     supplier_doc=f"DN-{n}")
        item.issue(audit, f"wo-{n + 1}:L1", 1)
        if n % 100 == 99:
            app.save(item)
    item.receive(audit, qty=3, unit_cost="50.00", supplier="Mann", supplier_doc="DN-new")
    app.save(item)
    assert LOTS > EXHAUSTED_KEPT + 10
    return item


def decoding(container: Container) -> Counter[str]:
    """Counts the events the application decodes from stored rows, by type."""
    mapper = container.app.mapper
    plain = mapper.to_domain_event
    seen: Counter[str] = Counter()

    def to_domain_event(stored: Any) -> Any:
        event = plain(stored)
        seen[type(event).__qualname__] += 1
        return event

    mapper.to_domain_event = to_domain_event  # type: ignore[method-assign,assignment]
    return seen


def test_a_count_of_an_old_lot_decodes_the_events_that_took_it_in_not_the_stream(
        container: Container, store_id: str) -> None:
    busy_history(container, store_id)
    inventory = container.inventory
    clerk = request("parts_clerk", "clerk-1", stores=(store_id,))
    # the item is loaded once (from its snapshot) before the count is watched
    inventory.count(clerk, store_id, PART, counted={lot(store_id, LOTS + 2): "3"}, reason=None)
    seen = decoding(container)
    # two lots of long ago at once: the first, transferred in, and one received just before
    # the lots the item keeps (its receipt 540 events into the stream)
    old = lot(store_id, LOTS - 30)
    done = inventory.count(clerk, store_id, PART, counted={old: "1", lot(store_id, 1): "1"},
                           reason="returned units found behind the shelf")
    assert done.body["status"] == "awaiting_approval", done.body  # 650 + 42 above the threshold
    assert done.body["value"] == "692.00"
    # The receipt and the transfer in were decoded; not the 600 events between.
    assert seen["StockItem.Issued"] == 0, seen
    assert seen["StockItem.Received"] + seen["StockItem.TransferredIn"] <= 4, seen
    item: Any = container.app.repository.get(StockItem.create_id(store_id, PART))
    counted = next(e for e in reversed(list(container.app.events.get(item.id)))
                   if isinstance(e, StockItem.Counted))
    records = {line["lot_id"]: line["record"] for line in counted.lines}
    assert (records[old]["supplier_doc"], records[old]["unit_cost"]) == (
        f"DN-{LOTS - 32}", Decimal("42.00"))
    assert (records[lot(store_id, 1)]["origin_lot"], records[lot(store_id, 1)]["unit_cost"]) \
        == (f"{PART}-00007@S02", Decimal("650.00"))

