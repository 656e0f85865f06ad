"""A car back for its second visit, named at the desk by its VIN alone (the advisor found it by
plate or phone and took the VIN from the lookup), or booked by its VIN: the work order
recorded it without plate, brand, model and year unless the car had been registered with
`POST /vehicles`. The work-order list, the plate filter, the dispatch board and the repair
record then showed no plate. The vehicle file knows the car from its first visit; the opening
now takes from it what the desk left out."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.desk_clock import commands_at, this_morning
from tests.e2e.test_front_desk_api import get, head, post

Auth = Callable[..., dict[str, str]]
FIRST_VISIT = {"plate": "沪C24680", "brand": "Volkswagen", "model": "Passat", "year": 2021}


def _opening(store_id: str, vehicle: dict[str, object], **more: object) -> dict[str, object]:
    return {"store_id": store_id, "customer": {"name": "孙丽", "phone": "13700001111"},
            "vehicle": vehicle, "mileage": 40_000, "complaints": ["oil service"], **more}


def test_a_car_named_by_its_vin_alone_keeps_the_plate_of_its_earlier_visit(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    vin = make_vin(random.Random("reception-" + store_id))
    # First visit: a walk-in, the car described in full (never registered on its own).
    first = post(client, "/work-orders", advisor,
                 _opening(store_id, {"vin": vin, **FIRST_VISIT}), 201)
    # Back a month later: the desk finds the car by its plate and opens by the VIN.
    found = get(client, "/vehicles", advisor, q=FIRST_VISIT["plate"], wait_for=head(client))
    assert [v["vin"] for v in found["items"]] == [vin]
    second = post(client, "/work-orders", advisor,
                  _opening(store_id, {"vin": vin}, customer_id=first["customer_id"]), 201)
    doc = get(client, f"/work-orders/{second['id']}", advisor, wait_for=head(client))
    assert {key: doc["vehicle"][key] for key in FIRST_VISIT} == FIRST_VISIT
    # The list shows it, and the plate filter finds both visits.
    by_plate = get(client, "/work-orders", advisor, plate=FIRST_VISIT["plate"])
    assert {w["id"] for w in by_plate["items"]} == {first["id"], second["id"]}
    assert {w["plate"] for w in by_plate["items"]} == {FIRST_VISIT["plate"]}
    # What the desk gives wins over the file: a new plate, and a model corrected.
    third = post(client, "/work-orders", advisor, _opening(
        store_id, {"vin": vin, "plate": "沪D13579", "model": "Passat GP"},
        customer_id=first["customer_id"]), 201)
    doc = get(client, f"/work-orders/{third['id']}", advisor, wait_for=head(client))
    assert (doc["vehicle"]["plate"], doc["vehicle"]["model"], doc["vehicle"]["brand"],
            doc["vehicle"]["year"]) == ("沪D13579", "Passat GP", "Volkswagen", 2021)


def test_a_car_booked_by_its_vin_arrives_with_the_plate_on_file(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    vin = make_vin(random.Random("booked-" + store_id))
    first = post(client, "/work-orders", advisor,
                 _opening(store_id, {"vin": vin, **FIRST_VISIT}), 201)
    assert get(client, f"/vehicles/{vin}", advisor, wait_for=head(client))["plate"] == (
        FIRST_VISIT["plate"])
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": today, "to_day": today, "opens": "00:00",
        "closes": "23:30", "bays": 4, "skill_hours": {"maintenance": 24}})
    with commands_at(this_morning()):  # booked before its slot
        booked = post(client, "/appointments", advisor, {
            "store_id": store_id, "customer_id": first["customer_id"], "vehicle": {"vin": vin},
            "day": today, "arrival": "09:00", "kind": "maintenance",
            "services": [{"description": "oil service", "skill": "maintenance", "hours": 1}]}, 201)
    arrived = post(client, f"/appointments/{booked['id']}/arrival", advisor,
                   {"mileage": 45_000}, 201)
    doc = get(client, f"/work-orders/{arrived['work_order_id']}", advisor,
              wait_for=head(client))
    assert {key: doc["vehicle"][key] for key in FIRST_VISIT} == FIRST_VISIT


def test_a_car_on_file_in_another_store_only_is_not_filled_from_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The file of a store the token does not name proposes nothing."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    vin = make_vin(random.Random("elsewhere-" + store_id))
    elsewhere = store_id + "X"
    other = auth("advisor", "adv-x", [elsewhere])
    post(client, "/work-orders", other, _opening(elsewhere, {"vin": vin, **FIRST_VISIT}), 201)
    assert get(client, f"/vehicles/{vin}", other, wait_for=head(client))["plate"] == (
        FIRST_VISIT["plate"])
    here = post(client, "/work-orders", advisor, _opening(store_id, {"vin": vin}), 201)
    doc = get(client, f"/work-orders/{here['id']}", advisor, wait_for=head(client))
    assert [doc["vehicle"][key] for key in FIRST_VISIT] == [None] * 4
