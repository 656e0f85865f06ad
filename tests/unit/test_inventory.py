"""The parts counter told as commands on the Inventory and WorkOrders services, in memory.

Part master, deliveries, purchase orders, reorder suggestions, transfers between stores, scrap
and stocktakes with a manager's approval, and the link to the work order: reservations on
approval, issues and returns in one save with the stock item, withdrawn lines, follow-on work
orders, cancellation, and commands that store nothing when either side refuses.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.application import Request, ServiceCore, StreamLocks
from domain.common import IllegalTransition, InvalidInput, NotFound, NotPermitted
from domain.inventory import Inventory
from domain.part import Part
from domain.purchase_order import MAX_LINES, PurchaseOrder, PurchaseOrderError, order_line
from domain.stock import StockItem
from domain.stock_lots import EXHAUSTED_KEPT
from domain.stock_state import InsufficientStock, StockError
from domain.transfer import Transfer
from domain.work_order import WorkOrder
from domain.work_order_state import WorkOrderError
from domain.work_orders import WorkOrders
from tests.unit.support import (
    PADS,
    T0,
    VEHICLE,
    approved_job,
    checked_in,
    clerk,
    events_stored,
    issue_parts,
    labor,
    load,
    load_stock,
    on_roster,
    part,
    register_part,
    request,
    stock_part,
)

DISC = "1K0615301AA"  # front brake disc
WIPER = "3397007620"  # Bosch wiper blade set
FILTER = "03C115561H"  # oil filter
FAW = "FAW-VW Parts"


@pytest.fixture
def app() -> ServiceCore:
    return ServiceCore()


@pytest.fixture
def inv(app: ServiceCore) -> Inventory:
    return Inventory(app)


def manager(user: str = "mgr-wang", **kwargs: Any) -> Request:
    return request("manager", user, **kwargs)


def lot_id(part_number: str, n: int, store_id: str = "S01") -> str:
    return f"{part_number}-{n:05d}@{store_id}"


def events_of(app: ServiceCore, stream_id: UUID) -> list[Any]:
    return list(app.events.get(stream_id))


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def stored_since(app: ServiceCore, before: int) -> Counter[tuple[UUID | str, str]]:
    """Which events (stream, event class) were stored after notification `before`."""
    notifications = app.recorder.select_notifications(start=before + 1, limit=100)
    return Counter((n.originator_id, n.topic.rsplit(".", 1)[-1]) for n in notifications)


def load_part(app: ServiceCore, part_number: str = PADS) -> Part:
    found: object = app.repository.get(Part.create_id(part_number))
    assert isinstance(found, Part)
    return found


def load_order(app: ServiceCore, order_id: UUID) -> PurchaseOrder:
    found: object = app.repository.get(order_id)
    assert isinstance(found, PurchaseOrder)
    return found


def load_transfer(app: ServiceCore, transfer_id: UUID) -> Transfer:
    found: object = app.repository.get(transfer_id)
    assert isinstance(found, Transfer)
    return found


def stock_of(app: ServiceCore, part_number: str = PADS, store_id: str = "S01") -> dict[str, str]:
    return {k: str(v) for k, v in load_stock(app, part_number, store_id).figures().items()}


def has_stock_item(app: ServiceCore, part_number: str, store_id: str) -> bool:
    return StockItem.create_id(store_id, part_number) in app.repository


def part_line_approved(wos: WorkOrders, work_order_id: UUID, qty: str = "1", job_no: int = 1,
                       **overrides: Any) -> tuple[str, str]:
    """The advisor adds a part line and the customer approves it; (line id, supply)."""
    line_id = str(wos.add_part_line(request(), work_order_id, job_no,
                                    part(qty=qty, **overrides)).body["line_id"])
    result = wos.authorize_line(request(), work_order_id, line_id, decision="approved",
                                channel="phone")
    return line_id, str(result.body["supply"])


# -- the part master ---------------------------------------------------------------------------


def test_a_part_enters_the_master_once_and_its_price_changes_with_a_reason(
        app: ServiceCore, inv: Inventory) -> None:
    # The parts manager registers the front pads as printed on the box, blanks and all.
    registered = inv.register_part(
        manager(), part_number="5q0 698 151", list_price="450.00",
        details={"name": "front brake pads", "unit": "set", "category": "brake",
                 "min_stock": "2", "reorder_qty": "6", "preferred_supplier": FAW})
    assert registered.body["part_number"] == PADS
    pads = load_part(app)
    assert (pads.part_number, pads.list_price) == (PADS, Decimal("450.00"))
    assert pads.details["min_stock"] == Decimal(2)
    assert pads.details["preferred_supplier"] == FAW

    # A colleague registers the same number again, written differently: refused, nothing stored.
    before = events_stored(app)
    with pytest.raises(IllegalTransition, match="already in the master"):
        inv.register_part(clerk(), part_number="5Q0698151", list_price="99.00",
                          details={"name": "pads", "unit": "set", "category": "brake"})
    assert events_stored(app) == before
    assert load_part(app).list_price == Decimal("450.00")

    # A new price list arrives: a change without a reason, or to the same price, is refused.
    with pytest.raises(InvalidInput, match="reason"):
        inv.change_price(manager(), PADS, list_price="480.00", reason=" ")
    with pytest.raises(IllegalTransition, match="already"):
        inv.change_price(manager(), PADS, list_price="450.00", reason="price list 2026")
    assert events_stored(app) == before

    # With the reason the change is an event that keeps the old and the new price, and who.
    inv.change_price(manager(), PADS, list_price="480.00", reason="price list 2026")
    changed = events_of(app, Part.create_id(PADS))[-1]
    assert type(changed).__name__ == "PriceChanged"
    assert (changed.old_price, changed.new_price) == (Decimal("450.00"), Decimal("480.00"))
    assert (changed.reason, changed.audit.user_id) == ("price list 2026", "mgr-wang")
    assert load_part(app).list_price == Decimal("480.00")


def test_a_part_without_name_unit_or_category_is_not_registered(app: ServiceCore,
                                                                 inv: Inventory) -> None:
    with pytest.raises(InvalidInput, match="name"):
        inv.register_part(manager(), part_number=DISC, list_price="620.00",
                          details={"unit": "pc", "category": "brake"})
    with pytest.raises(InvalidInput, match="category"):
        inv.register_part(manager(), part_number=DISC, list_price="620.00",
                          details={"name": "disc", "unit": "pc", "category": "brakes"})
    assert events_stored(app) == 0


# -- deliveries --------------------------------------------------------------------------------


def test_a_delivery_becomes_a_lot_with_its_supplier_document_and_certificate(
        app: ServiceCore, inv: Inventory) -> None:
    register_part(app, min_stock="2", reorder_qty="6")

    # Six sets arrive from FAW-VW with delivery note DN-2026-0417 and a CCC certificate.
    received = inv.receive(clerk(), "S01", "5q0698151", qty="6", unit_cost="210.00",
                           supplier=FAW, supplier_doc="DN-2026-0417", cert_ref="CCC-2291")
    assert received.body["lot_id"] == lot_id(PADS, 1)
    assert (received.body["on_hand"], received.body["available"]) == ("6", "6")

    # The store's stock item was opened with the master's levels; the lot says where it is from.
    item = load_stock(app)
    assert (item.min_stock, item.reorder_qty, item.unit) == (Decimal(2), Decimal(6), "set")
    lot = item.lots[lot_id(PADS, 1)]
    assert {k: lot[k] for k in ("supplier", "supplier_doc", "cert_ref", "unit_cost",
                                "received_qty", "on_hand", "po_ref", "origin_lot")} == {
        "supplier": FAW, "supplier_doc": "DN-2026-0417", "cert_ref": "CCC-2291",
        "unit_cost": Decimal("210.00"), "received_qty": Decimal(6), "on_hand": Decimal(6),
        "po_ref": None, "origin_lot": None}
    assert lot["received_at"] == T0.isoformat()

    # A second delivery is a second lot, at its own cost.
    inv.receive(clerk(), "S01", PADS, qty="2", unit_cost="215.50", supplier=FAW,
                supplier_doc="DN-2026-0502")
    assert load_stock(app).fifo_value == Decimal("1691.00")

    # Without the supplier's document, for a part not in the master, or into a store the clerk's
    # token does not cover, nothing is received.
    before = events_stored(app)
    with pytest.raises(InvalidInput, match="supplier document"):
        inv.receive(clerk(), "S01", PADS, qty="1", unit_cost="210.00", supplier=FAW,
                    supplier_doc=" ")
    with pytest.raises(NotFound, match="part master"):
        inv.receive(clerk(), "S01", DISC, qty="1", unit_cost="380.00", supplier=FAW,
                    supplier_doc="DN-9")
    with pytest.raises(NotPermitted):
        inv.receive(clerk(stores=("S02",)), "S01", PADS, qty="1", unit_cost="210.00",
                    supplier=FAW, supplier_doc="DN-9")
    assert events_stored(app) == before
    assert stock_of(app)["on_hand"] == "8"


# -- purchase orders ---------------------------------------------------------------------------


def test_a_purchase_order_by_hand_is_received_in_part_and_closed_short(
        app: ServiceCore, inv: Inventory) -> None:
    register_part(app, PADS, preferred_supplier=FAW)
    register_part(app, DISC, name="front brake disc", unit="pc", list_price="620.00")

    # The clerk drafts an order to FAW-VW: ten sets of pads and two discs.
    drafted = inv.draft_order(clerk(), store_id="S01", supplier=FAW, lines=[
        {"part_number": "5q0698151", "qty": "10", "unit_cost": "205.00"},
        {"part_number": DISC, "qty": "2", "unit_cost": "380.00"}])
    order_id = UUID(drafted.body["id"])
    assert drafted.body["number"] == "PO-S01-2026-000001"
    assert (drafted.body["status"], drafted.body["lines"]) == ("draft", 2)

    # Sent to the supplier, the lines are on order at the stock items.
    assert inv.send_order(clerk(), order_id).body["status"] == "sent"
    assert stock_of(app, PADS)["on_order"] == "10"
    assert stock_of(app, DISC)["on_order"] == "2"

    # The first delivery brings four sets against line 1.
    received = inv.receive(clerk(), "S01", PADS, qty="4", unit_cost="205.00", supplier=FAW,
                           supplier_doc="DN-7001", purchase_order_id=order_id, po_line=1)
    assert received.body["purchase_order"]["status"] == "partly_received"
    assert received.body["on_order"] == "6"
    assert load_stock(app).lots[lot_id(PADS, 1)]["po_ref"] == "PO-S01-2026-000001/1"
    order = load_order(app, order_id)
    assert order.status == "partly_received"
    assert order.lines[1]["received_qty"] == Decimal(4)
    assert order.lines[1]["receipts"][0]["lot_id"] == lot_id(PADS, 1)

    # Seven more against line 1 is more than is outstanding; another supplier's delivery does
    # not belong to this order: both refused, neither the order nor the stock item changes.
    before = events_stored(app)
    with pytest.raises(PurchaseOrderError, match="only 6 outstanding") as over:
        inv.receive(clerk(), "S01", PADS, qty="7", unit_cost="205.00", supplier=FAW,
                    supplier_doc="DN-7002", purchase_order_id=order_id, po_line=1)
    assert over.value.extra["outstanding"] == "6"
    with pytest.raises(InvalidInput, match="ordered from"):
        inv.receive(clerk(), "S01", PADS, qty="1", unit_cost="205.00", supplier="Bosch",
                    supplier_doc="B-1", purchase_order_id=order_id, po_line=1)
    with pytest.raises(InvalidInput, match="is for"):
        inv.receive(clerk(), "S01", PADS, qty="1", unit_cost="205.00", supplier=FAW,
                    supplier_doc="DN-7002", purchase_order_id=order_id, po_line=2)
    assert events_stored(app) == before
    assert stock_of(app, PADS)["on_hand"] == "4"

    # FAW-VW cannot deliver the rest: closing with lines short needs a reason...
    with pytest.raises(InvalidInput, match="reason"):
        inv.close_order(clerk(), order_id)
    assert events_stored(app) == before

    # ... and, given one, takes the short lines off order.
    closed = inv.close_order(clerk(), order_id, reason="supplier out of stock until June")
    assert closed.body["status"] == "closed"
    assert closed.body["short"] == [
        {"line_no": "1", "part_number": PADS, "qty": "6"},
        {"line_no": "2", "part_number": DISC, "qty": "2"}]
    assert stock_of(app, PADS)["on_order"] == "0"
    assert stock_of(app, DISC)["on_order"] == "0"
    assert stock_of(app, PADS)["on_hand"] == "4"

    # A late delivery against the closed order is refused.
    with pytest.raises(PurchaseOrderError, match="closed"):
        inv.receive(clerk(), "S01", PADS, qty="1", unit_cost="205.00", supplier=FAW,
                    supplier_doc="DN-7003", purchase_order_id=order_id, po_line=1)


def test_reorder_suggestions_are_checked_again_when_the_order_is_drafted(
        app: ServiceCore, inv: Inventory) -> None:
    # Pads: minimum 5, reorder 10, two on the shelf: low. Discs: four on the shelf, minimum 2.
    # Wipers are low too but come from Bosch. Oil filters are in the master but never stocked.
    register_part(app, PADS, min_stock="5", reorder_qty="10", preferred_supplier=FAW)
    register_part(app, DISC, name="front brake disc", unit="pc", min_stock="2",
                  preferred_supplier=FAW)
    register_part(app, WIPER, name="wiper blades", unit="set", category="accessory",
                  min_stock="4", preferred_supplier="Bosch")
    register_part(app, FILTER, name="oil filter", unit="pc", category="maintenance",
                  min_stock="10", preferred_supplier=FAW)
    stock_part(app, PADS, "2", unit_cost="205.00")
    stock_part(app, DISC, "4", unit_cost="380.00")
    stock_part(app, WIPER, "1", unit_cost="66.00", supplier="Bosch")
    assert load_stock(app, PADS).suggested_order() == Decimal(10)

    # The clerk drafts from the suggestion list for FAW-VW: only the pads still need ordering.
    drafted = inv.draft_from_suggestions(clerk(), store_id="S01", supplier=FAW,
                                         part_numbers=[PADS, DISC, WIPER, FILTER])
    assert drafted.body["lines"] == 1
    assert drafted.body["skipped"] == [DISC, WIPER, FILTER]
    order = load_order(app, UUID(drafted.body["id"]))
    assert order.source == "reorder-suggestions"
    assert [(ln["part_number"], ln["qty"], ln["unit_cost"]) for ln in order.lines.values()] == [
        (PADS, Decimal(10), Decimal("205.00"))]  # priced at the last lot's cost

    # What is on order counts: the pads need nothing more.
    assert stock_of(app, PADS)["on_order"] == "10"
    assert load_stock(app, PADS).suggested_order() == Decimal(0)

    # A second clerk drafts from the same (now stale) list: nothing needs reordering any more.
    before = events_stored(app)
    with pytest.raises(IllegalTransition, match="any more") as refused:
        inv.draft_from_suggestions(clerk("clerk-2"), store_id="S01", supplier=FAW,
                                   part_numbers=[PADS, DISC])
    assert refused.value.extra["skipped"] == [PADS, DISC]
    assert events_stored(app) == before


def test_what_is_on_order_reduces_the_suggested_order(app: ServiceCore, inv: Inventory) -> None:
    # Minimum 20, reorder quantity 5; two on the shelf: 18 short.
    register_part(app, PADS, min_stock="20", reorder_qty="5", preferred_supplier=FAW)
    stock_part(app, PADS, "2")
    assert load_stock(app).suggested_order() == Decimal(18)

    # Ten are already on order: eight more to order.
    inv.draft_order(clerk(), store_id="S01", supplier=FAW,
                    lines=[{"part_number": PADS, "qty": "10", "unit_cost": "205.00"}])
    assert load_stock(app).suggested_order() == Decimal(8)

    # Sixteen on order: two short, but never less than the reorder quantity.
    inv.draft_order(clerk(), store_id="S01", supplier=FAW,
                    lines=[{"part_number": PADS, "qty": "6", "unit_cost": "205.00"}])
    assert load_stock(app).suggested_order() == Decimal(5)


# -- transfers between stores -------------------------------------------------------------------


def test_a_transfer_leaves_one_store_and_arrives_in_the_other_with_its_lots(
        app: ServiceCore, inv: Inventory) -> None:
    # S01 holds two lots of pads: two certified FAW-VW sets and five Bosch sets.
    register_part(app)
    inv.receive(clerk(), "S01", PADS, qty="2", unit_cost="200.00", supplier=FAW,
                supplier_doc="DN-1", cert_ref="CCC-1")
    inv.receive(clerk(), "S01", PADS, qty="5", unit_cost="215.00", supplier="Bosch",
                supplier_doc="B-77")

    # S02 runs out; the S01 clerk sends three sets, oldest first.
    sender = clerk("clerk-zhou", stores=("S01",))
    sent = inv.transfer(sender, from_store="S01", to_store="S02", part_number=PADS, qty="3",
                        reason="S02 has a car on the lift")
    transfer_id = UUID(sent.body["id"])
    assert sent.body["number"] == "TR-S01-2026-000001"
    assert (sent.body["status"], sent.body["cost"]) == ("in_transit", "615.00")

    # In transit the sets belong to neither store.
    assert stock_of(app, PADS, "S01")["on_hand"] == "4"
    assert not has_stock_item(app, PADS, "S02")
    assert load_transfer(app, transfer_id).status == "in_transit"

    # Neither the sender nor a clerk of a third store can book it in.
    before = events_stored(app)
    with pytest.raises(NotPermitted, match="S02"):
        inv.receive_transfer(sender, transfer_id)
    with pytest.raises(NotFound):
        inv.receive_transfer(clerk("clerk-x", stores=("S09",)), transfer_id)
    assert events_stored(app) == before

    # The S02 clerk books it in: each lot arrives as a lot of S02 that remembers its origin.
    receiver = clerk("clerk-sun", stores=("S02",))
    arrived = inv.receive_transfer(receiver, transfer_id)
    assert arrived.body["status"] == "received"
    assert arrived.body["lot_ids"] == [lot_id(PADS, 1, "S02"), lot_id(PADS, 2, "S02")]
    lots = load_stock(app, PADS, "S02").lots
    assert [(lot["origin_lot"], lot["on_hand"], lot["unit_cost"], lot["supplier"],
             lot["supplier_doc"], lot["cert_ref"]) for lot in lots.values()] == [
        (lot_id(PADS, 1), Decimal(2), Decimal("200.00"), FAW, "DN-1", "CCC-1"),
        (lot_id(PADS, 2), Decimal(1), Decimal("215.00"), "Bosch", "B-77", None)]
    assert stock_of(app, PADS, "S02")["on_hand"] == "3"
    assert load_transfer(app, transfer_id).status == "received"

    # Booking it in twice is refused.
    with pytest.raises(IllegalTransition, match="already received"):
        inv.receive_transfer(receiver, transfer_id)


def test_a_transfer_needs_another_store_a_reason_and_the_stock(app: ServiceCore,
                                                               inv: Inventory) -> None:
    stock_part(app, PADS, "2")
    before = events_stored(app)
    with pytest.raises(InvalidInput, match="another store"):
        inv.transfer(clerk(), from_store="S01", to_store="S01", part_number=PADS, qty="1",
                     reason="rebalancing")
    with pytest.raises(InvalidInput, match="reason"):
        inv.transfer(clerk(), from_store="S01", to_store="S02", part_number=PADS, qty="1",
                     reason="")
    with pytest.raises(InsufficientStock) as short:
        inv.transfer(clerk(), from_store="S01", to_store="S02", part_number=PADS, qty="3",
                     reason="rebalancing")
    assert short.value.extra["available"] == "2"
    assert events_stored(app) == before  # not even a transfer number was taken
    sent = inv.transfer(clerk(), from_store="S01", to_store="S02", part_number=PADS, qty="1",
                        reason="rebalancing")
    assert sent.body["number"] == "TR-S01-2026-000001"


# -- scrap and stocktake, with a manager's approval --------------------------------------------


def test_scrap_above_the_thresholds_waits_for_a_manager_who_did_not_ask(
        app: ServiceCore, inv: Inventory) -> None:
    stock_part(app, PADS, "20", unit_cost="210.00")
    li = clerk("li")

    # Two sets with a cracked backing plate (420.00, under both thresholds) go at once.
    small = inv.scrap(li, "S01", PADS, qty="2", reason="cracked backing plate")
    assert (small.body["status"], small.body["value"]) == ("scrapped", "420.00")
    assert small.body["picks"][0]["lot_id"] == lot_id(PADS, 1)
    assert stock_of(app)["on_hand"] == "18"

    # Three sets soaked in the flood (630.00) wait for a manager; they are held back meanwhile.
    big = inv.scrap(li, "S01", PADS, qty="3", reason="water damage")
    request_id = big.body["request_id"]
    assert (big.body["status"], big.body["value"]) == ("awaiting_approval", "630.00")
    assert stock_of(app)["on_hand"] == "18"
    assert stock_of(app)["available"] == "15"

    # Li may not approve it: not as a clerk, and not with her duty-manager login either.
    before = events_stored(app)
    with pytest.raises(NotPermitted, match="manager role"):
        inv.decide_scrap(li, "S01", PADS, request_id, approve=True)
    with pytest.raises(NotPermitted, match="must not be"):
        inv.decide_scrap(manager("li"), "S01", PADS, request_id, approve=True)
    # A rejection would need a reason.
    with pytest.raises(InvalidInput, match="reason"):
        inv.decide_scrap(manager(), "S01", PADS, request_id, approve=False)
    assert events_stored(app) == before

    # Manager Wang approves: the sets leave the stock, FIFO, and the event says who approved.
    approved = inv.decide_scrap(manager(), "S01", PADS, request_id, approve=True)
    assert approved.body["status"] == "scrapped"
    assert stock_of(app) == {"on_hand": "15", "reserved": "0", "available": "15",
                             "on_order": "0"}
    scrapped = events_of(app, StockItem.create_id("S01", PADS))[-1]
    assert type(scrapped).__name__ == "Scrapped"
    assert (scrapped.approved_by, scrapped.cost) == ("mgr-wang", Decimal("630.00"))
    assert scrapped.audit.user_id == "mgr-wang"

    # The request is decided: deciding it again is refused.
    with pytest.raises(StockError, match="already scrapped"):
        inv.decide_scrap(manager("mgr-liu"), "S01", PADS, request_id, approve=True)


def test_scrap_of_many_cheap_units_waits_too_and_may_be_rejected(app: ServiceCore,
                                                                 inv: Inventory) -> None:
    stock_part(app, FILTER, "30", unit_cost="1.00")

    # Eleven filters are worth only 11.00, but more than ten units wait for approval.
    waiting = inv.scrap(clerk(), "S01", FILTER, qty="11", reason="wrong thread batch")
    assert (waiting.body["status"], waiting.body["value"]) == ("awaiting_approval", "11.00")
    assert stock_of(app, FILTER)["available"] == "19"

    # The manager rejects it (the batch goes back to the supplier instead): the units are free.
    rejected = inv.decide_scrap(manager(), "S01", FILTER, waiting.body["request_id"],
                                approve=False, reason="return to supplier instead")
    assert rejected.body["status"] == "rejected"
    assert stock_of(app, FILTER) == {"on_hand": "30", "reserved": "0", "available": "30",
                                     "on_order": "0"}

    # The batch goes back to the supplier from its lot, at lot cost.
    returned = inv.return_to_supplier(clerk(), "S01", FILTER, lot_id=lot_id(FILTER, 1),
                                      qty="11", reference="RMA-5531", reason="wrong thread")
    assert returned.body["cost"] == "11.00"
    assert stock_of(app, FILTER)["on_hand"] == "19"

    # A manager's own large scrap waits for another manager too.
    own = inv.scrap(manager(), "S01", FILTER, qty="12", reason="rusted in the yard")
    assert own.body["status"] == "awaiting_approval"
    inv.decide_scrap(manager("mgr-liu"), "S01", FILTER, own.body["request_id"], approve=True)
    assert stock_of(app, FILTER)["on_hand"] == "7"


def test_a_stocktake_variance_above_the_threshold_waits_for_approval(
        app: ServiceCore, inv: Inventory) -> None:
    first = stock_part(app, PADS, "10", unit_cost="210.00")

    # The count finds nine sets in the lot: -210.00 is under the threshold, posted at once.
    small = inv.count(clerk(), "S01", PADS, counted={first: "9"}, reason="box found empty")
    assert (small.body["status"], small.body["value"]) == ("posted", "-210.00")
    assert stock_of(app)["on_hand"] == "9"

    # A recount finds six: -630.00 waits for a manager; the book stays at nine meanwhile.
    big = inv.count(clerk(), "S01", PADS, counted={first: "6"}, reason="shelf miscounted",
                    count_ref="ST-2026-05")
    assert (big.body["count_id"], big.body["status"]) == ("ST-2026-05", "awaiting_approval")
    assert big.body["value"] == "-630.00"
    assert stock_of(app)["on_hand"] == "9"

    # While it waits no other count is taken, and the counter may not approve it.
    before = events_stored(app)
    with pytest.raises(StockError, match="waits for approval"):
        inv.count(clerk("clerk-2"), "S01", PADS, counted={first: "8"}, reason="recount")
    with pytest.raises(NotPermitted, match="must not be"):
        inv.decide_count(manager("clerk-1"), "S01", PADS, "ST-2026-05", approve=True)
    with pytest.raises(NotPermitted, match="manager role"):
        inv.decide_count(clerk("clerk-2"), "S01", PADS, "ST-2026-05", approve=True)
    assert events_stored(app) == before

    # The manager approves: the variance is posted, with who approved it.
    assert inv.decide_count(manager(), "S01", PADS, "ST-2026-05",
                            approve=True).body["status"] == "posted"
    assert stock_of(app)["on_hand"] == "6"
    posted = events_of(app, StockItem.create_id("S01", PADS))[-1]
    assert type(posted).__name__ == "VariancePosted"
    assert (posted.approved_by, posted.value) == ("mgr-wang", Decimal("-630.00"))
    assert posted.adjustments == [{"lot_id": first, "qty": Decimal(-3),
                                   "unit_cost": Decimal("210.00")}]


# -- the work order and the stock ---------------------------------------------------------------


def test_approving_a_part_line_reserves_it_or_notes_a_back_order_or_a_special_order(
        app: ServiceCore, wos: WorkOrders, inv: Inventory) -> None:
    stock_part(app, PADS, "3")
    stock_part(app, DISC, "4", store_id="S02", unit_cost="380.00")  # only S02 stocks discs
    wo_id = checked_in(wos)

    # The customer approves two sets of pads: they are reserved, one set stays available.
    line, supply = part_line_approved(wos, wo_id, qty="2")
    assert supply == "reserved"
    assert stock_of(app) == {"on_hand": "3", "reserved": "2", "available": "1",
                             "on_order": "0"}
    assert load_stock(app).reserved == {WorkOrder.stock_key(wo_id, line): Decimal(2)}
    assert load(app, wo_id).lines[line]["reserved_qty"] == Decimal(2)

    # Two more sets are approved but only one is left: a back order, and nothing is reserved.
    short, supply = part_line_approved(wos, wo_id, qty="2")
    assert supply == "back_order"
    assert stock_of(app)["available"] == "1"
    assert WorkOrder.stock_key(wo_id, short) not in load_stock(app).reserved
    noted = events_of(app, wo_id)[-1]
    assert type(noted).__name__ == "PartSupply"
    assert (noted.supply, noted.reserved_qty, noted.available) == ("back_order", 0, 1)

    # Discs are not stocked in S01 at all: a special order (S02's discs are not touched).
    special, supply = part_line_approved(wos, wo_id, part_number=DISC, unit_price="620.00")
    assert supply == "special_order"
    assert load(app, wo_id).lines[special]["supply"] == "special_order"
    assert not has_stock_item(app, DISC, "S01")
    assert stock_of(app, DISC, "S02")["available"] == "4"

    # A declined part line reserves nothing.
    declined = wos.add_part_line(request(), wo_id, 1, part(qty="1")).body["line_id"]
    wos.authorize_line(request(), wo_id, declined, decision="declined", channel="phone")
    assert stock_of(app)["reserved"] == "2"


def test_an_issue_moves_the_stock_and_the_line_in_one_save(app: ServiceCore,
                                                          wos: WorkOrders) -> None:
    stock_part(app, PADS, "3")
    wo_id = checked_in(wos)
    line, _ = part_line_approved(wos, wo_id, qty="2")
    item_id = StockItem.create_id("S01", PADS)
    wo_version, item_version = load(app, wo_id).version, load_stock(app).version

    # The clerk issues both sets: one command, one save of both streams.
    before = events_stored(app)
    issued = wos.issue_part(clerk(), wo_id, line)
    assert stored_since(app, before) == Counter({(wo_id, "PartsIssued"): 1,
                                                 (item_id, "Issued"): 1})
    assert issued.notification_id == events_stored(app)
    assert load(app, wo_id).version == wo_version + 1
    assert load_stock(app).version == item_version + 1
    assert issued.body["issued_qty"] == "2" and issued.body["cost"] == "420.00"

    # The line and the stock say the same thing: two issued at lot cost, nothing reserved.
    wo_line = load(app, wo_id).lines[line]
    assert (wo_line["issued_qty"], wo_line["issued_cost"], wo_line["reserved_qty"]) == (
        Decimal(2), Decimal("420.00"), Decimal(0))
    # The line keeps its picks, each with its lot's record (a return may open the lot again).
    assert wo_line["picks"] == [{"lot_id": lot_id(PADS, 1), "qty": Decimal(2),
                                 "unit_cost": Decimal("210.00"), "supplier": "FAW-VW Parts",
                                 "supplier_doc": "DN-0001", "received_at": T0.isoformat(),
                                 "cert_ref": None, "received_qty": Decimal(3), "po_ref": None,
                                 "origin_lot": None}]
    assert issued.body["picks"] == [{"lot_id": lot_id(PADS, 1), "qty": "2",
                                     "unit_cost": "210.00", "supplier": "FAW-VW Parts"}]
    assert stock_of(app) == {"on_hand": "1", "reserved": "0", "available": "1", "on_order": "0"}
    assert not hasattr(load_stock(app), "issued")  # what a job holds is the work order's

    # Issuing more than the line still needs is refused, and stores nothing.
    before = events_stored(app)
    with pytest.raises(WorkOrderError, match="fully issued"):
        wos.issue_part(clerk(), wo_id, line, qty="1")
    with pytest.raises(WorkOrderError, match="fully issued"):
        wos.issue_part(clerk(), wo_id, line)  # nothing outstanding
    assert events_stored(app) == before


def test_a_partial_issue_then_the_rest(app: ServiceCore, wos: WorkOrders) -> None:
    stock_part(app, PADS, "5")
    wo_id = checked_in(wos)
    line, _ = part_line_approved(wos, wo_id, qty="3")

    # One set now, the rest later: the reservation shrinks with each issue.
    issue_parts(wos, wo_id, line, qty="1")
    assert stock_of(app) == {"on_hand": "4", "reserved": "2", "available": "2", "on_order": "0"}
    with pytest.raises(WorkOrderError, match="needs only 2 more") as too_many:
        wos.issue_part(clerk(), wo_id, line, qty="3")
    assert too_many.value.extra["outstanding"] == "2"
    issue_parts(wos, wo_id, line)
    assert stock_of(app) == {"on_hand": "2", "reserved": "0", "available": "2", "on_order": "0"}
    assert load(app, wo_id).unissued_lines() == []


def test_the_second_clerk_racing_for_the_last_unit_is_told_what_is_available(
        app: ServiceCore, wos: WorkOrders, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two cars need pads the store has never stocked: both lines are special orders.
    register_part(app)
    mine, theirs = checked_in(wos), checked_in(wos)
    my_line, supply = part_line_approved(wos, mine)
    their_line, _ = part_line_approved(wos, theirs)
    assert supply == "special_order"

    # One set arrives. Two clerks grab it at the same moment: between the first clerk's decision
    # and its save, the second clerk's issue is stored.
    stock_part(app, PADS, "1")
    original = StockItem.issue
    calls: list[int] = []

    def second_clerk_is_faster(self: StockItem, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.version)
        if len(calls) == 1:
            locks, app.stream_locks = app.stream_locks, StreamLocks()  # another process
            try:
                wos.issue_part(clerk("clerk-2"), theirs, their_line)
            finally:
                app.stream_locks = locks
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StockItem, "issue", second_clerk_is_faster)
    mine_before = load(app, mine).version
    with pytest.raises(InsufficientStock) as lost:
        wos.issue_part(clerk("clerk-1"), mine, my_line)
    monkeypatch.undo()

    # The first decision lost on the stream version; decided again, it finds nothing left.
    assert lost.value.extra["available"] == "0"
    assert lost.value.extra["part_number"] == PADS
    assert len(calls) == 3  # mine, theirs, mine again on the fresh stream
    issues = [e for e in events_of(app, StockItem.create_id("S01", PADS))
              if type(e).__name__ == "Issued"]
    assert [e.key for e in issues] == [WorkOrder.stock_key(theirs, their_line)]
    assert stock_of(app)["on_hand"] == "0"
    assert load(app, mine).version == mine_before
    assert load(app, mine).lines[my_line]["issued_qty"] == 0
    assert load(app, theirs).lines[their_line]["issued_qty"] == 1


def test_a_refusal_on_the_stock_side_stores_nothing_on_either_stream(
        app: ServiceCore, wos: WorkOrders) -> None:
    stock_part(app, PADS, "2")
    first = checked_in(wos)
    reserved, _ = part_line_approved(wos, first, qty="2")
    second = checked_in(wos)
    wanted, supply = part_line_approved(wos, second, qty="1")
    assert supply == "back_order"  # both sets are reserved for the first car
    versions = (load(app, second).version, load_stock(app).version)

    # The clerk tries to issue the second car's set from the first car's reservation.
    before = app.recorder.max_notification_id()
    with pytest.raises(InsufficientStock) as refused:
        wos.issue_part(clerk(), second, wanted)
    assert refused.value.extra["available"] == "0"
    assert app.recorder.max_notification_id() == before
    assert (load(app, second).version, load_stock(app).version) == versions
    assert load(app, second).lines[wanted]["issued_qty"] == 0
    assert load_stock(app).reserved == {WorkOrder.stock_key(first, reserved): Decimal(2)}

    # A part nobody stocks in the store cannot be issued either; still nothing stored.
    special, supply = part_line_approved(wos, second, part_number=DISC, unit_price="620.00")
    assert supply == "special_order"
    before = app.recorder.max_notification_id()
    with pytest.raises(InsufficientStock):
        wos.issue_part(clerk(), second, special)
    assert app.recorder.max_notification_id() == before


def test_a_return_opens_a_lot_the_item_no_longer_keeps_at_its_cost(
        app: ServiceCore, wos: WorkOrders, inv: Inventory) -> None:
    register_part(app)
    inv.receive(clerk(), "S01", PADS, qty="2", unit_cost="200.00", supplier=FAW,
                supplier_doc="DN-old", cert_ref="CCC-old")
    wo_id = checked_in(wos)
    line, _ = part_line_approved(wos, wo_id, qty="2")
    issue_parts(wos, wo_id, line)  # lot 1 used up by this job
    # Weeks of other deliveries used up meanwhile (scrapped here, for brevity).
    for n in range(EXHAUSTED_KEPT + 1):
        inv.receive(clerk(), "S01", PADS, qty="1", unit_cost="215.00", supplier=FAW,
                    supplier_doc=f"DN-{n}")
        inv.scrap(clerk(), "S01", PADS, qty="1", reason="damaged in transit",
                  lot_id=lot_id(PADS, n + 2))
    inv.receive(clerk(), "S01", PADS, qty="3", unit_cost="230.00", supplier=FAW,
                supplier_doc="DN-new")
    assert lot_id(PADS, 1) not in load_stock(app).lots
    # One set comes back: into lot 1, at its 200.00, first in FIFO order again.
    wos.return_part(clerk(), wo_id, line, qty="1", reason="only one side needed")
    item = load_stock(app)
    lot = item.open_lots[lot_id(PADS, 1)]
    assert (lot["on_hand"], lot["unit_cost"], lot["supplier_doc"], lot["cert_ref"]) == (
        Decimal(1), Decimal("200.00"), "DN-old", "CCC-old")
    assert next(iter(item.open_lots)) == lot_id(PADS, 1)
    assert (item.on_hand, item.fifo_value) == (Decimal(4), Decimal("890.00"))
    assert [(p["lot_id"], p["qty"]) for p in load(app, wo_id).lines[line]["picks"]] == [
        (lot_id(PADS, 1), Decimal(1))]


def test_returned_parts_go_back_into_the_lots_they_came_from(app: ServiceCore,
                                                             wos: WorkOrders,
                                                             inv: Inventory) -> None:
    # One old set at 200.00, then a delivery of five at 215.00.
    register_part(app)
    inv.receive(clerk(), "S01", PADS, qty="1", unit_cost="200.00", supplier=FAW,
                supplier_doc="DN-1")
    inv.receive(clerk(), "S01", PADS, qty="5", unit_cost="215.00", supplier=FAW,
                supplier_doc="DN-2")
    wo_id = checked_in(wos)
    line, _ = part_line_approved(wos, wo_id, qty="3")

    # Three sets issued, oldest first: one from the old lot, two from the new one.
    issued = issue_parts(wos, wo_id, line)
    assert issued["cost"] == "630.00"
    assert [(p["lot_id"], p["qty"]) for p in issued["picks"]] == [
        (lot_id(PADS, 1), "1"), (lot_id(PADS, 2), "2")]

    # Returning more than was issued is refused.
    before = events_stored(app)
    with pytest.raises(WorkOrderError, match="only 3 was issued"):
        wos.return_part(clerk(), wo_id, line, qty="4", reason="not needed")
    assert events_stored(app) == before

    # Two sets come back unused: the last taken go back first, each into its own lot.
    returned = wos.return_part(clerk(), wo_id, line, qty="2", reason="only the front axle")
    assert returned.body["returned_qty"] == "2"
    lots = load_stock(app).lots
    assert (lots[lot_id(PADS, 1)]["on_hand"], lots[lot_id(PADS, 2)]["on_hand"]) == (0, 5)
    wos.return_part(clerk(), wo_id, line, qty="1", reason="customer declined after all")
    lots = load_stock(app).lots
    assert (lots[lot_id(PADS, 1)]["on_hand"], lots[lot_id(PADS, 2)]["on_hand"]) == (1, 5)

    # The line and the stock agree: nothing issued any more, at no cost.
    wo_line = load(app, wo_id).lines[line]
    assert (wo_line["issued_qty"], wo_line["issued_cost"]) == (0, Decimal("0.00"))
    assert wo_line["picks"] == []
    assert stock_of(app)["on_hand"] == "6"
    returns = [e for e in events_of(app, wo_id) if type(e).__name__ == "PartsReturned"]
    assert [e.cost for e in returns] == [Decimal("430.00"), Decimal("200.00")]


def test_a_partial_return_leaves_the_line_holding_what_it_needs(app: ServiceCore,
                                                                   wos: WorkOrders) -> None:
    stock_part(app, PADS, "5")
    wo_id = checked_in(wos)
    line, _ = part_line_approved(wos, wo_id, qty="3")
    key = WorkOrder.stock_key(wo_id, line)

    # Two sets issued (one still reserved), then one comes back: the wrong axle's.
    issue_parts(wos, wo_id, line, qty="2")
    returned = wos.return_part(clerk(), wo_id, line, qty="1", reason="rear axle set, wrong one")
    assert returned.body["supply"] == "reserved"

    # The line lacks two sets and holds two: what it needs is what it holds, on both sides.
    wo_line = load(app, wo_id).lines[line]
    assert (wo_line["qty"], wo_line["issued_qty"]) == (3, 1)
    assert (wo_line["supply"], wo_line["reserved_qty"]) == ("reserved", 2)
    assert load_stock(app).reserved == {key: Decimal(2)}
    assert stock_of(app) == {"on_hand": "4", "reserved": "2", "available": "2", "on_order": "0"}

    # The clerk issues what the line still needs; nothing stays reserved or lacking.
    assert issue_parts(wos, wo_id, line)["issued_qty"] == "2"
    assert load_stock(app).reserved == {}
    assert load(app, wo_id).unissued_lines() == []


def test_a_return_after_qc_asks_only_for_what_can_still_be_done(app: ServiceCore,
                                                                 wos: WorkOrders) -> None:
    stock_part(app, PADS, "4")
    wo_id = checked_in(wos)
    approved_job(wos, wo_id)
    line, _ = part_line_approved(wos, wo_id, qty="2")
    zhao = request("technician", "tech-zhao")
    issue_parts(wos, wo_id, line)
    wos.clock_on(zhao, wo_id, 1)
    wos.clock_off(zhao, wo_id, 1)
    wos.complete_job(zhao, wo_id, 1)
    assert wos.quality_check(manager(), wo_id, 1, passed=True).body["status"] == (
        "ready_for_settlement")

    # One set was not fitted after all; it goes back on the shelf after QC.
    returned = wos.return_part(clerk(), wo_id, line, qty="1", reason="only one set fitted")
    assert (returned.body["status"], "supply" in returned.body) == ("in_progress", False)
    # Nothing is held for a job past QC, and the visit waits for the rest to be withdrawn
    # (issuing to that job is refused; the line still has a set on the car, so it stays).
    assert load_stock(app).reserved == {}
    assert load(app, wo_id).lines[line]["reserved_qty"] == 0
    assert load(app, wo_id).blockers() == [(
        f"part line {line} is not fully issued since parts were returned after job 1 passed QC "
        "(withdraw the rest)")]
    with pytest.raises(WorkOrderError, match="passed QC"):
        issue_parts(wos, wo_id, line)
    withdrawn = wos.withdraw_line(request(), wo_id, line, reason="one set fitted")
    assert withdrawn.body == {**withdrawn.body, "withdrawn_qty": "1",
                              "status": "ready_for_settlement"}


def test_unissued_parts_hold_the_visit_until_moved_to_a_follow_on_work_order(
        app: ServiceCore, wos: WorkOrders, inv: Inventory) -> None:
    # Brake job: labor plus a disc that is not in stock (back-ordered), plus pads in stock.
    register_part(app, DISC, name="front brake disc", unit="pc", list_price="620.00")
    stock_part(app, PADS, "2")
    wo_id = checked_in(wos)
    wos.add_labor_line(request(), wo_id, 1, labor())
    wos.authorize_line(request(), wo_id, "L1", decision="approved", channel="phone")
    disc, supply = part_line_approved(wos, wo_id, part_number=DISC, unit_price="620.00")
    assert supply == "special_order"
    pads, supply = part_line_approved(wos, wo_id, qty="1")
    assert supply == "reserved"

    # Zhao replaces the pads (issued) but the disc is missing: the job cannot be reported done.
    zhao = request("technician", "tech-zhao")
    on_roster(app, "tech-zhao")
    wos.dispatch(request("manager"), wo_id, 1, technician_id="tech-zhao")
    wos.clock_on(zhao, wo_id, 1)
    wos.clock_off(zhao, wo_id, 1)
    issue_parts(wos, wo_id, pads)
    with pytest.raises(WorkOrderError, match="issue the parts first") as held:
        wos.complete_job(zhao, wo_id, 1)
    assert held.value.extra["lines"] == [disc]
    assert any(f"part line {disc}" in reason for reason in load(app, wo_id).blockers())

    # The customer will come back for the disc: it moves to a follow-on work order.
    with pytest.raises(InvalidInput, match="reason"):
        wos.move_to_follow_on(request(), wo_id, line_ids=[disc], reason="")
    with pytest.raises(WorkOrderError, match="issued parts"):
        wos.move_to_follow_on(request(), wo_id, line_ids=[pads], reason="come back later")
    moved = wos.move_to_follow_on(request(), wo_id, line_ids=[disc],
                                  reason="disc arrives next week")
    follow_on_id = UUID(moved.body["follow_on"]["id"])
    assert moved.body["follow_on"]["number"] == "WO-S01-2026-000002"

    original, follow_on = load(app, wo_id), load(app, follow_on_id)
    assert (original.lines[disc]["status"], original.lines[disc]["moved_to"]) == (
        "moved", "WO-S01-2026-000002")
    assert original.totals()["customer"]["parts"] == Decimal("450.00")  # the pads only
    assert follow_on.vehicle == original.vehicle
    assert follow_on.vehicle["vin"] == VEHICLE["vin"]
    assert follow_on.customer_id == original.customer_id
    assert follow_on.follow_on_of == original.number
    assert follow_on.status == "opened"
    assert [(ln["part_number"], ln["status"], ln["moved_from"], ln["issued_qty"])
            for ln in follow_on.lines.values()] == [(DISC, "approved", original.number, 0)]
    assert follow_on.jobs[1]["complaint"] == original.jobs[1]["complaint"]

    # Now the job is reported done, passes QC, and the visit is ready for settlement.
    wos.complete_job(zhao, wo_id, 1)
    passed = wos.quality_check(request("manager", "qc-1"), wo_id, 1, passed=True)
    assert passed.body["status"] == "ready_for_settlement"
    assert load(app, wo_id).blockers() == []

    # Next week the disc arrives; the follow-on reserves it.
    stock_part(app, DISC, "1", unit_cost="380.00")
    follow_line = next(iter(follow_on.lines))
    assert wos.reserve_line(request(), follow_on_id, follow_line).body["supply"] == "reserved"
    assert stock_of(app, DISC)["available"] == "0"
    with pytest.raises(WorkOrderError, match="already holds a reservation"):
        wos.reserve_line(request(), follow_on_id, follow_line)


def test_moving_a_reserved_line_releases_its_reservation(app: ServiceCore,
                                                         wos: WorkOrders) -> None:
    stock_part(app, PADS, "4")
    wo_id = checked_in(wos)
    line, _ = part_line_approved(wos, wo_id, qty="2")
    assert stock_of(app)["available"] == "2"

    wos.move_to_follow_on(request(), wo_id, line_ids=[line], reason="customer short of time")
    assert stock_of(app) == {"on_hand": "4", "reserved": "0", "available": "4", "on_order": "0"}
    assert load(app, wo_id).lines[line]["reserved_qty"] == 0


def test_a_line_moved_after_its_parts_came_back_holds_no_picks_on_the_follow_on(
        app: ServiceCore, wos: WorkOrders) -> None:
    stock_part(app, PADS, "4")
    wo_id = checked_in(wos)
    line, _ = part_line_approved(wos, wo_id, qty="2")
    issue_parts(wos, wo_id, line)
    wos.return_part(clerk(), wo_id, line, qty="2", reason="wrong axle")
    assert load(app, wo_id).lines[line]["picks"] == []
    moved = wos.move_to_follow_on(request(), wo_id, line_ids=[line], reason="come back later")
    follow_on = load(app, UUID(moved.body["follow_on"]["id"]))
    (copied,) = follow_on.lines.values()
    assert copied["issued_qty"] == 0 and "picks" not in copied
    # Issued and returned there, the units go back into the lot the follow-on took them from.
    issue_parts(wos, follow_on.id, copied["line_id"], qty="1")
    wos.return_part(clerk(), follow_on.id, copied["line_id"], qty="1", reason="not needed")
    assert stock_of(app)["on_hand"] == "4"


def test_withdrawing_a_line_releases_what_it_still_held(app: ServiceCore,
                                                        wos: WorkOrders) -> None:
    stock_part(app, PADS, "5")
    wo_id = checked_in(wos)
    line, _ = part_line_approved(wos, wo_id, qty="3")
    issue_parts(wos, wo_id, line, qty="1")
    assert stock_of(app) == {"on_hand": "4", "reserved": "2", "available": "2", "on_order": "0"}

    # The customer keeps the one set fitted and does not want the other two.
    with pytest.raises(InvalidInput, match="reason"):
        wos.withdraw_line(request(), wo_id, line, reason=None)
    withdrawn = wos.withdraw_line(request(), wo_id, line, reason="only one axle after all")
    assert withdrawn.body["withdrawn_qty"] == "2"
    assert stock_of(app) == {"on_hand": "4", "reserved": "0", "available": "4", "on_order": "0"}
    kept = load(app, wo_id).lines[line]
    assert (kept["qty"], kept["gross"], kept["status"]) == (Decimal(1), Decimal("450.00"),
                                                           "approved")
    assert load(app, wo_id).unissued_lines() == []

    # A line nothing was issued to is withdrawn whole: declined, nothing held.
    other, _ = part_line_approved(wos, wo_id, qty="2")
    assert stock_of(app)["reserved"] == "2"
    wos.withdraw_line(request(), wo_id, other, reason="customer buys them elsewhere")
    assert load(app, wo_id).lines[other]["status"] == "declined"
    assert stock_of(app)["reserved"] == "0"

    # A fully issued line cannot be withdrawn: return the parts first.
    with pytest.raises(WorkOrderError, match="fully issued"):
        wos.withdraw_line(request(), wo_id, line, reason="changed mind")


def test_cancelling_needs_the_issued_parts_back_and_then_releases_reservations(
        app: ServiceCore, wos: WorkOrders) -> None:
    stock_part(app, PADS, "5")
    wo_id = checked_in(wos)
    fitted, _ = part_line_approved(wos, wo_id, qty="1")
    spare, _ = part_line_approved(wos, wo_id, qty="2")
    issue_parts(wos, wo_id, fitted)
    assert stock_of(app) == {"on_hand": "4", "reserved": "2", "available": "2", "on_order": "0"}

    # The customer takes the car elsewhere: not while a set is still issued to it.
    before = events_stored(app)
    with pytest.raises(WorkOrderError, match="return the issued parts first"):
        wos.cancel(request(), wo_id, reason="customer takes the car elsewhere")
    assert events_stored(app) == before

    # The set comes back off the car (held for its line again, which lacks it now); the
    # cancellation then ends every reservation in one save.
    wos.return_part(clerk(), wo_id, fitted, qty="1", reason="work order cancelled")
    assert stock_of(app)["reserved"] == "3"
    item_id = StockItem.create_id("S01", PADS)
    before = events_stored(app)
    wos.cancel(request(), wo_id, reason="customer takes the car elsewhere")
    assert stored_since(app, before) == Counter({(wo_id, "Cancelled"): 1,
                                                 (item_id, "Released"): 2})
    assert load(app, wo_id).status == "cancelled"
    assert stock_of(app) == {"on_hand": "5", "reserved": "0", "available": "5", "on_order": "0"}
    released = events_of(app, item_id)[-2:]
    assert {e.key for e in released} == {WorkOrder.stock_key(wo_id, line)
                                         for line in (fitted, spare)}
    assert all("cancelled" in e.reason for e in released)


def test_a_purchase_order_holds_at_most_max_lines() -> None:
    """Lines added one by one to a draft stopped nowhere, and each command loads, copies and
    saves the whole order."""
    audit = clerk().caller.audit("S01")
    lines = [order_line(n, {"part_number": f"P{n:04d}", "qty": "1", "unit_cost": "2.00"})
             for n in range(1, MAX_LINES)]
    order = PurchaseOrder(audit=audit, number="PO-S01-2026-000009", supplier=FAW, lines=lines,
                          source="manual")
    assert order.add_line(audit, {"part_number": "LAST", "qty": "1", "unit_cost": "2.00"}) == \
        MAX_LINES
    with pytest.raises(InvalidInput, match=f"at most {MAX_LINES} lines"):
        order.add_line(audit, {"part_number": "ONE-MORE", "qty": "1", "unit_cost": "2.00"})
    assert len(order.lines) == MAX_LINES
