"""A whole service visit over HTTP, each step with the token of the person who does it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

VIN = "LSVAU218XN2183294"
Auth = Callable[..., dict[str, str]]


def post(client: TestClient, path: str, headers: dict[str, str], body: Any = None,
         status: int = 200) -> dict[str, Any]:
    response = client.post(path, json=body if body is not None else {}, headers=headers)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def test_visit_from_opening_to_ready_for_settlement(client: TestClient, auth: Auth,
                                                    store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    manager = auth("manager", "mgr-wang", [store_id])
    tech = auth("technician", "tech-zhao", [store_id])
    clerk = auth("parts_clerk", "clerk-zhou", [store_id])

    # The store stocks the pads: in the part master (shared by the group) and on the shelf.
    registered = client.post("/parts", headers=clerk, json={
        "part_number": "5Q0698151", "name": "front brake pads", "unit": "set",
        "category": "brake", "list_price": "560.00"})
    assert registered.status_code in (201, 409), registered.text
    post(client, f"/stock/{store_id}/5Q0698151/receipts", clerk, {
        "qty": 4, "unit_cost": "300.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-88"},
        status=201)

    # The customer walks in with a brake noise; the advisor opens the work order.
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "陈静", "phone": "13912345678"},
        "vehicle": {"vin": VIN, "plate": "沪A12345", "brand": "Volkswagen", "model": "Lavida",
                    "year": 2022},
        "mileage": 42_000, "complaints": ["brake noise at low speed"]}, status=201)
    wo = f"/work-orders/{opened['id']}"
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    assert opened["number"] == f"WO-{store_id}-{year}-000001"

    # A mistyped odometer below the opening's is refused naming the field and the reading.
    typo = client.post(f"{wo}/check-in", headers=advisor, json={"mileage_in": 4_201, "fuel_level": 40})
    assert typo.status_code == 422, typo.text
    assert (typo.json()["field"], typo.json()["recorded"]) == ("mileage_in", 42_000), typo.text
    # Check-in: mileage, fuel, damage and belongings.
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 42_010, "fuel_level": 40,
                                             "damage_notes": "scratch rear bumper"})
    # The technician diagnoses; the advisor prices the job: labor and a part.
    post(client, f"{wo}/jobs/1/diagnosis", tech, {
        "cause": "front pads worn to 2 mm", "correction": "replace front pads",
        "fault_codes": ["c1234"]})
    labor = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK-PAD", "description": "replace front pads", "hours": "1.5",
        "hourly_rate": "300.00"})
    part = post(client, f"{wo}/jobs/1/part-lines", advisor, {
        "part_number": "5Q0698151", "description": "front brake pads", "qty": 1,
        "unit_price": "560.00"})
    extra = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "CLEAN", "description": "clean brake calipers", "hours": "0.5",
        "hourly_rate": "300.00"})
    # The customer approves pads and labor by phone and declines the cleaning.
    for line in (labor["line_id"], part["line_id"]):
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "phone"})
    post(client, f"{wo}/lines/{extra['line_id']}/authorization", advisor,
         {"decision": "declined", "channel": "phone", "note": "next visit"})
    # The manager dispatches to Zhao (on the store's roster since his profile was set); the
    # technician clocks on and off and completes the job.
    post(client, "/technicians/tech-zhao/profile", manager,
         {"store_id": store_id, "skills": {"chassis": 3}, "hourly_cost": "85.00"})
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": "tech-zhao"})
    # The parts clerk issues the reserved pads to the job.
    issued = post(client, f"{wo}/lines/{part['line_id']}/issue", clerk, {})
    assert issued["issued_qty"] == "1" and issued["cost"] == "300.00"
    post(client, f"{wo}/jobs/1/clock-on", tech)
    post(client, f"{wo}/jobs/1/clock-off", tech)
    post(client, f"{wo}/jobs/1/complete", tech)
    # QC passes: the work order is ready for settlement.
    last = post(client, f"{wo}/jobs/1/quality-check", manager, {"passed": True})
    assert last["status"] == "ready_for_settlement"

    # The read model follows: ask it to wait for our last write.
    detail = client.get(f"{wo}?wait_for={last['notification_id']}", headers=advisor)
    assert detail.status_code == 200
    doc = detail.json()
    assert doc["status"] == "ready_for_settlement"
    assert detail.headers["ETag"] == f'"{last["version"]}"'
    assert doc["customer"]["name"] == "陈静"
    # Declined cleaning never counts: 1.5 h x 300 + 560 = 1010.00, VAT inside at 13%.
    assert doc["totals"] == {"customer": {"labor": "450.00", "parts": "560.00",
                                          "vat": "116.19", "total": "1010.00"}}
    listed = client.get("/work-orders", params={"plate": "沪A12345", "status":
                                                "ready_for_settlement"}, headers=advisor).json()
    assert [item["id"] for item in listed["items"]] == [opened["id"]]

    # The auditor sees every step with who did it.
    history = client.get(f"{wo}/history",
                         headers=auth("auditor", "aud-1", [store_id])).json()["items"]
    assert [h["event"] for h in history][:2] == ["WorkOrder.Opened", "WorkOrder.CheckedIn"]
    assert history[-1]["event"] == "WorkOrder.ReadyForSettlement"
    assert {h["actor"]["user_id"] for h in history} == {"adv-li", "mgr-wang", "tech-zhao",
                                                       "clerk-zhou"}


def test_wrong_role_gets_403_and_no_token_401(client: TestClient, auth: Auth,
                                               store_id: str) -> None:
    body = {"store_id": store_id, "customer": {"name": "A", "phone": "1"},
            "vehicle": {"vin": VIN}, "mileage": 1, "complaints": ["x"]}
    refused = client.post("/work-orders", json=body, headers=auth("technician", "t1", [store_id]))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert client.post("/work-orders", json=body).status_code == 401
    other_store = client.post("/work-orders", json=body, headers=auth("advisor", "a", ["ZZZ"]))
    assert other_store.status_code == 403
