"""The coverage deductible on a warranty line and the sublet of a labor line: checked where the
line is made, read back as `None` from a line stored before lines had them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.application import ServiceCore
from domain.common import Audit, InvalidInput
from domain.integration_payloads import PAYLOADS
from domain.work_order import WorkOrder
from domain.work_order_lines import labor_line, part_line

ADVISOR = Audit("adv-1", "advisor", "S01", datetime(2026, 5, 1, 2, 30, tzinfo=UTC), "corr-1")
MAPPER = ServiceCore().mapper


def warranty(deductible: object = None) -> dict[str, object]:
    return {"pay_type": "warranty", "description": "replace solenoid",
            "warranty": {"coverage_code": "EXT-5Y", "deductible": deductible}}


def test_a_deductible_is_money_within_the_line_price() -> None:
    labor = {"op_code": "TRN-SOL", "hours": "2", "hourly_rate": "300.00"}
    assert labor_line("L1", 1, {**labor, **warranty("100.00")})["warranty"]["deductible"] \
        == Decimal("100.00")
    assert labor_line("L1", 1, {**labor, **warranty("0")})["warranty"]["deductible"] is None
    assert labor_line("L1", 1, {**labor, **warranty()})["warranty"]["deductible"] is None
    for bad in ("600.01", "-1.00", "1.005", "abc"):
        with pytest.raises(InvalidInput):
            labor_line("L1", 1, {**labor, **warranty(bad)})
    with pytest.raises(InvalidInput):  # 2 pumps at 80.00 leave at most 160.00
        part_line("L2", 1, {"part_number": "p-1", "qty": "2", "unit_price": "80.00",
                            **warranty("160.01")})


def test_a_sublet_names_the_outside_shop_its_invoice_and_cost() -> None:
    glass = {"op_code": "SUB-GLASS", "description": "windscreen (outside shop)", "hours": "1",
             "hourly_rate": "1500.00"}
    line = labor_line("L1", 1, {**glass, "sublet": {"supplier": " Shanghai Auto Glass ",
                                                    "invoice_ref": "INV-88123",
                                                    "cost": "1200.00"}})
    assert line["sublet"] == {"supplier": "Shanghai Auto Glass", "invoice_ref": "INV-88123",
                              "cost": Decimal("1200.00")}
    assert labor_line("L1", 1, glass)["sublet"] is None
    for bad in ({"supplier": "", "invoice_ref": "I", "cost": "1"},
                {"supplier": "S", "invoice_ref": " ", "cost": "1"},
                {"supplier": "S", "invoice_ref": "I", "cost": "-1"}):
        with pytest.raises(InvalidInput):
            labor_line("L1", 1, {**glass, "sublet": bad})


def test_a_line_stored_before_deductibles_and_sublets_reads_with_none() -> None:
    wo = WorkOrder(audit=ADVISOR, number="WO-S01-2026-000001", customer_id=uuid4(),
                   customer={}, vehicle={"vin": "LSVAU218XN2183294"}, mileage=1000,
                   kind="warranty", appointment_id=None, complaints=["transmission slips"])
    wo.add_line(ADVISOR, labor_line("L1", 1, {"op_code": "TRN-SOL", "hours": "2",
                                              "hourly_rate": "300.00", **warranty("100.00")}))
    old = []
    for event in wo.collect_events():
        stored = MAPPER.to_stored_event(event)
        if isinstance(event, WorkOrder.LineAdded):
            # the line as version 1 stored it: no class_version, no deductible
            v1 = json.loads(stored.state)
            assert v1.pop("class_version") == 2
            v1["line"]["warranty"].pop("deductible")
            assert v1["line"].pop("sublet") is None
            stored = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                                 json.dumps(v1).encode())
        old.append(MAPPER.to_domain_event(stored))
    added = old[-1]
    assert isinstance(added, WorkOrder.LineAdded)
    assert added.line["warranty"]["deductible"] is None
    replayed = None
    for event in old:
        replayed = event.mutate(replayed)  # type: ignore[attr-defined]
    assert isinstance(replayed, WorkOrder)
    assert replayed.lines["L1"]["warranty"]["deductible"] is None
    assert replayed.lines["L1"]["sublet"] is None


def test_the_integration_event_of_a_sublet_line_leaves_its_cost_out() -> None:
    wo = WorkOrder(audit=ADVISOR, number="WO-S01-2026-000002", customer_id=uuid4(),
                   customer={}, vehicle={"vin": "LSVAU218XN2183294"}, mileage=1000,
                   kind="repair", appointment_id=None, complaints=["windscreen cracked"])
    wo.add_line(ADVISOR, labor_line("L1", 1, {
        "op_code": "SUB-GLASS", "description": "windscreen", "hours": "1",
        "hourly_rate": "1500.00", "sublet": {"supplier": "Shanghai Auto Glass",
                                             "invoice_ref": "INV-88123", "cost": "1200.00"}}))
    added = list(wo.collect_events())[-1]
    payload = PAYLOADS["WorkOrder"]["LineAdded"](added)
    assert payload["line"]["sublet"] == {"supplier": "Shanghai Auto Glass",
                                         "invoice_ref": "INV-88123"}
    assert payload["line"]["gross"] == Decimal("1500.00")
