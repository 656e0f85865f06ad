"""A booking is for a slot still to come: at 21:57 store time, today's 09:30 has passed — it
is refused (422 naming `arrival`), so no appointment is made that is a no-show the moment it
is stored; a booking moved to today for a car that came early still arrives. The rule reads
the command's own clock (the API's, here set to 21:57): a backdated command is judged at its
own time."""

from __future__ import annotations

import random
from datetime import date, timedelta

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.desk_clock import commands_at, last_passed
from tests.e2e.test_front_desk_api import head, post
from tests.e2e.test_parts_api import Auth


def _refused(client: TestClient, url: str, headers: dict[str, str], body: object) -> None:
    before = head(client)
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == "arrival"
    assert "has passed" in answer.json()["detail"]
    assert head(client) == before  # nothing stored


def test_a_slot_already_past_today_is_not_booked(
        client: TestClient, auth: Auth, store_id: str) -> None:
    late = last_passed(21, 57)  # the desk's clock: 21:57 store time (yesterday's before it)
    with commands_at(late):
        _walk(client, auth, store_id, late.date())


def _walk(client: TestClient, auth: Auth, store_id: str, today: date) -> None:
    TODAY = today
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": TODAY.isoformat(),
        "to_day": (TODAY + timedelta(days=1)).isoformat(),
        "opens": "08:00", "closes": "23:30", "bays": 2, "skill_hours": {"chassis": 8}})
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "周强",
                                                    "phones": ["13900000007"]}, 201)["id"]
    booking = {"store_id": store_id, "customer_id": customer,
               "vehicle": {"vin": make_vin(random.Random(store_id))}, "day": TODAY.isoformat(),
               "arrival": "09:30", "services": [{"description": "pads", "skill": "chassis",
                                                 "hours": "1"}]}

    # Booked at 21:57 for 09:30 today: refused, naming the arrival; nothing stored.
    _refused(client, "/appointments", advisor, booking)
    # A slot still to come tonight is booked, and is no no-show before it begins.
    booked = post(client, "/appointments", advisor, {**booking, "arrival": "22:00"}, 201)
    early = client.post(f"/appointments/{booked['id']}/no-show", headers=advisor, json={})
    assert early.status_code == 409, early.text
    # A car booked for tomorrow that came this morning is moved to today at the time it came
    # (a passed slot, for its arrival): that is how a car here on another day arrives.
    tomorrow = post(client, "/appointments", advisor,
                    {**booking, "day": (TODAY + timedelta(days=1)).isoformat()}, 201)
    post(client, f"/appointments/{tomorrow['id']}/reschedule", advisor,
         {"day": TODAY.isoformat(), "arrival": "09:30", "reason": "came a day early"})
    arrived = post(client, f"/appointments/{tomorrow['id']}/arrival", advisor,
                   {"mileage": 30_000}, 201)
    assert arrived["work_order_number"]
