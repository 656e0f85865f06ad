"""The day the supplier is expected to deliver an order: given when drafting or later, moved
only with a reason, never to a day already past, and only while the supplier owes the order
something; an order drafted before the day was kept reads as having none."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from eventsourcing.persistence import StoredEvent

from domain.application import ServiceCore
from domain.common import Audit, InvalidInput
from domain.purchase_order import PurchaseOrder, PurchaseOrderError, expected_day, order_line

CLERK = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, 2, 30, tzinfo=UTC), "corr-1")
TODAY = date(2026, 5, 1)
MAPPER = ServiceCore().mapper
PADS = {"part_number": "5Q0698151", "qty": "2", "unit_cost": "300.00"}


def drafted(expected_on: str | None = "2026-05-08") -> PurchaseOrder:
    return PurchaseOrder(audit=CLERK, number="PO-S01-2026-000001", supplier="Bosch",
                         lines=[order_line(1, PADS)], source="manual", expected_on=expected_on)


def test_a_day_given_later_needs_no_reason_and_a_moved_one_does() -> None:
    order = drafted(None)
    order.expect(CLERK, date(2026, 5, 8), None, TODAY)
    assert order.expected_on == "2026-05-08"
    with pytest.raises(InvalidInput) as missing:
        order.expect(CLERK, date(2026, 5, 12), "  ", TODAY)
    assert missing.value.extra["field"] == "reason"
    order.expect(CLERK, date(2026, 5, 12), "supplier's warehouse short", TODAY)
    changed = [e for e in order.collect_events() if isinstance(e, PurchaseOrder.ExpectedDateChanged)]
    assert [(e.expected_on, e.previous, e.reason) for e in changed] == [
        ("2026-05-08", None, None), ("2026-05-12", "2026-05-08", "supplier's warehouse short")]


def test_a_past_day_the_same_day_or_a_finished_order_is_refused() -> None:
    with pytest.raises(InvalidInput) as past:
        expected_day(date(2026, 4, 30), TODAY)
    assert past.value.extra["field"] == "expected_on"
    assert expected_day(TODAY, TODAY) == "2026-05-01"  # today itself is still to come
    order = drafted()
    with pytest.raises(PurchaseOrderError):
        order.expect(CLERK, date(2026, 5, 8), "again", TODAY)
    order.send(CLERK)
    order.receive(CLERK, 1, order.outstanding(1), "LOT-1", "DN-1", order.line(1)["unit_cost"])
    assert order.status == "received"
    with pytest.raises(PurchaseOrderError):
        order.expect(CLERK, date(2026, 5, 20), "late anyway", TODAY)


def test_an_order_drafted_before_the_day_was_kept_has_none() -> None:
    [event] = drafted().collect_events()
    stored = MAPPER.to_stored_event(event)
    state = json.loads(stored.state)
    assert (state["class_version"], state["expected_on"]) == (3, "2026-05-08")
    state["class_version"] = 2
    del state["expected_on"]
    old = MAPPER.to_domain_event(StoredEvent(stored.originator_id, stored.originator_version,
                                             stored.topic, json.dumps(state).encode()))
    replayed = old.mutate(None)  # type: ignore[attr-defined]
    assert isinstance(replayed, PurchaseOrder) and replayed.expected_on is None
