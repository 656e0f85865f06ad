"""A stocktake finds units of a lot the item used up long ago (a returned unit on a shelf).

The item keeps only its last used-up lots; the count takes an older lot's record from the
event that took the lot in (a receipt or a transfer in), books the units into that lot at its
own cost, and the count's line and its variance carry the record: the lot opens again as it
was received, and a replay of the events gives the same item.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.aggregate_loads import replay
from domain.application import ServiceCore
from domain.common import Audit, InvalidInput, NotPermitted
from domain.inventory import Inventory
from domain.stock import StockItem
from domain.stock_lots import EXHAUSTED_KEPT
from tests.unit.support import clerk, request

AUDIT = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, tzinfo=UTC), "corr-1")
PART = "06L115562"


def lot(n: int) -> str:
    return f"{PART}-{n:05d}@S01"


def state(item: StockItem) -> dict[str, Any]:
    return {k: v for k, v in vars(item).items() if k != "_pending_events"}


def used_up_history(app: ServiceCore) -> StockItem:
    """Lot 1 received (40.00, DN-old, CCC-old), lot 2 in from S02 (650.00), both used up,
    then more lots used up than the item keeps, and one open lot at 50.00."""
    item = StockItem(store_id="S01", part_number=PART, unit="pc", min_stock=Decimal(0),
                     audit=AUDIT)
    item.receive(AUDIT, qty=2, unit_cost="40.00", supplier="Mann", supplier_doc="DN-old",
                 cert_ref="CCC-old")
    item.transfer_in(AUDIT, "TR-1", "S02", [
        {"lot_id": f"{PART}-00007@S02", "qty": Decimal(1), "unit_cost": Decimal("650.00"),
         "supplier": "Mann", "supplier_doc": "DN-S2", "received_at": "2026-04-01T02:00:00+00:00",
         "cert_ref": "CCC-S2"}])
    item.issue(AUDIT, "wo-1:L1", 3)
    for n in range(EXHAUSTED_KEPT + 1):
        item.receive(AUDIT, qty=1, unit_cost="45.00", supplier="Mann", supplier_doc=f"DN-{n}")
        item.issue(AUDIT, f"wo-{n + 2}:L1", 1)
    item.receive(AUDIT, qty=3, unit_cost="50.00", supplier="Mann", supplier_doc="DN-new")
    app.save(item)
    assert lot(1) not in item.lots and lot(2) not in item.lots
    return item


def load(app: ServiceCore) -> StockItem:
    item: Any = app.repository.get(StockItem.create_id("S01", PART))
    return item  # type: ignore[no-any-return]


def test_a_count_books_found_units_into_a_lot_long_used_up_at_its_received_cost() -> None:
    app = ServiceCore()
    used_up_history(app)
    done = Inventory(app).count(clerk(), "S01", PART, counted={lot(1): "1"},
                                reason="returned unit found behind the shelf",
                                count_ref="ST-2026-05")
    assert (done.body["status"], done.body["value"], done.body["on_hand"]) == (
        "posted", "40.00", "4")
    item = load(app)
    found = item.open_lots[lot(1)]
    assert (found["on_hand"], found["unit_cost"], found["supplier_doc"], found["cert_ref"],
            found["received_qty"]) == (1, Decimal("40.00"), "DN-old", "CCC-old", 2)
    assert next(iter(item.open_lots)) == lot(1)  # first in FIFO order, where it was received
    assert item.fifo_value == Decimal("190.00")
    # The events say where the unit's cost comes from: the count's line and the variance.
    counted, posted = list(app.events.get(item.id))[-2:]
    assert isinstance(counted, StockItem.Counted) and isinstance(posted, StockItem.VariancePosted)
    assert counted.lines[0]["record"]["supplier_doc"] == "DN-old"
    assert posted.adjustments[0]["record"]["cert_ref"] == "CCC-old"
    assert state(replay(None, app.events.get(item.id))) == state(item)


def test_above_the_threshold_a_found_lot_waits_for_another_manager() -> None:
    app = ServiceCore()
    used_up_history(app)
    inventory = Inventory(app)
    waits = inventory.count(clerk(), "S01", PART, counted={lot(2): "1"},
                            reason="returned unit found in the cage")
    assert (waits.body["status"], waits.body["value"], waits.body["on_hand"]) == (
        "awaiting_approval", "650.00", "3")
    count_id = waits.body["count_id"]
    with pytest.raises(NotPermitted):  # the clerk who counted may not approve
        inventory.decide_count(request("manager", "clerk-1"), "S01", PART, count_id,
                               approve=True)
    inventory.decide_count(request("manager", "mgr-wang"), "S01", PART, count_id,
                           approve=True)
    item = load(app)
    found = item.open_lots[lot(2)]
    assert (found["on_hand"], found["unit_cost"], found["supplier_doc"], found["origin_lot"],
            found["received_at"]) == (1, Decimal("650.00"), "DN-S2", f"{PART}-00007@S02",
                                      "2026-04-01T02:00:00+00:00")
    assert (item.on_hand, item.fifo_value) == (Decimal(4), Decimal("800.00"))
    assert state(replay(None, app.events.get(item.id))) == state(item)


def test_a_lot_the_item_never_took_in_is_still_refused() -> None:
    app = ServiceCore()
    item = used_up_history(app)
    before = app.recorder.max_notification_id()
    for unknown in (f"{PART}-09999@S01", f"{PART}-00001@S02", "NOT-A-LOT"):
        with pytest.raises(InvalidInput, match="has no lot") as refused:
            Inventory(app).count(clerk(), "S01", PART, counted={unknown: "1"}, reason="found")
        assert refused.value.extra["lot_id"] == unknown
    assert app.recorder.max_notification_id() == before
    assert load(app).version == item.version
