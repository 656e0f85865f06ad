"""Stock scenarios that a parts clerk would recognise, one comment per step."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from domain.common import Audit
from domain.stock import StockItem

AUDIT = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, tzinfo=UTC), "corr-1")


def names(item: StockItem) -> list[str]:
    return [type(e).__name__ for e in item.collect_events()]


def test_releasing_a_reservation_clears_the_low_stock_alert() -> None:
    # Five brake-pad sets arrive; the minimum stock is two.
    item = StockItem(store_id="S01", part_number="5Q0698151", unit="set", min_stock=Decimal(2),
                     audit=AUDIT)
    item.receive(AUDIT, qty=5, unit_cost=Decimal("210.00"), supplier="FAW-VW",
                 supplier_doc="DN-1")
    item.collect_events()
    # An approved estimate reserves four: one left available, so the alert is raised once.
    item.reserve(AUDIT, "wo-1:L2", Decimal(4))
    assert names(item) == ["Reserved", "LowStockAlertRaised"]
    assert item.alert_raised
    # The customer declines after all: the release brings five back and clears the alert.
    item.release(AUDIT, "wo-1:L2", "customer declined")
    assert names(item) == ["Released", "LowStockAlertCleared"]
    assert not item.alert_raised and item.available == Decimal(5)
