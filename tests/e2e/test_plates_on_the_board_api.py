"""The workshop and the desk call a car by its plate. The dispatch board's jobs (each
technician's queue and the waiting ones) named the visit by its work-order number and
complaint only, and a booking made by VIN listed `plate: null` though the store's vehicle file
knew the car. The board's jobs now carry the car's `plate` and the `promised_at` given at
check-in; the bookings show the plate on file where the booking named none (a car known from
an earlier visit; a registered car's plate the booking took already)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.desk_clock import commands_at, this_morning
from tests.e2e.test_change_of_mind_api import PADS, PHONE
from tests.e2e.test_parts_api import get, head, on_roster, post

Auth = Callable[..., dict[str, str]]


def _visit(client: TestClient, advisor: dict[str, str], store_id: str, plate: str,
           promised_at: str | None = None) -> str:
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "陈静", "phone": "13912345678"},
        "vehicle": {"vin": make_vin(random.Random(plate + store_id)), "plate": plate},
        "mileage": 42000, "complaints": ["brake noise"]}, 201)
    post(client, f"/work-orders/{opened['id']}/check-in", advisor,
         {"mileage_in": 42010, "fuel_level": 40, "promised_at": promised_at})
    wo = f"/work-orders/{opened['id']}"
    line_id = post(client, f"{wo}/jobs/1/labor-lines", advisor, PADS)["line_id"]
    post(client, f"{wo}/lines/{line_id}/authorization", advisor, PHONE)
    return wo


def test_the_boards_jobs_name_the_car_by_its_plate_and_the_time_promised(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech = "tech-" + store_id
    on_roster(client, manager, store_id, tech)
    promised = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(hours=3)).replace(
        microsecond=0)
    dispatched = _visit(client, advisor, store_id, "沪A24680", promised.isoformat())
    post(client, f"{dispatched}/jobs/1/dispatch", advisor, {"technician_id": tech})
    _visit(client, advisor, store_id, "沪B13579")  # waits for a technician; nothing promised

    board = get(client, "/dispatch/board", auth("technician", tech, [store_id]),
                store_id=store_id, wait_for=head(client))
    mine = next(t for t in board["technicians"] if t["user_id"] == tech)
    [queued] = mine["queue"]
    assert queued["plate"] == "沪A24680"
    assert datetime.fromisoformat(queued["promised_at"]) == promised
    [waiting] = board["waiting"]
    assert (waiting["plate"], waiting["promised_at"]) == ("沪B13579", None)


def test_a_booking_by_vin_lists_the_plate_the_vehicle_file_holds(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    rng = random.Random("booked-plate-" + store_id)
    on_file, unknown = make_vin(rng), make_vin(rng)
    # The car is on file from an earlier visit (a registered one's plate the booking takes
    # from its registration already).
    customer = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "吴刚", "phone": "13755556666"},
        "vehicle": {"vin": on_file, "plate": "沪E11223"}, "mileage": 42000,
        "complaints": ["oil service"]}, 201)["customer_id"]
    assert get(client, f"/vehicles/{on_file}", advisor,
               wait_for=head(client))["plate"] == "沪E11223"
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": today, "to_day": today, "opens": "08:00",
        "closes": "18:00", "bays": 4, "skill_hours": {"maintenance": 24}})
    ids = {}
    for vin, plate, arrival in ((on_file, None, "09:00"), (unknown, None, "10:00"),
                                (on_file, "沪E99887", "11:00")):
        vehicle = {"vin": vin, **({"plate": plate} if plate else {})}
        with commands_at(this_morning()):  # booked before its slot
            ids[arrival] = post(client, "/appointments", advisor, {
                "store_id": store_id, "customer_id": customer, "vehicle": vehicle, "day": today,
                "arrival": arrival, "kind": "maintenance",
                "services": [{"description": "oil service", "skill": "maintenance",
                              "hours": 1}]}, 201)["id"]
    listed = get(client, "/appointments", advisor, store_id=store_id, day=today,
                 wait_for=head(client))["items"]
    # On file: its plate; unknown to the store: none; a plate the booking named: that one.
    assert [(b["arrival"], b["plate"]) for b in listed] == [
        ("09:00", "沪E11223"), ("10:00", None), ("11:00", "沪E99887")]
    assert get(client, f"/appointments/{ids['09:00']}", advisor)["plate"] == "沪E11223"
