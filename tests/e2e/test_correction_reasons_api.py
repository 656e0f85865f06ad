"""Corrections an auditor asks "why?" about need a reason: a customer's personal details
replaced, a part's master data changed (its fitment is what a warranty claim's part is checked
against), a technician's hourly cost changed (the labor cost behind the margin KPIs), a day's
attendance recorded again differently (the hours available behind productivity). Missing,
blank or shorter than 3 characters is 422 problem+json naming the field and nothing is
stored; the reason given is what the stream's history shows, with who gave it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_api_contract import problem
from tests.e2e.test_parts_api import get, new_part, post

Auth = Callable[..., dict[str, str]]
BLANKS = (None, "", "   ", "\u3000\u3000", " ab ")


def _refused_each_way(client: TestClient, url: str, who: dict[str, str], body: dict[str, Any],
                      field: str, history: str, auditor: dict[str, str]) -> None:
    """`body` without a usable `field` is refused, naming it, and adds nothing to `history`."""
    before = get(client, history, auditor)["total"]
    for blank in BLANKS:
        sent = {**body, **({} if blank is None else {field: blank})}
        refused = problem(client.post(url, headers=who, json=sent), 422, "invalid-input")
        assert refused["field"] == field, refused
    assert get(client, history, auditor)["total"] == before


def test_a_customers_details_change_only_with_a_reason(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "王芳", "phones": ["13700002222"]}, 201)["id"]
    url, history = f"/customers/{customer}", f"/customers/{customer}/history"
    _refused_each_way(client, f"{url}/details", advisor, {"phones": ["13700003333"]}, "reason",
                      history, auditor)

    post(client, f"{url}/details", advisor, {"phones": ["13700003333"],
                                             "reason": " new mobile number, told at the desk "})
    last = get(client, history, auditor)["items"][-1]
    assert (last["event"], last["reason"]) == ("Customer.DetailsChanged",
                                               "new mobile number, told at the desk")
    assert (last["actor"]["user_id"], last["actor"]["role"]) == ("adv-" + store_id, "advisor")
    # The reason may name the details: it is shredded with them on erasure.
    manager = auth("manager", "mgr-" + store_id, [store_id])
    post(client, f"{url}/erasure", manager, {"reason": "PIPL request"})
    last = [i for i in get(client, history, auditor)["items"]
            if i["event"] == "Customer.DetailsChanged"][-1]
    assert last["reason"] == "[erased]"


def test_a_technicians_hourly_cost_changes_only_with_a_reason(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    tech = "tech-cost-" + store_id
    url, history = f"/technicians/{tech}", f"/technicians/{tech}/history"
    profile = {"store_id": store_id, "skills": {}, "hourly_cost": "85.00"}
    # The first hourly cost is no change of one held: no reason.
    post(client, f"{url}/profile", manager, profile)
    _refused_each_way(client, f"{url}/profile", manager, {**profile, "hourly_cost": "95.00"},
                      "reason", history, auditor)
    post(client, f"{url}/profile", manager, {**profile, "hourly_cost": "95.00",
                                             "reason": "annual pay review"})
    last = get(client, history, auditor)["items"][-1]
    assert (last["event"], last["reason"]) == ("Technician.HourlyCostSet", "annual pay review")
    assert last["changes"]["hourly_cost"] == "95.00"


def test_a_days_recorded_attendance_changes_only_with_a_note(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    tech = "tech-day-" + store_id
    url, history = f"/technicians/{tech}", f"/technicians/{tech}/history"
    post(client, f"{url}/profile", manager,
         {"store_id": store_id, "skills": {}, "hourly_cost": "85.00"})
    # The first record of a day needs no note, nor the same record again; another one does.
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    post(client, f"{url}/shifts", manager, {"shifts": [
        {"day": day, "start": "08:30", "end": "17:30", "break_minutes": 60}]})
    post(client, f"{url}/attendance", manager, {"day": day, "status": "present"})
    post(client, f"{url}/attendance", manager, {"day": day, "status": "present"})  # the same
    _refused_each_way(client, f"{url}/attendance", manager,
                      {"day": day, "status": "partial", "hours": "4"}, "note", history, auditor)
    done = post(client, f"{url}/attendance", manager, {
        "day": day, "status": "partial", "hours": "4", "note": "left at noon, sick"})
    assert done["available_hours"] == "4.00"
    last = get(client, history, auditor)["items"][-1]
    assert (last["event"], last["reason"]) == ("Technician.AttendanceRecorded",
                                               "left at noon, sick")


def test_a_parts_master_data_changes_only_with_a_reason(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    number = new_part(client, clerk)
    url, history = f"/parts/{number}", f"/parts/{number}/history"
    change = {"fitment": {"brands": ["Volkswagen"], "models": ["Lavida", "Sagitar"]}}
    _refused_each_way(client, f"{url}/details", clerk, change, "reason", history, auditor)
    post(client, f"{url}/details", clerk, {**change, "reason": "OEM bulletin 2027-04: Sagitar"})
    last = get(client, history, auditor)["items"][-1]
    assert (last["event"], last["reason"]) == ("Part.DetailsChanged",
                                               "OEM bulletin 2027-04: Sagitar")
    assert last["changes"]["changes"]["fitment"]["models"] == ["Lavida", "Sagitar"]
