"""A service department's day over HTTP, where the workshop's answers were once wrong: each
refusal is problem+json that names what is wrong and what to do, and stores nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.desk_clock import commands_at, this_morning
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.support import http_dispatched, http_open

SHANGHAI = ZoneInfo("Asia/Shanghai")


def refused(client: TestClient, url: str, headers: dict[str, str], body: Any,
            status: int) -> dict[str, Any]:
    """The refusal's problem+json, after checking that nothing was stored."""
    before = head(client)
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert head(client) == before
    return answer.json()  # type: ignore[no-any-return]


def test_diagnosis_waits_for_the_car_to_be_checked_in(client: TestClient, auth: Auth,
                                                      store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    tech = auth("technician", "tech-zhao", [store_id])
    diagnosis = {"cause": "front pads worn to 2 mm", "correction": "replace front pads",
                 "fault_codes": []}
    # The work order is open, but the car has not been received: nothing to diagnose yet.
    wo = f"/work-orders/{http_open(client, auth, store_id)['id']}"
    problem = refused(client, f"{wo}/jobs/1/diagnosis", tech, diagnosis, 409)
    assert "opened" in problem["detail"] and "check the vehicle in" in problem["detail"]

    # Once checked in, the technician's diagnosis is taken.
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 42_010, "fuel_level": 40})
    post(client, f"{wo}/jobs/1/diagnosis", tech, diagnosis)


def test_a_booking_refused_for_capacity_names_the_day_the_slot_and_what_is_free(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    manager = auth("manager", "mgr-wang", [store_id])
    today = datetime.now(SHANGHAI).date().isoformat()
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "周洁", "phones": ["13600001111"]}, 201)
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": today, "to_day": today, "opens": "08:00",
        "closes": "18:00", "bays": 1, "skill_hours": {"chassis": 3}})
    booking = {"store_id": store_id, "customer_id": customer["id"],
               "vehicle": {"vin": "LSVAU218XN2183294"}, "day": today, "arrival": "09:00",
               "services": [{"description": "brake noise", "op_code": "BRK01", "hours": "2"}]}
    with commands_at(this_morning()):  # booked before its slot
        post(client, "/appointments", advisor, booking, 201)

    # Two more chassis hours do not fit; neither does a car arriving after closing. Each
    # refusal says which day and slot, and what the day has free; none names an appointment
    # (the refused booking is never stored, so its id would point nowhere).
    for change, reason in (({"arrival": "14:00"}, "chassis needs 2.00 h, 1.00 h of 3.00 h free"),
                           ({"arrival": "18:30", "services": [{
                               "description": "wipers", "op_code": "BRK01", "hours": "0.5"}]},
                            "the workshop is open 08:00-18:00")):
        with commands_at(this_morning()):
            problem = refused(client, "/appointments", advisor, {**booking, **change}, 409)
        assert problem["detail"] == f"no room on {today} at {change['arrival']}: {reason}"
        assert (problem["day"], problem["arrival"]) == (today, change["arrival"])
        assert problem["free"] == {"chassis": "1.00"}
        assert all("appointment_id" not in p for p in problem["problems"]), problem
        assert all(p.get("day", today) == today for p in problem["problems"])
    listed = get(client, "/appointments", advisor, store_id=store_id, wait_for=head(client))
    assert len(listed["items"]) == 1


def test_a_technician_s_open_clock_names_the_job_by_its_number(client: TestClient, auth: Auth,
                                                               store_id: str) -> None:
    technician = f"tech-{store_id.lower()}"
    tech = auth("technician", technician, [store_id])
    manager = auth("manager", "mgr-wang", [store_id])
    first = http_dispatched(client, auth, store_id, technician)
    second = http_dispatched(client, auth, store_id, technician)
    post(client, f"/work-orders/{first['id']}/jobs/1/clock-on", tech)

    # The board, the technician's own record and the refusal of a second clock all say job 1.
    board = get(client, "/dispatch/board", manager, store_id=store_id, wait_for=head(client))
    mine = next(t for t in board["technicians"] if t["user_id"] == technician)
    assert mine["open_clock"]["job_no"] == 1
    assert get(client, f"/technicians/{technician}", manager)["open_clock"]["job_no"] == 1
    problem = refused(client, f"/work-orders/{second['id']}/jobs/1/clock-on", tech, {}, 409)
    assert problem["open_clock"] == {"work_order_id": first["id"], "job_no": 1}


def test_work_orders_bookings_and_the_roster_name_only_the_group_s_stores(
        group_client: TestClient, auth: Auth, group_stores: tuple[str, str]) -> None:
    here, _ = group_stores
    unknown = here + "X"  # a mistyped store
    # Tokens for every store, as a group's staff may hold: they do not make a store exist.
    advisor, manager = auth("advisor", stores=["*"]), auth("manager", stores=["*"])
    today = datetime.now(SHANGHAI).date().isoformat()
    customer = post(group_client, "/customers", advisor, {
        "store_id": here, "name": "郑凯", "phones": ["13600002222"]}, 201)
    opening = {"customer": {"name": "郑凯", "phone": "13600002222"},
               "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪A12345"},
               "mileage": 42_000, "complaints": ["brake noise"]}
    capacity = {"from_day": today, "to_day": today, "opens": "08:00", "closes": "18:00",
                "bays": 1, "skill_hours": {"chassis": 8}}
    booking = {"customer_id": customer["id"], "vehicle": {"vin": "LSVAU218XN2183294"},
               "day": today, "arrival": "09:00",
               "services": [{"description": "brake noise", "op_code": "BRK01", "hours": "1"}]}
    profile = {"skills": {}, "hourly_cost": "85.00"}
    commands = (("/work-orders", advisor, opening, 201),
                ("/appointments/capacity", manager, capacity, 200),
                ("/appointments", advisor, booking, 201),
                (f"/technicians/tech-{here.lower()}/profile", manager, profile, 200))
    for url, who, body, _ in commands:
        problem = refused(group_client, url, who, {"store_id": unknown, **body}, 422)
        assert unknown in problem["detail"], (url, problem)
        assert problem["store_id"] == unknown and problem["known_stores"] == sorted(group_stores)
    # The group's own store takes each of them.
    for url, who, body, status in commands:
        with commands_at(this_morning()):  # a booking before its slot
            post(group_client, url, who, {"store_id": here, **body}, status)
