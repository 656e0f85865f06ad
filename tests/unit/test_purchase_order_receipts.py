"""A supplier's over-delivery on a purchase-order line: refused without a reason, naming what
is outstanding; booked with one; a receipt stored before receipts had the reason reads None."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from eventsourcing.persistence import StoredEvent

from domain.application import ServiceCore
from domain.common import Audit
from domain.purchase_order import PurchaseOrder, PurchaseOrderError, order_line

CLERK = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, 2, 30, tzinfo=UTC), "corr-1")
MAPPER = ServiceCore().mapper


def sent_order() -> PurchaseOrder:
    order = PurchaseOrder(audit=CLERK, number="PO-S01-2026-000001", supplier="Bosch",
                          lines=[order_line(1, {"part_number": "5Q0698151", "qty": "10",
                                                "unit_cost": "300.00"})], source="manual")
    order.send(CLERK)
    return order


def test_more_than_outstanding_needs_a_reason_and_then_shows_on_the_line() -> None:
    order = sent_order()
    order.receive(CLERK, 1, Decimal(4), "S01-5Q0698151-1", "DN-1", Decimal("300.00"))
    for reason in (None, "  "):
        with pytest.raises(PurchaseOrderError) as refused:
            order.receive(CLERK, 1, Decimal(8), "S01-5Q0698151-2", "DN-2", Decimal("300.00"),
                          reason)
        assert refused.value.extra["outstanding"] == "6"
    assert order.lines[1]["received_qty"] == 4
    order.receive(CLERK, 1, Decimal(8), "S01-5Q0698151-2", "DN-2", Decimal("300.00"),
                  " pack of 8 ")
    assert (order.lines[1]["received_qty"], order.status) == (12, "received")
    received = order.collect_events()[-1]
    assert isinstance(received, PurchaseOrder.LineReceived)
    assert received.over_delivery_reason == "pack of 8"


def test_a_later_over_delivery_on_a_received_order_is_booked_with_a_reason() -> None:
    order = sent_order()
    order.receive(CLERK, 1, Decimal(10), "S01-5Q0698151-1", "DN-1", Decimal("300.00"))
    assert order.status == "received"
    # Two more arrive a week later: nothing is outstanding, so only with a reason.
    with pytest.raises(PurchaseOrderError) as refused:
        order.receive(CLERK, 1, Decimal(2), "S01-5Q0698151-2", "DN-2", Decimal("300.00"))
    assert refused.value.extra["outstanding"] == "0"
    order.receive(CLERK, 1, Decimal(2), "S01-5Q0698151-2", "DN-2", Decimal("300.00"),
                  "sent by mistake; kept at the order's price")
    assert (order.lines[1]["received_qty"], order.status) == (12, "received")
    assert [r["lot_id"] for r in order.lines[1]["receipts"]] == [
        "S01-5Q0698151-1", "S01-5Q0698151-2"]


@pytest.mark.parametrize("status", ["closed", "cancelled", "draft"])
def test_an_order_closed_cancelled_or_unsent_takes_no_delivery_and_says_why(status: str) -> None:
    order = sent_order() if status == "closed" else PurchaseOrder(
        audit=CLERK, number="PO-S01-2026-000002", supplier="Bosch",
        lines=[order_line(1, {"part_number": "5Q0698151", "qty": "10",
                              "unit_cost": "300.00"})], source="manual")
    if status == "closed":
        order.receive(CLERK, 1, Decimal(10), "S01-5Q0698151-1", "DN-1", Decimal("300.00"))
        order.close(CLERK, None)
    elif status == "cancelled":
        order.cancel(CLERK, "ordered twice")
    with pytest.raises(PurchaseOrderError) as refused:
        order.receive(CLERK, 1, Decimal(2), "S01-5Q0698151-9", "DN-9", Decimal("300.00"),
                      "pack of 12")
    assert refused.value.extra["order_status"] == status
    assert f"is {status}" in str(refused.value)


def test_a_receipt_stored_as_version_2_reads_without_an_over_delivery_reason() -> None:
    order = sent_order()
    order.receive(CLERK, 1, Decimal(4), "S01-5Q0698151-1", "DN-1", Decimal("300.00"))
    old = []
    for event in order.collect_events():
        stored = MAPPER.to_stored_event(event)
        if isinstance(event, PurchaseOrder.LineReceived):
            v2 = json.loads(stored.state)
            assert v2.pop("over_delivery_reason") is None and v2["class_version"] == 3
            v2["class_version"] = 2
            stored = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                                 json.dumps(v2).encode())
        old.append(MAPPER.to_domain_event(stored))
    assert isinstance(old[-1], PurchaseOrder.LineReceived)
    assert old[-1].over_delivery_reason is None
    replayed = None
    for event in old:
        replayed = event.mutate(replayed)  # type: ignore[attr-defined]
    assert isinstance(replayed, PurchaseOrder) and replayed.lines[1]["received_qty"] == 4
