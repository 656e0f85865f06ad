"""A busy part's lots: open ones apart from exhausted ones, numbered as they always were.

A stock item keeps running totals, its open lots and only the last used-up ones, so that neither
a command nor the item's snapshot pays for the thousands of lots a busy part has used up over the
years. These tests hold it to the figures and lot ids a full walk over every lot gives, through
replays, snapshots of the item's earlier shapes and copies from the aggregate cache, and hold its
snapshot to a size that does not grow with the lots used up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Snapshot

from domain.aggregate_loads import copy_aggregate, copy_plain, replay
from domain.application import ServiceCore
from domain.common import Audit, InvalidInput
from domain.money import round_money
from domain.stock import StockItem
from domain.stock_lots import EXHAUSTED_KEPT, LotUsedUpLongAgo
from domain.stock_state import InsufficientStock, StockError, less_returned

AUDIT = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, tzinfo=UTC), "corr-1")
MANAGER = Audit("mgr-1", "manager", "S01", datetime(2026, 5, 2, tzinfo=UTC), "corr-2")
PART = "06L115562"


def opened(store_id: str = "S01") -> StockItem:
    return StockItem(store_id=store_id, part_number=PART, unit="pc", min_stock=Decimal(0),
                     audit=AUDIT)


def receive(item: StockItem, qty: int, cost: str, doc: str, cert: str | None = None) -> str:
    return item.receive(AUDIT, qty=qty, unit_cost=cost, supplier="Mann", supplier_doc=doc,
                        cert_ref=cert)


class Jobs:
    """What each job holds, as its work-order line keeps it: the picks it was issued, less
    what came back."""

    def __init__(self) -> None:
        self.held: dict[str, list[dict[str, Any]]] = {}

    def issue(self, item: StockItem, key: str, qty: int) -> list[dict[str, Any]]:
        picks = item.issue(AUDIT, key, qty)
        self.held[key] = [*self.held.get(key, []), *picks]
        return picks

    def give_back(self, item: StockItem, key: str, qty: int, reason: str) -> \
            list[dict[str, Any]]:
        picks = item.return_from_job(AUDIT, key, qty, reason, held=self.held.get(key, []))
        self.held[key] = less_returned(self.held[key], picks)
        return picks


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
    item, jobs = opened(), Jobs()
    for n in range(1, 7):
        receive(item, 2, f"{10 + n}.50", f"DN-{n}", cert=f"CCC-{n}" if n % 2 else None)
    jobs.issue(item, "wo-1:L1", 5)  # lots 1 and 2 used up, one unit taken from lot 3
    item.scrap(AUDIT, 1, "cracked", lot_id=f"{PART}-00004@S01")
    jobs.give_back(item, "wo-1:L1", 2, "not fitted")  # back into lots 3 and 2
    item.transfer_in(AUDIT, "TR-1", "S02", [
        {"lot_id": f"{PART}-00001@S02", "qty": Decimal(1), "unit_cost": Decimal("9.00"),
         "supplier": "Mann", "supplier_doc": "DN-S2", "received_at": AUDIT.at.isoformat(),
         "cert_ref": None},
        {"lot_id": f"{PART}-00002@S02", "qty": Decimal(3), "unit_cost": Decimal("9.50"),
         "supplier": "Mann", "supplier_doc": "DN-S2b", "received_at": AUDIT.at.isoformat(),
         "cert_ref": "CCC-S2"}])
    jobs.issue(item, "wo-2:L1", 6)
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
        "lots_value", "counts", "last_unit_cost", "decided")}
    first_shape["lots"] = copy_plain(item.lots)
    first_shape["issued"] = {"wo-2:L1": [{"lot_id": f"{PART}-00002@S01", "qty": Decimal(1),
                                          "unit_cost": Decimal("12.50"), "supplier": "Mann"}]}
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
    item, jobs = opened(), Jobs()
    for n in range(3000):
        receive(item, 2, "20.00" if n % 2 else "21.00", f"DN-{n}", cert=f"CCC-{n}")
        jobs.issue(item, f"wo-{n}:L1", 2)
    receive(item, 5, "25.00", "DN-new")
    # Only the last used-up lots stay; the item still numbers lots after all 3,000.
    assert list(item.exhausted_lots) == [f"{PART}-{n:05d}@S01"
                                         for n in range(3001 - EXHAUSTED_KEPT, 3001)]
    assert list(item.open_lots) == [f"{PART}-03001@S01"]
    assert (item.on_hand, item.fifo_value) == full_walk(item) == (Decimal(5), Decimal("125.00"))
    # A unit of the fifth work order comes back: its lot, used up long ago and no longer kept,
    # opens again from the pick the job holds, at its cost and first in FIFO order.
    jobs.give_back(item, "wo-4:L1", 1, "not fitted")
    assert list(item.open_lots) == [f"{PART}-00005@S01", f"{PART}-03001@S01"]
    assert {k: item.open_lots[f"{PART}-00005@S01"][k] for k in (
        "on_hand", "unit_cost", "supplier", "supplier_doc", "cert_ref", "seq")} == {
        "on_hand": 1, "unit_cost": Decimal("21.00"), "supplier": "Mann", "supplier_doc": "DN-4",
        "cert_ref": "CCC-4", "seq": 4}
    assert (item.on_hand, item.fifo_value) == full_walk(item) == (Decimal(6), Decimal("146.00"))
    picks = jobs.issue(item, "wo-x:L1", 2)
    assert [(p["lot_id"], p["qty"], p["unit_cost"]) for p in picks] == [
        (f"{PART}-00005@S01", 1, Decimal("21.00")), (f"{PART}-03001@S01", 1, Decimal("25.00"))]
    assert (item.on_hand, item.fifo_value) == full_walk(item) == (Decimal(4), Decimal("100.00"))
    assert item.next_lot_id() == f"{PART}-03002@S01"


def test_a_copy_from_the_cache_shares_used_up_lots_and_a_command_on_it_changes_none() -> None:
    item, events = history()
    before = copy_plain(state(item))
    copied = copy_aggregate(item)
    assert copied.exhausted_lots is not item.exhausted_lots
    assert all(copied.exhausted_lots[k] is lot for k, lot in item.exhausted_lots.items())
    # A command on the copy opens a used-up lot again, returns units and counts another:
    # the cached item is as it was.
    held = next(e.picks for e in events if isinstance(e, StockItem.Issued) and e.key == "wo-2:L1")
    copied.return_from_job(AUDIT, "wo-2:L1", 6, "job cancelled", held=held)
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


def test_a_snapshot_from_before_a_waiting_count_held_its_missing_units_holds_them() -> None:
    # A count finds six of ten missing and waits for a manager when the snapshot is taken,
    # as the item stood before such a count held them (version 5: no hold in `reserved`).
    item = opened()
    lot_id = receive(item, 10, "100.00", "DN-1")
    item.count(AUDIT, "ST-HOLD", {lot_id: 4}, "six missing", approval_value=Decimal(500))
    assert item.available == 4
    taken = Snapshot.take(item)
    v5 = dict(taken.state, reserved={}, class_version=5)
    loaded = Snapshot(originator_id=taken.originator_id,
                      originator_version=taken.originator_version, timestamp=taken.timestamp,
                      topic=taken.topic, state=v5).mutate(None)
    assert isinstance(loaded, StockItem)
    # loaded as the events give it today: what is not on the shelf cannot be issued
    assert state(loaded) == state(replay(None, list(item.collect_events())))
    assert loaded.available == 4
    with pytest.raises(InsufficientStock):
        loaded.issue(AUDIT, "wo-1:L1", 5)


def cycles(item: StockItem, jobs: Jobs, first: int, last: int) -> None:
    """Lots received and used up by jobs: a receipt of 2 and an issue of 2 each."""
    for n in range(first, last):
        receive(item, 2, "31.00", f"DN-{n}", cert=f"CCC-{n}" if n % 3 == 0 else None)
        jobs.issue(item, f"wo-{n}:L1", 2)


def snapshot_bytes(app: ServiceCore, item: StockItem) -> int:
    """The size of the item's snapshot as the event store would store it."""
    return len(app.mapper.to_stored_event(Snapshot.take(item)).state)


def test_the_snapshot_does_not_grow_with_the_lots_used_up() -> None:
    app = ServiceCore()
    try:
        item, jobs = opened(), Jobs()
        cycles(item, jobs, 0, 1100)
        after_1100 = snapshot_bytes(app, item)
        cycles(item, jobs, 1100, 2000)
        after_2000 = snapshot_bytes(app, item)
    finally:
        app.close()
    # 900 more lots used up, each with its own job: the same size, give or take a certificate
    # reference among the kept lots (one lot's record is more than that).
    assert abs(after_2000 - after_1100) < 64, (after_1100, after_2000)
    assert len(item.exhausted_lots) == EXHAUSTED_KEPT and not item.open_lots
    assert item.lot_count == 2000 and item.next_lot_id() == f"{PART}-02001@S01"


def test_a_return_opens_a_lot_used_up_long_ago_at_its_cost_and_fifo_stays_right() -> None:
    item, jobs = opened(), Jobs()
    receive(item, 3, "40.00", "DN-old", cert="CCC-old")
    jobs.issue(item, "wo-old:L1", 3)  # lot 1 used up ...
    cycles(item, jobs, 1, 1 + 2 * EXHAUSTED_KEPT)  # ... and long forgotten by the item
    newest = receive(item, 4, "50.00", "DN-new")
    assert f"{PART}-00001@S01" not in item.lots
    # Two units of the old job come back, then three go to a new job: the old lot first.
    jobs.give_back(item, "wo-old:L1", 2, "wrong side")
    assert (item.on_hand, item.fifo_value) == (Decimal(6), Decimal("280.00"))
    assert item.open_lots[f"{PART}-00001@S01"]["cert_ref"] == "CCC-old"
    picks = jobs.issue(item, "wo-new:L1", 3)
    assert [(p["lot_id"], p["qty"], p["unit_cost"]) for p in picks] == [
        (f"{PART}-00001@S01", 2, Decimal("40.00")), (newest, 1, Decimal("50.00"))]
    assert (item.on_hand, item.fifo_value) == (Decimal(3), Decimal("150.00"))
    # The lot, used up again, is kept as the last used up; a stocktake may find a unit of it.
    item.count(AUDIT, "ST-1", {f"{PART}-00001@S01": 1}, "found", approval_value=Decimal(1000))
    assert (item.on_hand, item.fifo_value) == (Decimal(4), Decimal("190.00"))
    # Replayed, the item comes to the same state.
    assert state(replay(None, list(item.collect_events()))) == state(item)


def test_a_return_names_only_what_the_job_holds_of_this_items_lots() -> None:
    item, jobs = opened(), Jobs()
    receive(item, 3, "40.00", "DN-1")
    jobs.issue(item, "wo-1:L1", 2)
    with pytest.raises(StockError, match="only 2 was issued"):
        jobs.give_back(item, "wo-1:L1", 3, "too many")
    stranger = [{"lot_id": f"{PART}-00001@S02", "qty": Decimal(1),
                 "unit_cost": Decimal("1.00"), "supplier": "Mann"}]
    with pytest.raises(InvalidInput, match="has no lot"):
        item.return_from_job(AUDIT, "wo-2:L1", 1, "not ours", held=stranger)
    assert list(item.collect_events())[-1].__class__ is StockItem.Issued  # nothing more


def test_a_lot_used_up_long_ago_is_refused_by_a_count_and_holds_nothing_to_scrap() -> None:
    item, jobs = opened(), Jobs()
    cycles(item, jobs, 0, EXHAUSTED_KEPT + 1)
    receive(item, 1, "31.00", "DN-last")
    old = f"{PART}-00001@S01"
    with pytest.raises(LotUsedUpLongAgo) as refused:
        item.count(AUDIT, "ST-1", {old: 1}, "found", approval_value=Decimal(1000))
    assert refused.value.extra["lot_id"] == old
    with pytest.raises(InsufficientStock, match="has only 0 pc free"):
        item.scrap(AUDIT, 1, "cracked", lot_id=old)
    with pytest.raises(InsufficientStock, match="has only 0 pc free"):
        item.return_to_supplier(AUDIT, old, 1, "RMA-1", "wrong size")
    with pytest.raises(InvalidInput, match="has no lot"):
        item.scrap(AUDIT, 1, "cracked", lot_id=f"{PART}-09999@S01")
    # The last used-up lot is kept: a count may find units of it.
    kept = f"{PART}-{EXHAUSTED_KEPT + 1:05d}@S01"
    item.count(AUDIT, "ST-2", {kept: 1}, "found", approval_value=Decimal(1000))
    assert item.open_lots[kept]["on_hand"] == 1


def test_a_count_waiting_for_approval_keeps_the_record_of_the_used_up_lot_it_found() -> None:
    item, jobs = opened(), Jobs()
    receive(item, 2, "300.00", "DN-0", cert="CCC-0")
    jobs.issue(item, "wo-0:L1", 2)
    item.count(AUDIT, "ST-1", {f"{PART}-00001@S01": 2}, "found two", approval_value=Decimal(100))
    cycles(item, jobs, 1, 1 + 2 * EXHAUSTED_KEPT)  # lot 1 leaves the kept ones meanwhile
    assert f"{PART}-00001@S01" not in item.lots
    item.decide_count(MANAGER, "ST-1", True, None)
    lot = item.open_lots[f"{PART}-00001@S01"]
    assert (lot["on_hand"], lot["unit_cost"], lot["cert_ref"]) == (2, Decimal("300.00"), "CCC-0")
    assert item.fifo_value == Decimal("600.00")


def test_a_count_waiting_for_approval_keeps_the_record_of_an_open_lot_used_up_meanwhile(
        ) -> None:
    item, jobs = opened(), Jobs()
    receive(item, 5, "300.00", "DN-0", cert="CCC-0")
    item.count(AUDIT, "ST-1", {f"{PART}-00001@S01": 6}, "found one", approval_value=Decimal(100))
    jobs.issue(item, "wo-0:L1", 5)  # lot 1 used up while the count waits ...
    cycles(item, jobs, 1, 1 + 2 * EXHAUSTED_KEPT)  # ... and no longer kept
    item.decide_count(MANAGER, "ST-1", True, None)
    lot = item.open_lots[f"{PART}-00001@S01"]
    assert (lot["on_hand"], lot["unit_cost"], lot["supplier_doc"], lot["cert_ref"]) == (
        1, Decimal("300.00"), "DN-0", "CCC-0")
    assert item.fifo_value == Decimal("300.00")
    assert state(replay(None, list(item.collect_events()))) == state(item)


def test_a_snapshot_that_kept_every_used_up_lot_and_every_jobs_picks_loads_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Version 3 kept every used-up lot and, per job, the picks it holds.
    monkeypatch.setattr(StockItem, "exhausted_kept", 10**9)
    item, jobs = opened(), Jobs()
    cycles(item, jobs, 0, 3 * EXHAUSTED_KEPT)
    receive(item, 5, "33.00", "DN-last")
    jobs.issue(item, "wo-last:L1", 1)
    taken = Snapshot.take(item)
    v3 = {k: v for k, v in taken.state.items() if k != "last_unit_cost"}
    assert len(v3["exhausted_lots"]) == 3 * EXHAUSTED_KEPT
    v3["class_version"] = 3
    v3["issued"] = copy_plain(jobs.held)
    monkeypatch.undo()
    loaded = Snapshot(originator_id=taken.originator_id,
                      originator_version=taken.originator_version, timestamp=taken.timestamp,
                      topic=taken.topic, state=v3).mutate(None)
    assert isinstance(loaded, StockItem)
    assert not hasattr(loaded, "issued") and loaded.last_unit_cost == Decimal("33.00")
    assert list(loaded.exhausted_lots) == [f"{PART}-{n:05d}@S01" for n in range(
        2 * EXHAUSTED_KEPT + 1, 3 * EXHAUSTED_KEPT + 1)]
    assert (loaded.on_hand, loaded.fifo_value, loaded.next_lot_id()) == (
        Decimal(4), Decimal("132.00"), item.next_lot_id())
    # The same as the item the events give today.
    assert state(loaded) == state(replay(None, list(item.collect_events())))
    # A job of the old snapshot returns into a lot the loaded item no longer keeps.
    jobs.give_back(loaded, "wo-0:L1", 2, "not fitted")
    assert loaded.open_lots[f"{PART}-00001@S01"]["cert_ref"] == "CCC-0"
    assert (loaded.on_hand, loaded.fifo_value) == (Decimal(6), Decimal("194.00"))
