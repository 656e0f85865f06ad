"""Racing for the last slot on real PostgreSQL: the day's stream version decides, exactly one
booking wins and every other desk gets a 409, whether the desks share a process or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
from fastapi.testclient import TestClient

from domain.application import CommandResult, ServiceCore
from domain.appointments import Appointments
from domain.workshop_day import CapacityExceeded, WorkshopDay
from servicecore.container import Container, eventsourcing_env
from tests.integration.support import VIN, Auth, load, request, together

SHANGHAI = ZoneInfo("Asia/Shanghai")


def tomorrow() -> str:
    return (datetime.now(SHANGHAI).date() + timedelta(days=1)).isoformat()


def one_slot_day(container: Container, store_id: str) -> UUID:
    """A day with room for exactly one two-hour chassis job; returns a customer id."""
    container.appointments.plan_capacity(
        request(store_id, "manager"), store_id=store_id, from_day=tomorrow(), to_day=tomorrow(),
        opens="08:00", closes="18:00", bays=3, skill_hours={"chassis": 2})
    return UUID(container.customers.register(request(store_id), store_id=store_id,
                                             name="陈静", phones=["13912345678"]).body["id"])


def booking(store_id: str, customer_id: UUID, arrival: str) -> dict[str, Any]:
    return {"store_id": store_id, "customer_id": customer_id, "vehicle": {"vin": VIN},
            "day": tomorrow(), "arrival": arrival,
            "services": [{"description": "brake job", "skill": "chassis", "hours": 2}]}


def test_two_processes_booking_the_last_hours_exactly_one_wins(
        container: Container, store_id: str) -> None:
    customer_id = one_slot_day(container, store_id)
    # A second application on the same database: no shared in-process locks, only the
    # event store's optimistic concurrency stands between the two desks.
    env = eventsourcing_env(container.database_url, container.settings)
    other = ServiceCore(env={**env, "POSTGRES_POOL_SIZE": "3", "POSTGRES_MAX_OVERFLOW": "3"},
                        personal_data=container.app.personal_data)
    desks = [Appointments(container.app), Appointments(other)] * 3

    def book(i: int) -> CommandResult:
        return desks[i].book(request(store_id, user=f"adv-{i}"),
                             **booking(store_id, customer_id, f"{9 + i}:00".zfill(5)))

    try:
        results = together(len(desks), book)
    finally:
        other.close()
    wins = [r for r in results if isinstance(r, CommandResult)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1 and len(losses) == len(desks) - 1
    assert all(isinstance(e, CapacityExceeded) for e in losses), losses
    day = load(container.app, WorkshopDay, WorkshopDay.create_id(store_id, tomorrow()))
    assert list(day.bookings) == [wins[0].body["id"]] and day.booked() == {"chassis": 2}


def test_concurrent_http_bookings_for_the_last_slot_one_201_the_rest_409(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    customer_id = one_slot_day(container, store_id)
    advisors = [auth("advisor", f"adv-{i}", [store_id]) for i in range(6)]

    def book(i: int) -> httpx.Response:
        body = {**booking(store_id, customer_id, "10:00"), "customer_id": str(customer_id)}
        response: httpx.Response = client.post("/appointments", json=body, headers=advisors[i])
        return response

    responses = [r for r in together(6, book) if isinstance(r, httpx.Response)]
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409, 409]
    refused = [r.json() for r in responses if r.status_code == 409]
    assert all(p["type"].endswith("illegal-transition") or "problems" in p for p in refused)
    assert {p["free"]["chassis"] for p in refused} == {"0.00"}
    # The appointments list shows one booking that day.
    listed = client.get("/appointments", headers=advisors[0], params={
        "store_id": store_id, "day": tomorrow(), "wait_for": container.app.recorder
        .max_notification_id()}).json()
    assert len(listed["items"]) == 1


def test_cancelling_frees_the_slot_for_the_next_desk(container: Container,
                                                     store_id: str) -> None:
    customer_id = one_slot_day(container, store_id)
    service = container.appointments
    first = service.book(request(store_id), **booking(store_id, customer_id, "09:00"))
    try:
        service.book(request(store_id), **booking(store_id, customer_id, "11:00"))
        raise AssertionError("overbooked")
    except CapacityExceeded:
        pass
    service.cancel(request(store_id), UUID(first.body["id"]), reason="customer travels")
    second = service.book(request(store_id, at=datetime.now(UTC)),
                          **booking(store_id, customer_id, "11:00"))
    assert second.body["free"] == {"chassis": "0.00"}
