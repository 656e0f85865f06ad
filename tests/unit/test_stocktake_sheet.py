"""A count is compared with the book of its count sheet: the item at the version the sheet was
printed at, carried forward by the movements recorded since. Parts that left for a job, came
back, or arrived after the sheet are no variance; a count stored before counts named a sheet
reads as one without it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from eventsourcing.persistence import StoredEvent

from domain.application import ServiceCore
from domain.common import Audit, InvalidInput
from domain.inventory import Inventory
from domain.stock import StockItem
from tests.unit.support import clerk

AUDIT = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, tzinfo=UTC), "corr-1")
PART = "06L115562"
LOT_1, LOT_2 = f"{PART}-00001@S01", f"{PART}-00002@S01"


def stocked(app: ServiceCore) -> StockItem:
    """10 filters in lot 1 (40.00), 5 in lot 2 (50.00)."""
    item = StockItem(store_id="S01", part_number=PART, unit="pc", min_stock=Decimal(0),
                     audit=AUDIT)
    item.receive(AUDIT, qty=10, unit_cost="40.00", supplier="Mann", supplier_doc="DN-1")
    item.receive(AUDIT, qty=5, unit_cost="50.00", supplier="Mann", supplier_doc="DN-2")
    app.save(item)
    return item


def load(app: ServiceCore) -> StockItem:
    item: object = app.repository.get(StockItem.create_id("S01", PART))
    assert isinstance(item, StockItem)
    return item


def test_issues_returns_and_receipts_after_the_sheet_are_no_variance() -> None:
    app = ServiceCore()
    item = stocked(app)
    # The sheet is printed; the clerk finds 9 of lot 1 (one missing) and 5 of lot 2.
    sheet = item.version
    # Meanwhile 4 of lot 1 are issued to a job (FIFO), one comes back, a delivery arrives.
    picks = item.issue(AUDIT, "wo-1:L1", 4)
    item.return_from_job(AUDIT, "wo-1:L1", 1, "not needed", held=picks)
    item.receive(AUDIT, qty=3, unit_cost="45.00", supplier="Mann", supplier_doc="DN-3")
    app.save(item)
    done = Inventory(app).count(clerk(), "S01", PART, counted={LOT_1: "9", LOT_2: "5"},
                                reason="one missing", as_of_version=sheet)
    assert (done.body["as_of_version"], done.body["value"], done.body["status"]) == (
        sheet, "-40.00", "posted")
    assert done.body["lines"] == [
        {"lot_id": LOT_1, "book": "10", "counted": "9", "variance": "-1",
         "unit_cost": "40.00", "moved_since": "-3"},
        {"lot_id": LOT_2, "book": "5", "counted": "5", "variance": "0", "unit_cost": "50.00"}]
    after = load(app)
    assert after.lots[LOT_1]["on_hand"] == 10 - 3 - 1 and after.lots[LOT_2]["on_hand"] == 5


def test_a_second_count_from_the_same_sheet_finds_the_variance_already_booked() -> None:
    app = ServiceCore()
    sheet = stocked(app).version
    inventory = Inventory(app)
    first = inventory.count(clerk(), "S01", PART, counted={LOT_1: "8"}, reason="two missing",
                            count_ref="ST-1", as_of_version=sheet)
    again = inventory.count(clerk("clerk-2"), "S01", PART, counted={LOT_1: "8"},
                            reason="two missing", count_ref="ST-2", as_of_version=sheet)
    assert (first.body["value"], again.body["value"]) == ("-80.00", "0.00")
    assert again.body["lines"][0]["book"] == "8"
    assert load(app).lots[LOT_1]["on_hand"] == 8


def test_without_a_sheet_the_count_is_of_the_book_it_found() -> None:
    app = ServiceCore()
    version = stocked(app).version
    done = Inventory(app).count(clerk(), "S01", PART, counted={LOT_1: "9"}, reason="one missing")
    assert done.body["as_of_version"] == version and done.body["lines"][0]["book"] == "10"


@pytest.mark.parametrize("as_of", [0, 4, 99])
def test_a_sheet_of_a_version_the_item_never_had_is_refused(as_of: int) -> None:
    app = ServiceCore()
    item = stocked(app)
    assert item.version == 3
    with pytest.raises(InvalidInput) as refused:
        Inventory(app).count(clerk(), "S01", PART, counted={LOT_1: "9"}, reason="one missing",
                             as_of_version=as_of)
    assert refused.value.extra["field"] == "as_of_version"
    assert refused.value.extra["version"] == 3
    assert load(app).version == 3  # nothing stored


def test_a_count_stored_before_sheets_reads_as_one_without_a_sheet_version() -> None:
    app = ServiceCore()
    item = stocked(app)
    item.count(AUDIT, "ST-OLD", {LOT_1: "9"}, "one missing", Decimal("500.00"))
    counted = next(e for e in item.collect_events() if isinstance(e, StockItem.Counted))
    stored = app.mapper.to_stored_event(counted)
    state = json.loads(stored.state)
    assert (state["class_version"], state["as_of_version"]) == (2, None)
    state["class_version"] = 1
    del state["as_of_version"]
    old = app.mapper.to_domain_event(StoredEvent(stored.originator_id, stored.originator_version,
                                                 stored.topic, json.dumps(state).encode()))
    assert isinstance(old, StockItem.Counted) and old.as_of_version is None
    assert old.lines[0]["variance"] == Decimal(-1)
