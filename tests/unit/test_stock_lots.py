"""A busy part's lots: open ones apart from exhausted ones, numbered as they always were.

A stock item keeps running totals and its open lots apart, so that a command does not walk (or
copy) the thousands of lots a busy part has used up over the years. These tests hold it to the
figures and lot ids a full walk over every lot gives, through replays, snapshots of the item's
first shape (one `lots` dict) and copies from the aggregate cache.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Snapshot

from domain.aggregate_loads import copy_aggregate, copy_plain, replay
from domain.common import Audit
from domain.money import round_money
from domain.stock import StockError, StockItem

AUDIT = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, tzinfo=UTC), "corr-1")
MANAGER = Audit("mgr-1", "manager", "S01", datetime(2026, 5, 2, tzinfo=UTC), "corr-2")
PART = "06L115562"


def opened(store_id: str = "S01") -> StockItem:
    return StockItem(store_id=store_id, part_number=PART, unit="pc", min_stock=Decimal(0),
                     audit=AUDIT)


def receive(item: StockItem, qty: int, cost: str, doc: str, cert: str | None = None) -> str:
    return item.receive(AUDIT, qty=qty, unit_cost=cost, supplier="Mann", supplier_doc=doc,
                        cert_ref=cert)


def state(item: StockItem) -> dict[str, Any]:
    """The item's state as a snapshot holds it."""
    return {k: v for k, v in vars(item).items() if k != "_pending_events"}


def full_walk(item: StockItem) -> tuple[Decimal, Decimal]:
    """On hand and FIFO value summed over every lot, as the item's first shape did."""
    lots = item.lots.values()
    return (sum((lot["on_hand"] for lot in lots), Decimal(0)),
            round_money(sum((lot["on_hand"] * lot["unit_cost"] for lot in lots), Decimal(0))))


def history() -> tuple[StockItem, list[Any]]:
    """Receipts, lots used up, one opened again by a return and one by a stocktake, lots in
    from another store, scrap and a supplier return: every way a lot comes or goes."""
    item = opened()
    for n in range(1, 7):
        receive(item, 2, f"{10 + n}.50", f"DN-{n}", cert=f"CCC-{n}" if n % 2 else None)
    item.issue(AUDIT, "wo-1:L1", 5)  # lots 1 and 2 used up, one unit taken from lot 3
    item.scrap(AUDIT, 1, "cracked", lot_id=f"{PART}-00004@S01")
    item.return_from_job(AUDIT, "wo-1:L1", 2, "not fitted")  # back into lots 3 and 2
    item.transfer_in(AUDIT, "TR-1", "S02", [
        {"lot_id": f"{PART}-00001@S02", "qty": Decimal(1), "unit_cost": Decimal("9.00"),
         "supplier": "Mann", "supplier_doc": "DN-S2", "received_at": AUDIT.at.isoformat(),
         "cert_ref": None},
        {"lot_id": f"{PART}-00002@S02", "qty": Decimal(3), "unit_cost": Decimal("9.50"),
         "supplier": "Mann", "supplier_doc": "DN-S2b", "received_at": AUDIT.at.isoformat(),
         "cert_ref": "CCC-S2"}])
    item.issue(AUDIT, "wo-2:L1", 6)
    item.count(AUDIT, "ST-1", {f"{PART}-00001@S01": 1}, "found behind the shelf",
               approval_value=Decimal(1000))
    item.return_to_supplier(AUDIT, f"{PART}-00006@S01", 1, "RMA-1", "wrong size")
    receive(item, 4, "12.00", "DN-7")
    return item, list(item.collect_events())


def test_lot_ids_count_every_lot_taken_in_as_the_full_list_did() -> None:
    item, events = history()
    received = [e.lot_id for e in events if isinstance(e, StockItem.Received)]
    moved_in = [lot["lot_id"] for e in events if isinstance(e, StockItem.TransferredIn)
                for lot in e.lots]
    # Lots 1-6, the two from S02 as 7 and 8, the last receipt 9: used-up lots still count.
    assert received[:6] == [f"{PART}-{n:05d}@S01" for n in range(1, 7)]
    assert moved_in == [f"{PART}-00007@S01", f"{PART}-00008@S01"]
    assert received[6] == f"{PART}-00009@S01"
    assert item.next_lot_id() == f"{PART}-00010@S01" and len(item.lots) == 9
    assert [lot["seq"] for lot in item.lots.values()] == list(range(9))


def test_replaying_the_events_gives_the_same_lots_ids_and_figures() -> None:
    item, events = history()
    again = replay(None, events)
    assert state(again) == state(item)
    assert again.next_lot_id() == item.next_lot_id()
    # Lot 2 was used up, opened again by the return, used up again; lot 1 was used up and
    # found again by the count; lot 6 gave one unit back to the supplier.
    assert list(item.open_lots) == [f"{PART}-{n:05d}@S01" for n in (1, 6, 7, 8, 9)]
    assert sorted(item.exhausted_lots) == [f"{PART}-{n:05d}@S01" for n in (2, 3, 4, 5)]
    assert (item.on_hand, item.fifo_value) == full_walk(item) == (Decimal(10), Decimal("113.50"))


def test_a_snapshot_of_the_first_shape_loads_as_the_replayed_item() -> None:
    item, _ = history()
    taken = Snapshot.take(item)
    first_shape = {k: v for k, v in taken.state.items() if k not in (
        "class_version", "open_lots", "exhausted_lots", "lot_count", "units_on_hand",
        "lots_value", "counts", "decided")}
    first_shape["lots"] = copy_plain(item.lots)
    old = Snapshot(originator_id=taken.originator_id,
                   originator_version=taken.originator_version, timestamp=taken.timestamp,
                   topic=taken.topic, state=first_shape)
    loaded = old.mutate(None)
    assert isinstance(loaded, StockItem)
    # counts and decisions before it: not kept then
    assert state(loaded) == {**state(item), "counts": {}, "decided": {}}
    assert list(loaded.open_lots) == list(item.open_lots)  # FIFO order kept
    assert receive(loaded, 1, "12.00", "DN-8") == f"{PART}-00010@S01"


def test_thousands_of_used_up_lots_stay_apart_and_a_return_reopens_the_oldest() -> None:
    item = opened()
    for n in range(3000):
        receive(item, 2, "20.00" if n % 2 else "21.00", f"DN-{n}")
        item.issue(AUDIT, f"wo-{n}:L1", 2)
    receive(item, 5, "25.00", "DN-new")
    assert len(item.exhausted_lots) == 3000 and list(item.open_lots) == [f"{PART}-03001@S01"]
    assert (item.on_hand, item.fifo_value) == full_walk(item) == (Decimal(5), Decimal("125.00"))
    # A unit of the fifth work order comes back: its lot opens again, first in FIFO order.
    item.return_from_job(AUDIT, "wo-4:L1", 1, "not fitted")
    assert list(item.open_lots) == [f"{PART}-00005@S01", f"{PART}-03001@S01"]
    assert item.open_lots[f"{PART}-00005@S01"]["on_hand"] == 1
    picks = item.issue(AUDIT, "wo-x:L1", 2)
    assert [(p["lot_id"], p["qty"], p["unit_cost"]) for p in picks] == [
        (f"{PART}-00005@S01", 1, Decimal("21.00")), (f"{PART}-03001@S01", 1, Decimal("25.00"))]
    assert (item.on_hand, item.fifo_value) == full_walk(item) == (Decimal(4), Decimal("100.00"))
    assert item.next_lot_id() == f"{PART}-03002@S01"


def test_a_copy_from_the_cache_shares_used_up_lots_and_a_command_on_it_changes_none() -> None:
    item, _ = history()
    before = copy_plain(state(item))
    copied = copy_aggregate(item)
    assert copied.exhausted_lots is not item.exhausted_lots
    assert all(copied.exhausted_lots[k] is lot for k, lot in item.exhausted_lots.items())
    # A command on the copy opens a used-up lot again, returns units and counts another:
    # the cached item is as it was.
    copied.return_from_job(AUDIT, "wo-2:L1", 6, "job cancelled")
    copied.count(AUDIT, "ST-2", {f"{PART}-00006@S01": 2}, "found", approval_value=Decimal(0))
    copied.decide_count(MANAGER, "ST-2", True, None)
    copied.issue(AUDIT, "wo-3:L1", 3)
    assert state(copied) != state(item)
    assert state(item) == before


def test_a_snapshot_from_before_count_ids_were_kept_refuses_the_waiting_counts_id() -> None:
    # A count waits for a manager when the snapshot is taken, as the item stood before count
    # ids were kept (version 2: no `counts`).
    item = opened()
    lot_id = receive(item, 10, "100.00", "DN-1")
    item.count(AUDIT, "ST-OLD", {lot_id: 4}, "six missing", approval_value=Decimal(500))
    taken = Snapshot.take(item)
    v2 = {k: v for k, v in taken.state.items() if k != "counts"}
    v2["class_version"] = 2
    loaded = Snapshot(originator_id=taken.originator_id,
                      originator_version=taken.originator_version, timestamp=taken.timestamp,
                      topic=taken.topic, state=v2).mutate(None)
    assert isinstance(loaded, StockItem)
    assert loaded.counts == {"ST-OLD": None}
    # Rejected, the recount the manager asks for may carry the stocktake's ref again ...
    loaded.decide_count(MANAGER, "ST-OLD", approve=False, reason="count again")
    assert loaded.counts == {}
    loaded.count(AUDIT, "ST-OLD", {lot_id: 3}, "seven missing", approval_value=Decimal(500))
    # ... once posted, the ref names that count: another count under it is refused.
    loaded.decide_count(MANAGER, "ST-OLD", approve=True, reason=None)
    assert loaded.on_hand == 3
    with pytest.raises(StockError) as refused:
        loaded.count(AUDIT, "ST-OLD", {lot_id: 2}, "one missing", approval_value=Decimal(500))
    assert refused.value.extra["count_id"] == "ST-OLD"
    assert refused.value.extra["recorded_at"] == AUDIT.at.isoformat()
    loaded.count(AUDIT, "ST-NEW", {lot_id: 2}, "one missing", approval_value=Decimal(500))
    assert loaded.on_hand == 2 and set(loaded.counts) == {"ST-OLD", "ST-NEW"}
