"""The customer changes their mind on the estimate at the desk: a line they approved, then do
not want after all (or declined, then want), while the job's work is not done. The decision
was final once taken: an approved labor line could only be repriced to 0.00 by a manager, and
then stayed on the bill, the repair record and the technician's sold hours as work done."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import get, new_part, post
from tests.integration.audit_support import new_vin
from tests.integration.support import on_roster

Auth = Callable[..., dict[str, str]]
PADS = {"op_code": "BRK-PAD", "description": "replace front pads", "hours": "1.5",
        "hourly_rate": "300.00"}
CLEAN = {"op_code": "BRK-CLEAN", "description": "clean calipers", "hours": "0.5",
         "hourly_rate": "300.00"}
PHONE = {"decision": "approved", "channel": "phone"}


def _visit(client: TestClient, advisor: dict[str, str], store_id: str) -> str:
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "陈静", "phone": "13912345678"},
        "vehicle": {"vin": new_vin(), "plate": "沪A12345"}, "mileage": 42000,
        "complaints": ["brake noise"]}, 201)
    post(client, f"/work-orders/{opened['id']}/check-in", advisor,
         {"mileage_in": 42010, "fuel_level": 40})
    return f"/work-orders/{opened['id']}"


def _line(doc: dict[str, Any], line_id: str) -> dict[str, Any]:
    return next(line for line in doc["lines"] if line["line_id"] == line_id)


def test_an_approved_labor_line_the_customer_no_longer_wants_leaves_the_bill(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    tech = auth("technician", "tech-" + store_id, [store_id])
    on_roster(client, manager, store_id, "tech-" + store_id)
    wo = _visit(client, advisor, store_id)
    pads = post(client, f"{wo}/jobs/1/labor-lines", advisor, PADS)["line_id"]
    clean = post(client, f"{wo}/jobs/1/labor-lines", advisor, CLEAN)["line_id"]
    for line in (pads, clean):
        post(client, f"{wo}/lines/{line}/authorization", advisor, PHONE)
    before = post(client, f"{wo}/jobs/1/dispatch", manager,
                  {"technician_id": "tech-" + store_id})["version"]

    # She calls back: no caliper cleaning after all. Without a note of why: 422, nothing stored.
    refused = client.post(f"{wo}/lines/{clean}/authorization", headers=advisor,
                          json={"decision": "declined", "channel": "phone"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "note", refused.text
    changed = post(client, f"{wo}/lines/{clean}/authorization", advisor, {
        "decision": "declined", "channel": "phone", "note": "customer called: no cleaning"})
    assert changed["version"] == before + 1
    doc = get(client, wo, advisor, wait_for=changed["notification_id"])
    assert _line(doc, clean)["status"] == "declined"
    assert _line(doc, clean)["authorization"]["note"] == "customer called: no cleaning"
    assert doc["totals"]["customer"]["total"] == "450.00"
    # The same decision again is still a conflict.
    again = client.post(f"{wo}/lines/{clean}/authorization", headers=advisor, json={
        "decision": "declined", "channel": "phone", "note": "customer called: no cleaning"})
    assert again.status_code == 409, again.text

    # The work is done and passes QC: the bill charges the pads' labor alone.
    post(client, f"{wo}/jobs/1/clock-on", tech)
    post(client, f"{wo}/jobs/1/clock-off", tech)
    post(client, f"{wo}/jobs/1/complete", tech)
    # Once the job is done its lines' decisions stand.
    late = client.post(f"{wo}/lines/{pads}/authorization", headers=advisor, json={
        "decision": "declined", "channel": "phone", "note": "too late for that"})
    assert late.status_code == 409, late.text
    assert post(client, f"{wo}/jobs/1/quality-check", manager,
                {"passed": True})["status"] == "ready_for_settlement"
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo.rsplit("/", 1)[1]}, 201)
    assert drafted["bills"]["customer"]["total"] == "450.00"
    bill = get(client, f"/settlements/{drafted['id']}", cashier,
               wait_for=drafted["notification_id"])["bills"]["customer"]
    assert [line["line_id"] for line in bill["lines"]] == [pads]


def test_a_declined_line_the_customer_wants_after_all_is_approved_again(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    wo = _visit(client, advisor, store_id)
    clean = post(client, f"{wo}/jobs/1/labor-lines", advisor, CLEAN)["line_id"]
    post(client, f"{wo}/lines/{clean}/authorization", advisor,
         {"decision": "declined", "channel": "phone"})
    changed = post(client, f"{wo}/lines/{clean}/authorization", advisor,
                   {**PHONE, "note": "customer wants it after all"})
    doc = get(client, wo, advisor, wait_for=changed["notification_id"])
    assert _line(doc, clean)["status"] == "approved"
    assert doc["totals"]["customer"]["total"] == "150.00"


def test_a_part_the_customer_no_longer_wants_lets_its_reservation_go(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor, clerk, part, wo, pads = _part_line(client, auth, store_id, 2)
    assert post(client, f"{wo}/lines/{pads}/authorization", advisor,
                PHONE)["supply"] == "reserved"
    changed = post(client, f"{wo}/lines/{pads}/authorization", advisor, {
        "decision": "declined", "channel": "phone", "note": "brings his own pads"})
    stock = get(client, f"/stock/{store_id}/{part}", clerk, wait_for=changed["notification_id"])
    assert (stock["reserved"], stock["available"]) == ("0", "4")
    # Wanted again: reserved again; once issued, the parts come back first.
    assert post(client, f"{wo}/lines/{pads}/authorization", advisor, {
        **PHONE, "note": "changed his mind again"})["supply"] == "reserved"
    post(client, f"{wo}/lines/{pads}/issue", clerk)
    issued = client.post(f"{wo}/lines/{pads}/authorization", headers=advisor, json={
        "decision": "declined", "channel": "phone", "note": "brings his own pads"})
    assert issued.status_code == 409, issued.text
    assert issued.json()["issued"] == "2", issued.text


def test_issuing_a_line_already_issued_in_full_is_a_conflict_naming_what_is_left(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor, clerk, _part, wo, pads = _part_line(client, auth, store_id, 1)
    post(client, f"{wo}/lines/{pads}/authorization", advisor, PHONE)
    first = post(client, f"{wo}/lines/{pads}/issue", clerk)
    # A second tap on "issue": the line needs nothing more (it was 422 "issued quantity must
    # be positive", naming no field), and nothing is stored.
    second = client.post(f"{wo}/lines/{pads}/issue", headers=clerk, json={})
    assert second.status_code == 409, second.text
    assert second.json()["outstanding"] == "0", second.text
    assert "fully issued" in second.json()["detail"]
    assert get(client, wo, clerk, wait_for=first["notification_id"])["version"] == \
        first["version"]


def _load(client: TestClient, headers: dict[str, str], store_id: str, tech: str,
          wait_for: int) -> str:
    board = get(client, "/dispatch/board", headers, store_id=store_id, wait_for=wait_for)
    return str(next(t for t in board["technicians"]
                    if t["user_id"] == tech)["open_load_hours"])


def test_a_labor_line_declined_after_dispatch_leaves_the_technicians_open_load(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech = "tech-" + store_id
    on_roster(client, manager, store_id, tech)
    wo = _visit(client, advisor, store_id)
    pads = post(client, f"{wo}/jobs/1/labor-lines", advisor, PADS)["line_id"]
    clean = post(client, f"{wo}/jobs/1/labor-lines", advisor, CLEAN)["line_id"]
    for line in (pads, clean):
        post(client, f"{wo}/lines/{line}/authorization", advisor, PHONE)
    dispatched = post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": tech})
    assert Decimal(_load(client, manager, store_id, tech,
                         dispatched["notification_id"])) == Decimal("2.0")
    # A line still waiting for the customer's word is not the technician's work yet.
    extra = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        **CLEAN, "op_code": "BRK-FLUID", "hours": "1.0"})
    assert Decimal(_load(client, manager, store_id, tech,
                         extra["notification_id"])) == Decimal("2.0")

    # She calls back: no caliper cleaning. The technician has the pads' 1.5 h left to do.
    changed = post(client, f"{wo}/lines/{clean}/authorization", advisor, {
        "decision": "declined", "channel": "phone", "note": "customer called: no cleaning"})
    assert Decimal(_load(client, manager, store_id, tech,
                         changed["notification_id"])) == Decimal("1.5")
    # And wanted after all: back on the technician's load.
    again = post(client, f"{wo}/lines/{clean}/authorization", advisor,
                 {**PHONE, "note": "customer wants it after all"})
    assert Decimal(_load(client, manager, store_id, tech,
                         again["notification_id"])) == Decimal("2.0")


def _part_line(client: TestClient, auth: Auth, store_id: str,
               qty: int) -> tuple[dict[str, str], dict[str, str], str, str, str]:
    """An advisor and a parts clerk of the store, a part with 4 in stock, and a visit with a
    pending line of `qty` of it: (advisor, clerk, part number, work order path, line id)."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    part = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{part}/receipts", clerk, {
        "qty": 4, "unit_cost": "300.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-1"}, 201)
    wo = _visit(client, advisor, store_id)
    line = post(client, f"{wo}/jobs/1/part-lines", advisor,
                {"part_number": part, "qty": qty})["line_id"]
    return advisor, clerk, part, wo, line


def test_a_job_the_customer_declined_after_dispatch_cannot_be_clocked_on(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Every line of a dispatched job declined on the phone: the technician is not to start it
    (hours clocked on work no one will pay for); wanted again, it can be started."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech_id = "tech-" + store_id
    tech = auth("technician", tech_id, [store_id])
    on_roster(client, manager, store_id, tech_id)
    wo = _visit(client, advisor, store_id)
    pads = post(client, f"{wo}/jobs/1/labor-lines", advisor, PADS)["line_id"]
    post(client, f"{wo}/lines/{pads}/authorization", advisor, PHONE)
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": tech_id})
    post(client, f"{wo}/lines/{pads}/authorization", advisor, {
        "decision": "declined", "channel": "phone", "note": "customer called: not today"})

    refused = client.post(f"{wo}/jobs/1/clock-on", headers=tech)
    assert refused.status_code == 409, refused.text
    assert "no approved work" in refused.json()["detail"]

    post(client, f"{wo}/lines/{pads}/authorization", advisor,
         {**PHONE, "note": "customer called back: do it"})
    started = post(client, f"{wo}/jobs/1/clock-on", tech)
    doc = get(client, wo, advisor, wait_for=started["notification_id"])
    assert doc["jobs"][0]["status"] == "in_repair"
