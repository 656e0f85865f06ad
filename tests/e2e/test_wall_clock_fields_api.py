"""A wall-clock time the form's HH:MM lets through but no clock shows (a shift that ends at
"24:00", a booking at "25:00" or "09:60"), or a booking off the half-hour slots, is 422 naming
the field, and nothing is stored: the domain refused them naming none."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.desk_clock import commands_at, this_morning
from tests.e2e.test_front_desk_api import head, post

Auth = Callable[..., dict[str, str]]


def _refused(client: TestClient, path: str, headers: dict[str, str], body: object,
             field: str) -> None:
    answer = client.post(path, headers=headers, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field, answer.text


def test_times_no_clock_shows_are_refused_naming_the_field(client: TestClient, auth: Auth,
                                                           store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    plan = {"store_id": store_id, "from_day": today, "to_day": today, "opens": "08:30",
            "closes": "17:30", "bays": 2, "skill_hours": {"chassis": 8}}
    tech = "tech-" + store_id
    post(client, f"/technicians/{tech}/profile", manager,
         {"store_id": store_id, "skills": {"chassis": 2}, "hourly_cost": "85.00"})
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "赵敏",
                                                    "phones": ["13900000003"]}, 201)["id"]
    booking = {"store_id": store_id, "customer_id": customer,
               "vehicle": {"vin": make_vin(random.Random(store_id))}, "day": today,
               "arrival": "09:00", "services": [{"description": "pads", "skill": "chassis",
                                                 "hours": 1}]}

    before = head(client)
    _refused(client, "/appointments/capacity", manager, {**plan, "opens": "24:00"}, "opens")
    _refused(client, "/appointments/capacity", manager, {**plan, "closes": "17:60"}, "closes")
    _refused(client, f"/technicians/{tech}/shifts", manager, {"shifts": [
        {"day": today, "start": "08:30", "end": "24:00", "break_minutes": 60}]}, "end")
    _refused(client, f"/technicians/{tech}/shifts", manager, {"shifts": [
        {"day": today, "start": "25:00", "end": "17:30", "break_minutes": 60}]}, "start")
    assert head(client) == before

    post(client, "/appointments/capacity", manager, plan)
    before = head(client)
    for arrival in ("25:00", "09:60", "09:10"):
        _refused(client, "/appointments", advisor, {**booking, "arrival": arrival}, "arrival")
    with commands_at(this_morning()):  # booked before its slot
        booked = post(client, "/appointments", advisor, booking, 201)
    after = head(client)
    assert after > before
    _refused(client, f"/appointments/{booked['id']}/reschedule", advisor,
             {"day": today, "arrival": "25:00"}, "arrival")
    assert head(client) == after
