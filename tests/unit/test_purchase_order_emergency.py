"""An emergency purchase is a purchase-order line flagged `emergency`: kept on the line when
drafted or added; an order stored before the flag reads as not emergency, line by line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from eventsourcing.persistence import StoredEvent

from domain.application import ServiceCore
from domain.common import Audit
from domain.purchase_order import PurchaseOrder, order_line

CLERK = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, 2, 30, tzinfo=UTC), "corr-1")
MAPPER = ServiceCore().mapper
PADS = {"part_number": "5Q0698151", "qty": "2", "unit_cost": "300.00"}


def drafted() -> PurchaseOrder:
    order = PurchaseOrder(audit=CLERK, number="PO-S01-2026-000001", supplier="Bosch",
                          lines=[order_line(1, {**PADS, "emergency": True})], source="manual")
    order.add_line(CLERK, {"part_number": "WHT003858", "qty": "1", "unit_cost": "12.00"})
    return order


def test_the_flag_is_kept_per_line_and_only_true_flags() -> None:
    order = drafted()
    assert [order.lines[n]["emergency"] for n in (1, 2)] == [True, False]
    # only a true boolean flags: "yes" or 1 is never taken for one (the API refuses them)
    assert order_line(1, {**PADS, "emergency": "yes"})["emergency"] is False


def test_an_order_stored_before_the_flag_reads_as_not_emergency() -> None:
    old = []
    for event in drafted().collect_events():
        stored = MAPPER.to_stored_event(event)
        state = json.loads(stored.state)
        assert state["class_version"] == (3 if "lines" in state else 2)  # Drafted: v3
        state["class_version"] = 1
        state.pop("expected_on", None)
        for line in state.get("lines", []) + ([state["line"]] if "line" in state else []):
            del line["emergency"]
        old.append(MAPPER.to_domain_event(StoredEvent(
            stored.originator_id, stored.originator_version, stored.topic,
            json.dumps(state).encode())))
    replayed = None
    for event in old:
        replayed = event.mutate(replayed)  # type: ignore[attr-defined]
    assert isinstance(replayed, PurchaseOrder)
    assert [replayed.lines[n]["emergency"] for n in (1, 2)] == [False, False]
