"""The workshop's labor hours in the appointments' answers (capacity, booked and free per skill:
the booking's and the rescheduling's answer, the 409 of a day without room, the availability)
have one form, as the technicians' hours do: strings with two decimals. They came as "24",
"14.5" and "23.0" in one answer, as each was planned, booked or subtracted."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_front_desk_api import get, head, post

Auth = Callable[..., dict[str, str]]
HOURS = re.compile(r"^[0-9]+\.[0-9]{2}$")


def _hour_figures(answer: Any) -> Iterator[str]:
    """Every capacity, booked and free figure of an answer, wherever it is nested."""
    if isinstance(answer, list):
        for item in answer:
            yield from _hour_figures(item)
    elif isinstance(answer, dict):
        for key, value in answer.items():
            if key == "free" and isinstance(value, dict):
                yield from (str(v) for v in value.values())
            elif key in ("capacity", "booked", "free"):
                yield str(value)
            else:
                yield from _hour_figures(value)


def _one_form(answer: Any) -> list[str]:
    figures = list(_hour_figures(answer))
    assert figures, answer
    assert [f for f in figures if not HOURS.match(f)] == [], answer
    return figures


def test_the_workshops_hours_have_one_form_in_every_answer(client: TestClient, auth: Auth,
                                                           store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    # tomorrow and the day after: a slot of today may have passed already
    tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    days = [tomorrow.isoformat(), (tomorrow + timedelta(days=1)).isoformat()]
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": days[0], "to_day": days[1], "opens": "08:00",
        "closes": "18:00", "bays": 4, "skill_hours": {"chassis": 24, "engine": "8.5"}})
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "赵敏",
                                                    "phones": ["13900000003"]}, 201)["id"]
    booking = {"store_id": store_id, "customer_id": customer,
               "vehicle": {"vin": make_vin(random.Random(store_id))}, "day": days[0],
               "arrival": "09:00", "services": [{"description": "pads", "skill": "chassis",
                                                 "hours": "1.5"}]}

    # A booking's answer: what is left of each skill that day.
    booked = post(client, "/appointments", advisor, booking, 201)
    assert booked["free"] == {"chassis": "22.50", "engine": "8.50"}
    # A second car wanting 23 chassis hours: 409, its figures in the same form.
    refused = client.post("/appointments", headers=advisor, json={
        **booking, "services": [{"description": "rebuild", "skill": "chassis", "hours": 23}]})
    assert refused.status_code == 409, refused.text
    _one_form(refused.json())
    [problem] = refused.json()["problems"]
    assert (problem["capacity"], problem["booked"]) == ("24.00", "24.50")
    assert "22.50 h of 24.00 h free" in refused.json()["detail"]
    # Moved to the next day: the first day's answer of what is left.
    moved = post(client, f"/appointments/{booked['id']}/reschedule", advisor,
                 {"day": days[1], "arrival": "10:00"})
    assert moved["free"] == {"chassis": "22.50", "engine": "8.50"}
    # The availability: capacity, booked and free per skill and day.
    found = get(client, "/appointments/availability", advisor, store_id=store_id,
                from_day=days[0], to_day=days[1], wait_for=head(client))["items"]
    _one_form(found)
    assert [day["skills"]["chassis"] for day in found] == [
        {"capacity": "24.00", "booked": "0.00", "free": "24.00"},
        {"capacity": "24.00", "booked": "1.50", "free": "22.50"}]
