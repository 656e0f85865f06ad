"""The front desk's refusals name the input at fault (`field` of the 422 problem) as the client
sent it: a body field by its path (`vehicle.vin`, `services[0].description`, `phones[1]`), a
path parameter by its name (`vin`). Nothing is stored for any of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.desk_clock import today
from tests.e2e.scope_dataset import event_count
from tests.e2e.test_front_desk_api import car, post

Auth = Callable[..., dict[str, str]]
BAD_VIN = "LSVAU2180N2183294"  # its 9th character, the check digit, is not the one it needs
BAD_PLATE = "XYZ"


@dataclass(frozen=True)
class Desk:
    """What the requests of a case name: the store, a customer on file, a car, tomorrow."""

    store_id: str
    customer_id: str
    vin: str
    plate: str
    tomorrow: str


Case = Callable[[Desk], tuple[str, dict[str, Any]]]


def opening(desk: Desk, **changed: Any) -> tuple[str, dict[str, Any]]:
    return "/work-orders", {
        "store_id": desk.store_id, "customer": {"name": "陈静", "phone": "13912345678"},
        "vehicle": {"vin": desk.vin, "plate": desk.plate}, "mileage": 42_000,
        "complaints": ["brake noise"], **changed}


def booking(desk: Desk, **changed: Any) -> tuple[str, dict[str, Any]]:
    return "/appointments", {
        "store_id": desk.store_id, "customer_id": desk.customer_id,
        "vehicle": {"vin": desk.vin}, "day": desk.tomorrow, "arrival": "10:00",
        "services": [{"description": "10,000 km service", "skill": "maintenance",
                      "hours": "1"}], **changed}


def capacity(desk: Desk, **changed: Any) -> tuple[str, dict[str, Any]]:
    return "/appointments/capacity", {
        "store_id": desk.store_id, "from_day": desk.tomorrow, "to_day": desk.tomorrow,
        "opens": "08:00", "closes": "18:00", "bays": 2, "skill_hours": {"maintenance": 8},
        **changed}


def other_weekday(day: str) -> int:
    """A weekday (1 Monday … 7 Sunday) that `day` is not."""
    return date.fromisoformat(day).isoweekday() % 7 + 1


def online(desk: Desk, **changed: Any) -> tuple[str, dict[str, Any]]:
    return "/online-bookings", {
        "store_id": desk.store_id, "name": "王芳", "phone": "13700001111",
        "day": desk.tomorrow, "arrival": "10:00",
        "services": [{"description": "oil change"}], **changed}


def registration(desk: Desk, **changed: Any) -> tuple[str, dict[str, Any]]:
    return "/vehicles", {"store_id": desk.store_id, "vin": desk.vin, **changed}


def customer(desk: Desk, **changed: Any) -> tuple[str, dict[str, Any]]:
    return "/customers", {"store_id": desk.store_id, "name": "王芳",
                          "phones": ["13800138000"], **changed}


CASES: list[Any] = [
    # opening a work order
    pytest.param("advisor", lambda d: opening(d, vehicle={"vin": BAD_VIN}), "vehicle.vin",
                 id="open-vin"),
    pytest.param("advisor", lambda d: opening(d, vehicle={"vin": d.vin, "plate": BAD_PLATE}),
                 "vehicle.plate", id="open-plate"),
    pytest.param("advisor", lambda d: opening(d, complaints=["  "]), "complaints",
                 id="open-complaints"),
    pytest.param("advisor", lambda d: opening(d, customer={"name": "陈静", "phone": " "}),
                 "customer.phone", id="open-phone"),
    pytest.param("advisor", lambda d: opening(d, customer={"phone": "13912345678"}),
                 "customer.name", id="open-name"),
    # booking an appointment, planning capacity
    pytest.param("advisor", lambda d: booking(d, vehicle={"vin": BAD_VIN}), "vehicle.vin",
                 id="book-vin"),
    pytest.param("advisor", lambda d: booking(d, vehicle={"vin": d.vin, "plate": BAD_PLATE}),
                 "vehicle.plate", id="book-plate"),
    pytest.param("advisor", lambda d: booking(d, services=[
        {"description": "  ", "skill": "maintenance", "hours": "1"}]),
                 "services[0].description", id="book-description"),
    pytest.param("manager", lambda d: capacity(d, weekdays=[other_weekday(d.tomorrow)]),
                 "weekdays", id="capacity-weekdays"),
    pytest.param("manager", lambda d: capacity(d, opens="09:00", closes="08:00"), "closes",
                 id="capacity-closes"),
    pytest.param("manager", lambda d: capacity(d, opens="08:15"), "opens",
                 id="capacity-opens"),
    # online booking requests
    pytest.param("booking_channel", lambda d: online(d, vin=BAD_VIN), "vin", id="online-vin"),
    pytest.param("booking_channel", lambda d: online(d, plate=BAD_PLATE), "plate",
                 id="online-plate"),
    # vehicles and their reminders
    pytest.param("advisor", lambda d: registration(d, vin=BAD_VIN), "vin", id="vehicle-vin"),
    pytest.param("advisor", lambda d: registration(d, plate=BAD_PLATE), "plate",
                 id="vehicle-plate"),
    pytest.param("advisor", lambda d: registration(d, year=int(d.tomorrow[:4]) + 2), "year",
                 id="vehicle-year"),
    pytest.param("advisor", lambda d: registration(d, sale_date=d.tomorrow), "sale_date",
                 id="vehicle-sale-date"),
    pytest.param("advisor", lambda d: (f"/vehicles/{BAD_VIN}/details", {"brand": "VW"}), "vin",
                 id="vehicle-path-vin"),
    pytest.param("advisor", lambda d: (f"/vehicles/{d.vin}/plate", {"plate": BAD_PLATE}),
                 "plate", id="vehicle-new-plate"),
    pytest.param("advisor", lambda d: ("/reminders", {
        "vin": BAD_VIN, "store_id": d.store_id, "due_on": d.tomorrow, "outcome": "reminded"}),
                 "vin", id="reminder-vin"),
    pytest.param("manager", lambda d: ("/reminders/plans", {
        "brand": " ", "model": "Lavida", "months": 12, "km": 10_000}), "brand",
                 id="plan-brand"),
    # customers
    pytest.param("advisor", lambda d: customer(d, phones=["13800138000", "no phone"]),
                 "phones[1]", id="customer-phone"),
    pytest.param("advisor", lambda d: customer(d, name=" "), "name", id="customer-name"),
    pytest.param("advisor", lambda d: customer(d, tags=["vip"]), "tags[0]",
                 id="customer-tag"),
    pytest.param("advisor", lambda d: (f"/customers/{d.customer_id}/details",
                                       {"name": " ", "reason": "typed at the desk"}), "name",
                 id="customer-new-name"),
    pytest.param("advisor", lambda d: (f"/customers/{d.customer_id}/tags", {"tag": "fleet"}),
                 "tag", id="customer-new-tag"),
]


@pytest.mark.parametrize(("role", "case", "field"), CASES)
def test_a_front_desk_refusal_names_the_input_and_stores_nothing(
        client: TestClient, auth: Auth, container: Container, store_id: str, role: str,
        case: Case, field: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    registered = post(client, "/customers", manager,
                      {"store_id": store_id, "name": "李雷", "phones": ["13900001111"]}, 201)
    vin, plate = car(store_id)
    desk = Desk(store_id, registered["id"], vin, plate,
                (today() + timedelta(days=1)).isoformat())
    path, body = case(desk)
    before = event_count(container)
    refused = client.post(path, json=body, headers=auth(role, f"{role}-{store_id}", [store_id]))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json().get("field") == field, refused.text
    assert event_count(container) == before  # nothing stored
