"""A technician and an appointment as they stood at a moment (`?as_of=`): the skills and
levels a technician held on the day of a warranty job, on the roster or not, the shifts then;
a booking's day and status before it was moved and cancelled. Each: a change after the moment
is not in the answer as of it and is in the current read; the replay now is the current
read; before it existed 404; a bad `as_of` 422; the future refused; another store's 404."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.as_of_support import checked_as_of, last_moment
from tests.e2e.desk_clock import today
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.e2e.test_technician_shift_window import shift


def _stranger(client: TestClient, auth: Auth, url: str, store_id: str) -> None:
    stranger = auth("auditor", "aud-x", [store_id + "X"])
    assert client.get(url, headers=stranger, params={
        "as_of": datetime.now(UTC).isoformat()}).status_code == 404


def test_a_technician_as_of_a_warranty_job_has_the_levels_then(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    user = f"tech-{store_id}"
    post(client, f"/technicians/{user}/profile", manager, {
        "store_id": store_id, "skills": {"engine": 1}, "hourly_cost": "85.00",
        "name": "李师傅"})
    post(client, f"/technicians/{user}/shifts", manager, {"shifts": [shift(today())]})
    url = f"/technicians/{user}"
    first = datetime.fromisoformat(get(client, f"{url}/history", auditor)["items"][0]
                                   ["actor"]["at"])
    then = last_moment(client, url, auditor)

    def change() -> None:
        post(client, f"{url}/profile", manager, {
            "store_id": store_id, "skills": {"engine": 3, "electrical": 2},
            "hourly_cost": "95.00", "reason": "passed the OEM's level 3 course"})
        post(client, f"{url}/shifts/cancellation", manager, {
            "day": today().isoformat(), "reason": "sick"})
        post(client, f"{url}/roster-exit", manager, {"reason": "moved to the body shop"})

    def before(doc: dict[str, Any]) -> None:
        assert doc["skills"] == {"engine": 1} and doc["on_roster"] is True, doc
        assert list(doc["shifts"]) == [today().isoformat()] and doc["name"] == "李师傅"

    def after(doc: dict[str, Any]) -> None:
        assert doc["skills"] == {"engine": 3, "electrical": 2}, doc
        assert doc["on_roster"] is False and doc["shifts"] == {}, doc

    old, now = checked_as_of(client, url, auditor, first=first, then=then, change=change,
                             before=before, after=after)
    assert old["hourly_cost"] != now["hourly_cost"]
    assert (old["from_day"], old["to_day"]) == (now["from_day"], now["to_day"])
    _stranger(client, auth, url, store_id)


def test_an_appointment_as_of_a_moment_before_it_was_moved_and_cancelled(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    day, later = (today() + timedelta(days=n) for n in (1, 2))
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": day.isoformat(), "to_day": later.isoformat(),
        "opens": "08:00", "closes": "18:00", "bays": 4, "skill_hours": {"chassis": 16}})
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "赵敏",
                                                    "phones": ["13900000004"]}, 201)["id"]
    booked = post(client, "/appointments", advisor, {
        "store_id": store_id, "customer_id": customer, "day": day.isoformat(),
        "vehicle": {"vin": make_vin(random.Random(store_id))}, "arrival": "09:00",
        "services": [{"description": "brake noise", "skill": "chassis", "hours": "1"}]}, 201)
    url = f"/appointments/{booked['id']}"
    first = last_moment(client, url, auditor)

    def change() -> None:
        post(client, f"{url}/reschedule", advisor, {"day": later.isoformat(),
                                                    "arrival": "10:00",
                                                    "reason": "customer asked"})
        post(client, f"{url}/cancel", advisor, {"reason": "sold the car"})

    def before(doc: dict[str, Any]) -> None:
        assert (doc["day"], doc["arrival"], doc["status"]) == (
            day.isoformat(), "09:00", "booked"), doc
        assert len(doc["history"]) == 1 and doc["version"] == 1

    def after(doc: dict[str, Any]) -> None:
        assert (doc["day"], doc["arrival"], doc["status"]) == (
            later.isoformat(), "10:00", "cancelled"), doc

    old, _ = checked_as_of(client, url, auditor, first=first, then=first, change=change,
                           before=before, after=after)
    assert old["customer_id"] == customer
    named = get(client, url, auditor, as_of=first.isoformat(), wait_for=head(client))
    assert named["customer_name"] == "赵敏" and named["customer_phones"] == ["13900000004"]
    # The auditor's read of the name is recorded, as of a moment.
    recorded = get(client, "/audit/personal-data-reads", auditor, customer_id=customer,
                   wait_for=head(client))["items"]
    assert "appointment as of a moment" in {r["purpose"] for r in recorded}, recorded
    # The technician's role reads the booking without the customer's name, as of then too.
    masked = get(client, url, auth("technician", stores=[store_id]), as_of=first.isoformat(),
                 wait_for=head(client))
    assert masked["customer_name"] is None and masked["status"] == "booked"
    _stranger(client, auth, url, store_id)
