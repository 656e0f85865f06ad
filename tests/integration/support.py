"""Helpers for the integration tests: callers, a visit driven over HTTP, threads started together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from fastapi.testclient import TestClient

from domain.application import Request, ServiceCore
from domain.common import Caller
from domain.skills import ALL_ROUND
from domain.technician import Technician
from domain.technicians import Technicians
from domain.work_orders import WorkOrders

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)
Auth = Callable[..., dict[str, str]]

VIN = "LSVAU218XN2183294"
CUSTOMER = {"name": "陈静", "phone": "13912345678"}
VEHICLE = {"vin": VIN, "plate": "沪A12345", "brand": "Volkswagen", "model": "Lavida",
           "year": 2022}
LABOR = {"op_code": "BRK-PAD", "description": "replace front pads", "hours": "1.5",
         "hourly_rate": "300.00"}


def request(store_id: str, role: str = "advisor", user: str | None = None, *,
            at: datetime | None = None, key: str | None = None,
            expected_version: int | None = None) -> Request:
    """A domain request as the API would build it, for a caller of one store."""
    caller = Caller(user or f"{role}-1", role, (store_id,), at or datetime.now(UTC),
                    str(uuid4()), key)
    return Request(caller, request_hash=None, expected_version=expected_version)


def open_order(wos: WorkOrders, store_id: str, *, at: datetime | None = None,
               customer: dict[str, str] | None = None, key: str | None = None) -> dict[str, Any]:
    """Open a work order through the domain service; returns the command's answer body."""
    result = wos.open(request(store_id, at=at, key=key), store_id=store_id,
                      customer=dict(customer or CUSTOMER), vehicle=dict(VEHICLE),
                      mileage=42_000, complaints=["brake noise at low speed"])
    return {**result.body, "notification_id": result.notification_id}


def load(app: ServiceCore, cls: type[A], aggregate_id: UUID) -> A:
    """The aggregate as stored now, checked to be of the expected class."""
    found: object = app.repository.get(aggregate_id)
    assert isinstance(found, cls)
    return found


def head(app: ServiceCore) -> int:
    """The id of the last stored event (0 for an empty log)."""
    return app.recorder.max_notification_id() or 0


def stream_ids_of(app: ServiceCore, topic: str) -> set[UUID]:
    """Every stream whose first event has the given topic (e.g. WorkOrder.Opened)."""
    found: set[UUID] = set()
    start = 1
    while notifications := app.recorder.select_notifications(start=start, limit=1000):
        found |= {UUID(str(n.originator_id)) for n in notifications if n.topic == topic}
        start = notifications[-1].id + 1
    return found


def together(count: int, work: Callable[[int], T]) -> list[T | Exception]:
    """Run `work(i)` in `count` threads released at the same instant; results in thread order."""
    barrier = threading.Barrier(count)
    results: list[T | Exception] = [RuntimeError("thread did not finish")] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def post(client: TestClient, path: str, headers: dict[str, str], body: Any = None,
         status: int = 200) -> dict[str, Any]:
    response = client.post(path, json=body if body is not None else {}, headers=headers)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def http_open(client: TestClient, auth: Auth, store_id: str,
              customer: dict[str, str] | None = None, plate: str = "沪A12345") -> dict[str, Any]:
    """The advisor opens a work order over HTTP."""
    return post(client, "/work-orders", auth("advisor", "adv-li", [store_id]), {
        "store_id": store_id, "customer": customer or CUSTOMER,
        "vehicle": {**VEHICLE, "plate": plate}, "mileage": 42_000,
        "complaints": ["brake noise at low speed"]}, status=201)


def with_profile(technicians: Technicians, request: Request, user: str, store_id: str) -> None:
    """A profile (which puts the technician on the store's roster: the desk dispatches to no
    one else), a master of every skill (qualified for any job the desk dispatches), for a
    technician who has none yet; one who has keeps theirs."""
    try:
        technicians.app.repository.get(Technician.create_id(user))
    except AggregateNotFoundError:
        technicians.set_profile(request, user, store_id=store_id, skills=ALL_ROUND,
                                hourly_cost="85.00")


def http_dispatched(client: TestClient, auth: Auth, store_id: str,
                    technician: str) -> dict[str, Any]:
    """Open, check in, price and approve a line, dispatch job 1 to `technician`; last answer."""
    advisor = auth("advisor", "adv-li", [store_id])
    opened = http_open(client, auth, store_id)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 42_010, "fuel_level": 40})
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, LABOR)
    post(client, f"{wo}/lines/{line['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "phone"})
    manager = auth("manager", "mgr-wang", [store_id])
    on_roster(client, manager, store_id, technician)
    return post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": technician})


def on_roster(client: TestClient, manager: dict[str, str], store_id: str, technician: str,
              **profile: Any) -> dict[str, Any]:
    """The technician's profile at the store, which puts them on its roster (the desk
    dispatches to no one else), a master of every skill unless `profile` says otherwise;
    again for the same technician: nothing changes."""
    return post(client, f"/technicians/{technician}/profile", manager,
                {"store_id": store_id, "skills": ALL_ROUND, "hourly_cost": "85.00",
                 "reason": "on the store's roster", **profile})  # clearing skills needs one
